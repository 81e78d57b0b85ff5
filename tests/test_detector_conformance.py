"""Every registered detector honours the contract (tested by being registered).

The checks are in :mod:`conformance` (``DETECTOR_CHECKS``): small variants (64x64 input, small
LSTM) keep the suite fast on 2 CPU cores; the architectures are otherwise the real ones.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from conformance import DETECTOR_CHECKS, check_ids
from helpers import sample_input

from harness.detectors import DETECTORS, create_detector

NAMES = DETECTORS.names()


@pytest.mark.parametrize("check", DETECTOR_CHECKS, ids=check_ids(DETECTOR_CHECKS))
@pytest.mark.parametrize("name", NAMES)
def test_detector_conforms(name: str, check: Callable[[str, Path], None], tmp_path: Path) -> None:
    check(name, tmp_path)


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
