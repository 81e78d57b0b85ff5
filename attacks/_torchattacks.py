"""Thin adapter over torchattacks (white-box, gradient) attacks.

torchattacks quirks handled here, once:

* its ``Attack`` finds its device from ``next(model.parameters())`` and prints a message when the
  model has none (a parameter-free detector): the message is swallowed and the device set from
  the input;
* it switches the model to eval mode and back to *its* view of the previous mode; the harness base
  has already put the model in eval mode and restores every submodule's mode itself;
* it draws its random starts from the global torch RNG, which the harness base forks and seeds;
* normalization is inside the detector, so ``set_normalization_used`` is never called;
* binary detectors: the untargeted loss with the true label is the targeted loss toward the other
  class (both are monotone in the logit margin), so "push fakes to real" is plain untargeted mode.
"""

from __future__ import annotations

import contextlib
import io
from typing import Any

from torch import Tensor, nn


def make(attack_cls: type, model: nn.Module, x: Tensor, **kwargs: Any) -> Any:
    """Build a torchattacks attack on ``model`` for inputs like ``x`` (device taken from ``x``)."""
    with contextlib.redirect_stdout(io.StringIO()):  # "Failed to set device automatically..."
        atk = attack_cls(model, **kwargs)
    atk.set_device(x.device)
    return atk


def run(attack_cls: type, model: nn.Module, x: Tensor, y: Tensor, **kwargs: Any) -> Tensor:
    """Build and run a torchattacks attack; returns its adversarial batch in ``x``'s dtype."""
    return make(attack_cls, model, x, **kwargs)(x, y).to(x.dtype)
