"""Thin adapter over the Adversarial Robustness Toolbox (black-box attacks).

* The detector is wrapped in ``PyTorchClassifier(loss=CrossEntropyLoss, input_shape=(C, H, W),
  nb_classes=2, clip_values=(0, 1))`` on the input's device type. ART attacks expect 4-D images;
  clips arrive flattened to ``(n, T*3, H, W)`` (see :class:`harness.attacks._base.AttackModel`),
  which ART's attacks handle as images with ``3T`` channels.
* ART moves its model with ``.to(device)`` and flips ``.train()``/``.eval()``; the detector is
  kept out of ART's module tree (:class:`_Hidden`) so ART can do neither to it (the harness base
  owns the mode; ``cuda:1`` stays ``cuda:1``).
* ART works in NumPy: each query batch goes host -> device -> host. That is ART's design.
* ART draws from NumPy's global RNG, which the harness base seeds and restores.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor, nn


class _Hidden(nn.Module):
    """Calls ``model`` without registering it as a submodule (ART cannot move or re-mode it)."""

    def __init__(self, model: nn.Module, like: Tensor) -> None:
        super().__init__()
        self.__dict__["_inner"] = model  # not in _modules: .to()/.train() do not reach it
        self._device, self._dtype = like.device, like.dtype

    def forward(self, x: Tensor) -> Tensor:
        # ART's searches run in float64 NumPy; the detector gets the attack input's dtype
        return self._inner(x.to(device=self._device, dtype=self._dtype))


def classifier(model: nn.Module, x: Tensor) -> Any:
    """An ART ``PyTorchClassifier`` over ``model`` for 4-D inputs shaped like ``x``."""
    from art.estimators.classification import PyTorchClassifier

    return PyTorchClassifier(
        model=_Hidden(model, x),
        loss=nn.CrossEntropyLoss(),
        input_shape=tuple(x.shape[1:]),
        nb_classes=2,
        clip_values=(0.0, 1.0),
        device_type="gpu" if x.is_cuda else "cpu",
    )


def to_numpy(x: Tensor) -> np.ndarray:
    return x.detach().to("cpu", torch.float32).numpy()


def from_numpy(a: np.ndarray, like: Tensor) -> Tensor:
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).to(
        device=like.device, dtype=like.dtype
    )
