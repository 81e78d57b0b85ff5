"""Checkpoints: safe loading, clear errors, atomic writes, metadata."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch

from harness.checkpoint import CheckpointError, load_checkpoint, save_checkpoint, sha256_file
from harness.detectors import create_detector

MARKER_NAME = "pwned.txt"


class _Exploit:
    """Unpickling this object would create a marker file (runs code at load time)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (Path.write_text, (self.marker, "code ran during unpickling"))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_malicious_pickle_is_refused_and_nothing_executes(tmp_path: Path) -> None:
    marker = tmp_path / MARKER_NAME
    evil = tmp_path / "evil.pt"
    torch.save({"format": "deepfake-harness-checkpoint", "payload": _Exploit(marker)}, evil)
    assert not marker.exists()
    with pytest.raises(CheckpointError, match="arbitrary Python objects"):
        create_detector("cnn", checkpoint=evil)
    assert not marker.exists(), "loading a checkpoint executed code"
    # A raw (non-zip) pickle file is refused the same way.
    raw = tmp_path / "evil.pkl"
    raw.write_bytes(pickle.dumps(_Exploit(marker)))
    with pytest.raises(CheckpointError):
        load_checkpoint(raw)
    assert not marker.exists()


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not found: .*nope.pt"):
        create_detector("cnn", checkpoint=tmp_path / "nope.pt")


@pytest.mark.parametrize("content", [b"", b"garbage" * 10])
def test_corrupt_or_empty_file_names_the_path(tmp_path: Path, content: bytes) -> None:
    bad = tmp_path / "bad.pt"
    bad.write_bytes(content)
    with pytest.raises(CheckpointError, match="bad.pt"):
        create_detector("cnn", checkpoint=bad)


def test_truncated_checkpoint_is_reported_as_corrupt(tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path / "cnn.pt", create_detector("cnn", input_size=32))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(path)


def test_bare_state_dict_points_to_backbone_weights(tmp_path: Path) -> None:
    path = tmp_path / "sd.pt"
    torch.save(create_detector("cnn", input_size=32).state_dict(), path)
    with pytest.raises(CheckpointError, match="backbone_weights"):
        create_detector("cnn", checkpoint=path)


def test_other_input_spec_is_refused_naming_both(tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path / "cnn.pt", create_detector("cnn", input_size=32))
    with pytest.raises(CheckpointError) as info:
        create_detector("cnn", checkpoint=path, input_size=48)
    assert "[32, 32]" in str(info.value) and "[48, 48]" in str(info.value)


def test_other_options_with_same_spec_are_refused(tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path / "cnn.pt", create_detector("cnn", input_size=32))
    with pytest.raises(CheckpointError, match="does not fit"):
        create_detector("cnn", checkpoint=path, hidden=64)


def test_checkpoint_records_spec_overrides_and_training_meta(tmp_path: Path) -> None:
    model = create_detector("cnn", input_size=32, pool="avg")
    meta = {"dataset": "synthetic", "split_manifest_hash": "abc123", "epochs": 3, "val_auroc": 0.91}
    path = save_checkpoint(tmp_path / "sub" / "cnn.pt", model, meta=meta)
    ckpt = load_checkpoint(path)
    assert ckpt.detector == "cnn"
    assert ckpt.overrides == {"input_size": 32, "pool": "avg"}
    assert ckpt.spec == model.spec.to_dict()
    assert ckpt.meta["val_auroc"] == 0.91 and ckpt.meta["split_manifest_hash"] == "abc123"
    assert ckpt.meta["code_version"]
    assert len(sha256_file(path)) == 64


def test_a_failed_save_leaves_the_previous_file_intact(tmp_path: Path) -> None:
    model = create_detector("cnn", input_size=32)
    path = save_checkpoint(tmp_path / "cnn.pt", model)
    before = path.read_bytes()
    with pytest.raises(TypeError):
        save_checkpoint(path, model, meta={"bad": object()})
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cnn.pt"]
