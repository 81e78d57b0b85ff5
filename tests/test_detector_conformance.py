"""Every registered detector honours the contract (tested by being registered).

Small variants (64x64 input, small LSTM) keep the suite fast on 2 CPU cores; the architectures
are otherwise the real ones.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from helpers import sample_input, small_overrides

from harness.checkpoint import CheckpointError, save_checkpoint
from harness.detectors import DETECTORS, create_detector
from harness.detectors._base import Detector

NAMES = DETECTORS.names()
_CACHE: dict[str, Detector] = {}


def small(name: str) -> Detector:
    if name not in _CACHE:
        torch.manual_seed(0)
        _CACHE[name] = create_detector(name, **small_overrides(name))
    return _CACHE[name].eval()


@pytest.mark.parametrize("name", NAMES)
def test_output_is_n_by_2_finite_logits(name: str) -> None:
    model = small(name)
    with torch.no_grad():
        out = model(sample_input(model, batch=3))
    assert out.shape == (3, 2)
    assert out.dtype == torch.float32
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", NAMES)
def test_gradient_reaches_the_input_in_eval_mode(name: str) -> None:
    model = small(name)
    x = sample_input(model).requires_grad_(True)
    loss = F.cross_entropy(model(x), torch.tensor([1, 0]))
    (grad,) = torch.autograd.grad(loss, x)
    assert torch.isfinite(grad).all()
    assert grad.abs().sum() > 0
    assert not model.training, "the attack path must not switch dropout/batch-norm to training"


@pytest.mark.parametrize("name", NAMES)
def test_eval_mode_is_deterministic(name: str) -> None:
    model = small(name)
    x = sample_input(model)
    with torch.no_grad():
        a, b = model(x), model(x)
    assert torch.equal(a, b)


@pytest.mark.parametrize("name", NAMES)
def test_inputs_outside_unit_range_wrong_shape_or_size_are_rejected(name: str) -> None:
    model = small(name)
    x = sample_input(model)
    with pytest.raises(ValueError, match=r"\[0,1\]"):
        model(x * 255)
    with pytest.raises(ValueError, match=r"\[0,1\]"):
        model(x - 0.5)
    nan = x.clone()
    nan.view(-1)[0] = float("nan")
    with pytest.raises(ValueError, match=r"\[0,1\]"):
        model(nan)
    with pytest.raises(ValueError, match="expects"):
        model(x[0])  # a missing batch (or time) dimension
    with pytest.raises(ValueError, match="resize"):
        model(torch.rand(*x.shape[:-2], x.shape[-2] + 8, x.shape[-1]))
    with pytest.raises(TypeError):
        model((x * 255).to(torch.uint8))
    with model.range_check(False):  # an attack that checked its input may skip the sync
        assert model(x * 1.01).shape == (x.shape[0], 2)
    assert model.check_range


@pytest.mark.parametrize("name", NAMES)
def test_save_load_round_trip_gives_identical_outputs(name: str, tmp_path: Path) -> None:
    model = small(name)
    path = save_checkpoint(tmp_path / f"{name}.pt", model, meta={"dataset": "unit-test", "epochs": 0})
    loaded = create_detector(name, checkpoint=path)
    x = sample_input(model)
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))
    assert loaded.spec == model.spec
    assert loaded.checkpoint_meta["dataset"] == "unit-test"
    assert loaded.checkpoint_meta["code_version"]
    assert [p.name for p in tmp_path.iterdir()] == [f"{name}.pt"], "no temp files left behind"


@pytest.mark.parametrize("name", NAMES)
def test_wrong_architecture_checkpoint_is_rejected(name: str, tmp_path: Path) -> None:
    other = "meso4" if name != "meso4" else "cnn"
    path = save_checkpoint(tmp_path / "other.pt", small(other))
    with pytest.raises(CheckpointError) as info:
        create_detector(name, checkpoint=path, **small_overrides(name))
    assert other in str(info.value) and name in str(info.value)


@pytest.mark.parametrize("name", NAMES)
def test_spec_is_complete(name: str) -> None:
    model = small(name)
    spec = model.spec
    assert spec.name == name
    assert spec.kind in ("frame", "clip")
    assert spec.input_size == (64, 64)
    assert len(spec.mean) == 3 and len(spec.std) == 3 and min(spec.std) > 0
    assert (spec.frames_per_clip or 0) > 0 if spec.kind == "clip" else spec.frames_per_clip is None
    assert spec.reference
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.name = "changed"  # type: ignore[misc]
    # Normalization lives inside the model as buffers, not in the state dict.
    assert torch.allclose(model.mean.flatten(), torch.tensor(spec.mean))
    assert "mean" not in model.state_dict()


def test_default_specs_without_building() -> None:
    # The published input sizes (checked on the cheap detectors; the rest are built above).
    assert create_detector("meso4").spec.input_size == (256, 256)
    assert create_detector("cnn").spec.input_size == (128, 128)


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_default_configuration_builds_and_runs(name: str) -> None:
    """The published defaults (full input size, full LSTM) work too: slow, run by `make test-all`."""
    model = create_detector(name)
    x = sample_input(model, batch=1).requires_grad_(True)
    out = model(x)
    assert out.shape == (1, 2) and torch.isfinite(out).all()
    (grad,) = torch.autograd.grad(out[:, 1].sum(), x)
    assert grad.abs().sum() > 0
