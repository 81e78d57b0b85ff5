"""The detector's state around an attack: eval mode and frozen parameters, the guarantee that
the attack changes nothing, and seeded (forked and restored) RNGs."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator

import numpy as np
import torch
from torch import nn

from harness.attacks._config import AttackError


def generator(seed: int, device: torch.device) -> torch.Generator:
    """A local RNG on ``device`` seeded with ``seed`` (for attacks that draw their own noise)."""
    return torch.Generator(device=device).manual_seed(seed)


@contextlib.contextmanager
def _unchanged(detector: nn.Module, name: str) -> Iterator[None]:
    """Guarantee that the block changes no parameter or buffer of ``detector``, nor its modes.

    Everything is snapshotted (a copy on the detector's device, cheap next to any attack) and
    compared bit for bit afterwards; on a difference the snapshot is restored and an
    :class:`AttackError` names what changed, so no score is ever made on a changed model.
    """
    tensors = dict(detector.named_parameters())
    tensors.update(detector.named_buffers())
    snapshot = {k: t.detach().clone() for k, t in tensors.items()}
    modes = [(m, m.training) for m in detector.modules()]
    try:
        yield
    finally:
        changed = [
            k
            for k, t in tensors.items()
            if t.shape != snapshot[k].shape or not torch.equal(t.detach(), snapshot[k])
        ]
        with torch.no_grad():
            for k in changed:
                tensors[k].data = snapshot[k]
        flipped = [m for m, training in modes if m.training != training]
    if changed:
        raise AttackError(
            f"{name} changed the detector's {', '.join(changed[:5])}"
            f"{' ...' if len(changed) > 5 else ''} (restored): an attack must never change a "
            "parameter or buffer; this batch's result is discarded"
        )
    if flipped:
        raise AttackError(f"{name} left {len(flipped)} detector submodules in another train/eval mode")


@contextlib.contextmanager
def _model_state(detector: nn.Module) -> Iterator[None]:
    """Eval mode, frozen parameters and no range check; everything restored afterwards."""
    modes = [(m, m.training) for m in detector.modules()]
    params = [(p, p.requires_grad) for p in detector.parameters()]
    range_check = getattr(detector, "range_check", None)
    try:
        detector.eval()
        for p, _ in params:
            p.requires_grad_(False)
        with range_check(False) if range_check is not None else contextlib.nullcontext():
            yield
    finally:
        for m, training in modes:
            m.training = training
        for p, flag in params:
            p.requires_grad_(flag)


@contextlib.contextmanager
def _seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Seed torch (CPU; CUDA too for CUDA input), NumPy and ``random``; restore them afterwards."""
    np_state = np.random.get_state()
    py_state = random.getstate()
    cuda = device.type == "cuda"
    devices = list(range(torch.cuda.device_count())) if cuda else []
    try:
        with torch.random.fork_rng(devices=devices):
            if cuda:
                torch.manual_seed(seed)  # CPU and every CUDA device (all forked above)
            else:
                torch.random.default_generator.manual_seed(seed)  # leaves CUDA untouched
            np.random.seed(seed)
            random.seed(seed)
            yield
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
