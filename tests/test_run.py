"""Training and `harness run` end to end on the tiny embedded benchmark."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import torch

from harness import workflow
from harness.checkpoint import load_checkpoint, save_checkpoint
from harness.cli import main
from harness.config import build_config
from harness.data import DataConfig, prepare_dataset
from harness.runner import RunConfig, format_table


def _run_config(
    tiny: tuple[DataConfig, Path], tmp_path: Path, sets: Sequence[str] = (), **cli: Any
) -> RunConfig:
    """A run of the tiny cnn on the tiny benchmark, writing under ``tmp_path``."""
    data, ckpt = tiny
    base = {
        "detector": "cnn",
        "checkpoint": str(ckpt),
        "data": vars(data) | {"faces": vars(data.faces)},
        "results_dir": str(tmp_path / "results"),
        "leaderboard_dir": str(tmp_path / "lb"),
    }
    return build_config(RunConfig, cli=base | cli, sets=list(sets))


def test_checkpoint_carries_training_metadata(tiny: tuple[DataConfig, Path]) -> None:
    data, ckpt = tiny
    meta = load_checkpoint(ckpt).meta
    manifest = prepare_dataset(data, progress=False).manifest
    assert meta["split_manifest_hash"] == manifest.hash
    assert meta["dataset"] == "synthetic" and meta["epochs"] == 3
    assert 0 <= meta["val_auroc"] <= 1 and "test_auroc_clean" in meta and meta["code_version"]


def test_run_writes_results_records_and_leaderboards(tiny: tuple[DataConfig, Path], tmp_path: Path) -> None:
    data, _ = tiny
    config = _run_config(
        tiny,
        tmp_path,
        ["attack_options.eps=[1/255,8/255]", "attack_options.steps=3"],
        attack="pgd",
        n_boot=200,
    )
    results = workflow.run(config, progress=False)
    assert [r.result["budget_tag"] for r in results] == ["eps1of255", "eps8of255"]
    for r in results:
        saved = json.loads(r.path.read_text())
        m = saved["metrics"]
        for key in ("auroc_clean", "auroc_adv", "acc_clean", "linf_max", "queries", "attack_seconds"):
            assert isinstance(m[key], (int, float)), key
        assert m["linf_max"] <= r.result["budget"] + 1e-6
        assert m["queries"] == 3 * m["n_samples"]
        assert saved["split_manifest_hash"] == prepare_dataset(data, progress=False).manifest.hash
        assert len(saved["checkpoint_sha256"]) == 64 and saved["libraries"]["torch"] and saved["device"]
        assert saved["config"]["attack_options"]["steps"] == 3 and saved["split"] == "test"
        rows = list(csv.DictReader(r.path.with_suffix(".videos.csv").open()))
        assert len(rows) == m["n_videos"] and {row["label"] for row in rows} <= {"0", "1"}
    # the stronger budget is not weaker
    a, b = (r.result["metrics"]["auroc_adv"] for r in results)
    assert b <= a + 1e-9
    board = (tmp_path / "lb" / "leaderboard.md").read_text()
    assert "| cnn | synthetic |" in board and "pgd@eps8of255" in board
    assert "cnn,synthetic" in (tmp_path / "lb" / "leaderboard.csv").read_text()
    assert "AUROC clean" in format_table(results)


def test_other_datasets_need_a_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = Path(__file__).parent / "data" / "mesonet"
    rc = main(
        [
            "run",
            "--detector",
            "meso4",
            "--dataset",
            "folder",
            "--root",
            str(root),
            "--cache-dir",
            str(tmp_path),
            "-q",
        ]
    )
    assert rc == 2 and "needs --checkpoint" in capsys.readouterr().err


def test_the_published_mesonet_weights_on_their_crops(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = Path(__file__).parent / "data" / "mesonet"
    rc = main(
        [
            "run",
            "--detector",
            "meso4",
            "--checkpoint",
            "mesonet:Meso4_DF",
            "--dataset",
            "folder",
            "--root",
            str(root),
            "--cache-dir",
            str(tmp_path),
            "--set",
            "faces.detector=none",
            "--set",
            f"results_dir={tmp_path / 'r'}",
            "--set",
            f"leaderboard_dir={tmp_path / 'l'}",
            "-q",
        ]
    )
    assert rc == 0
    out = capsys.readouterr().out
    result = json.loads((tmp_path / "r" / "folder" / "meso4" / "pgd-eps4of255.json").read_text())
    assert result["split"] == "all" and result["metrics"]["n_videos"] == 4
    assert result["metrics"]["auroc_clean"] == 1.0  # the authors' weights separate their own crops
    assert result["metrics"]["auroc_adv"] < 0.5 and "meso4" in out
    assert f"leaderboard: {tmp_path / 'l'}" in out  # says where it wrote (the results line precedes it)


def test_nan_scores_are_a_clear_error_and_write_nothing(
    tiny: tuple[DataConfig, Path], tmp_path: Path
) -> None:
    from harness.detectors import create_detector

    data, ckpt = tiny
    model = create_detector("cnn", checkpoint=ckpt)
    with torch.no_grad():
        model.head[-1].bias.fill_(math.nan)
    bad = save_checkpoint(tmp_path / "nan.pt", model, meta=dict(model.checkpoint_meta))
    config = RunConfig(
        detector="cnn",
        attack="fgsm",
        checkpoint=str(bad),
        data=data,
        results_dir=str(tmp_path / "r"),
        leaderboard_dir=str(tmp_path / "l"),
    )
    with pytest.raises(FloatingPointError, match="non-finite scores"):
        workflow.run(config, progress=False)
    assert not list((tmp_path / "r").rglob("*.json")), "no result is written"


@pytest.mark.parametrize("name", __import__("harness.detectors", fromlist=["DETECTORS"]).DETECTORS.names())
def test_every_detector_has_a_valid_demo_recipe(name: str) -> None:
    from harness.detectors import create_detector
    from harness.train import demo_config, demo_recipe_path

    assert demo_recipe_path(name).is_file(), f"configs/demo/{name}.yaml is missing"
    config = demo_config(name)
    assert config.detector == name and config.epochs > 0
    create_detector(name, **config.detector_options)  # the options fit the builder


def test_saved_adversarial_crops_rescore_to_the_attacked_auroc(
    tiny: tuple[DataConfig, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--save-adversarial writes the crops exactly as scored; the folder adapter reads each video's
    sub-folder of frames as one video, so re-scoring them clean gives the attacked numbers."""
    _, ckpt = tiny
    saved = tmp_path / "adv"
    config = _run_config(
        tiny,
        tmp_path,
        ["attack_options.eps=4/255", "attack_options.steps=3"],
        attack="pgd",
        split="all",
        save_adversarial=str(saved),
        n_boot=50,
    )
    (first,) = workflow.run(config, progress=False)
    attacked = first.result["metrics"]
    n_real = len(list((saved / "real").iterdir()))
    n_fake = len(list((saved / "fake").iterdir()))
    assert (n_real, n_fake) == (attacked["n_real"], attacked["n_fake"])
    frames = sorted((saved / "fake").iterdir())[0]
    assert all(p.suffix == ".png" for p in frames.iterdir())
    rc = main(
        [
            "run",
            "--detector",
            "cnn",
            "--checkpoint",
            str(ckpt),
            "--dataset",
            "folder",
            "--root",
            str(saved),
            "--attack",
            "fgsm",
            "--cache-dir",
            str(tmp_path / "cache"),
            "--set",
            "faces.detector=none",
            "--set",
            f"results_dir={tmp_path / 'r2'}",
            "--set",
            f"leaderboard_dir={tmp_path / 'l2'}",
            "--set",
            "n_boot=50",
            "-q",
        ]
    )
    assert rc == 0, capsys.readouterr().err
    rescored = json.loads((tmp_path / "r2" / "folder" / "cnn" / "fgsm-eps4of255.json").read_text())["metrics"]
    assert rescored["n_videos"] == attacked["n_videos"]
    assert rescored["auroc_clean"] == pytest.approx(attacked["auroc_adv"], abs=0.01)
    first_scores = {
        row["video_id"].replace("/", "__"): float(row["adv_score"])
        for row in csv.DictReader(first.path.with_suffix(".videos.csv").open())
    }
    second = csv.DictReader((tmp_path / "r2" / "folder" / "cnn" / "fgsm-eps4of255.videos.csv").open())
    for row in second:
        vid = row["video_id"].split("/", 1)[1]  # real/<id> or fake/<id>
        assert float(row["clean_score"]) == pytest.approx(first_scores[vid], abs=1e-4), vid


def test_result_files_hold_no_absolute_paths(tiny: tuple[DataConfig, Path], tmp_path: Path) -> None:
    (result,) = workflow.run(_run_config(tiny, tmp_path, attack="fgsm", n_boot=20), progress=False)
    text = result.path.read_text()
    assert str(tmp_path) not in text and '"/' not in text, "no absolute path of this machine"
    saved = json.loads(text)
    assert saved["checkpoint"].startswith("$HARNESS_CACHE/") or not saved["checkpoint"].startswith("/")
    assert saved["quantized"] is True and saved["thresholds"]["n_val_real"] >= 1
    assert saved["attack_config"]["quantize"] is True
