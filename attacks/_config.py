"""Settings, result and error types of the attack contract (see :mod:`harness.attacks._base`)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from torch import Tensor

TARGETS = ("fake", "real", "both")
SCOPES = ("sample", "video")


class AttackError(RuntimeError):
    """An attack produced output that breaks the contract (range, shape, budget)."""


def require(condition: bool, message: str) -> None:
    """Config validation helper: raise ``ValueError(message)`` unless ``condition``."""
    if not condition:
        raise ValueError(message)


@dataclass(frozen=True)
class AttackConfig:
    """Settings every attack has. Subclasses add theirs (``eps``, steps, query budgets, ...).

    ``target``: which samples are attacked (``"fake"``, ``"real"`` or ``"both"``);
    ``seed``: seeds all randomness of the attack (same seed, same output);
    ``quantize``: round the attacked samples to the 8-bit grid inside the budget (what an
    attacker can deliver as an image or video); off only for studies of float perturbations;
    ``scope``: ``"sample"`` optimizes one perturbation per sample (frame or clip), ``"video"``
    one per video, shared by all its samples and frames (the budget is per video; see
    :meth:`Attack._run_video`).
    """

    target: Literal["fake", "real", "both"] = "both"
    seed: int = 0
    quantize: bool = True
    scope: Literal["sample", "video"] = "sample"

    def __post_init__(self) -> None:
        require(self.target in TARGETS, f"target must be one of {TARGETS}, got {self.target!r}")
        require(
            self.scope in SCOPES,
            f"scope must be one of {SCOPES} (one perturbation per sample, or one per video), got {self.scope!r}",
        )
        require(isinstance(self.quantize, bool), f"quantize must be true or false, got {self.quantize!r}")
        require(isinstance(self.seed, int) and self.seed >= 0, f"seed must be an int >= 0, got {self.seed!r}")
        eps = getattr(self, "eps", None)
        if eps is not None:
            require(
                isinstance(eps, (int, float)) and math.isfinite(eps) and eps >= 0,
                f"eps must be a finite number >= 0 (pixel units of [0,1] input), got {eps!r}",
            )


@dataclass
class AttackResult:
    """What an attack returns.

    ``x_adv``: the batch (the input's shape, device and dtype), samples that were not attacked
    bit-identical to the input; ``attacked``: bool ``(N,)`` mask of the samples the attack was run
    on; ``queries``: per-sample forward passes through the detector (a gradient step counts one
    per sample, a black-box query one per sample; 0 for perturbations); ``seconds``: wall time;
    ``linf`` / ``l2``: per-sample ``|x_adv - x|`` norms (CPU float tensors); ``unperturbed``:
    bool ``(N,)``, attacked samples delivered exactly unchanged; ``zero_grad``: bool ``(N,)``,
    attacked samples whose input gradient of the loss was exactly zero (``None`` for attacks
    without gradients); ``quantized``: whether ``x_adv`` was rounded to 8 bits.
    """

    x_adv: Tensor
    attacked: Tensor
    queries: int
    seconds: float
    linf: Tensor
    l2: Tensor
    unperturbed: Tensor
    zero_grad: Tensor | None
    quantized: bool
