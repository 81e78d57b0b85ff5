"""MI-FGSM: momentum iterative FGSM (Dong et al., CVPR 2018), L-inf.

White-box: like PGD without random start, but each step follows the sign of an accumulated
momentum of L1-normalized gradients (``decay``), which stabilizes the direction and transfers
better to other detectors. Defaults follow the paper: ``steps = 10``, ``decay = 1.0`` and the step
size following the budget, ``alpha = eps / steps`` unless set explicitly, at the harness's ``eps = 4/255``. Deterministic. Through torchattacks.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from harness.attacks import register_attack
from harness.attacks._base import Attack, AttackConfig, AttackModel, project_linf, require


@dataclass(frozen=True)
class MIFGSMConfig(AttackConfig):
    eps: float = 4 / 255
    alpha: float | None = None  # step size; None: eps / steps
    steps: int = 10
    decay: float = 1.0  # momentum decay

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.alpha is None or self.alpha > 0, f"alpha (step size) must be > 0, got {self.alpha}")
        require(self.steps >= 1, f"steps must be >= 1, got {self.steps}")
        require(self.decay >= 0, f"decay must be >= 0, got {self.decay}")


@register_attack
class MIFGSM(Attack):
    """MI-FGSM (Dong et al., 2018): iterative FGSM with gradient momentum (white-box, L-inf)."""

    Config = MIFGSMConfig
    norm = "linf"
    uses_gradients = True

    def default_alpha(self) -> float:
        c = self.config
        return c.eps / c.steps

    def run(self, model: AttackModel, x: Tensor, y: Tensor) -> Tensor:
        import torchattacks

        from harness.attacks import _torchattacks

        c = self.config
        adv = _torchattacks.run(
            torchattacks.MIFGSM, model, x, y, eps=c.eps, alpha=self.alpha, steps=c.steps, decay=c.decay
        )
        return project_linf(adv, x, c.eps)
