"""Test helpers: small detector variants so the conformance suite stays fast on 2 CPU cores."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import torch

from harness.detectors import DETECTORS

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_MESONET = REPO_ROOT.parent / "shared" / "models" / "mesonet"

# Extra options that keep heavy defaults small; everything else comes from the builder's defaults.
_SMALL_EXTRAS: dict[str, dict[str, Any]] = {
    "cnn_lstm": {"hidden_size": 32, "frames_per_clip": 3},
}
SMALL_SIZE = (64, 64)


def small_overrides(name: str) -> dict[str, Any]:
    """Options that build a fast variant of any registered detector (new ones included)."""
    params = inspect.signature(DETECTORS.get(name)).parameters
    opts: dict[str, Any] = {"input_size": SMALL_SIZE} if "input_size" in params else {}
    opts.update({k: v for k, v in _SMALL_EXTRAS.get(name, {}).items() if k in params})
    return opts


def sample_input(model: torch.nn.Module, batch: int = 2, seed: int = 0) -> torch.Tensor:
    """A [0,1] batch shaped for ``model.spec`` (clips get ``frames_per_clip`` frames)."""
    gen = torch.Generator().manual_seed(seed)
    spec = model.spec
    shape: tuple[int, ...] = (batch, 3, *spec.input_size)
    if spec.kind == "clip":
        shape = (batch, spec.frames_per_clip, 3, *spec.input_size)
    return torch.rand(shape, generator=gen)
