"""FGSM: the fast gradient sign method (Goodfellow, Shlens & Szegedy, ICLR 2015).

White-box, L-inf: one step of size ``eps`` along the sign of the input gradient of the
cross-entropy loss at the true label (for a binary detector this pushes each sample toward the
other class). Default ``eps = 4/255``: the common imperceptible budget on face crops (and
RobustBench's ImageNet L-inf budget). Through torchattacks.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from harness.attacks import register_attack
from harness.attacks._base import Attack, AttackConfig, AttackModel, project_linf


@dataclass(frozen=True)
class FGSMConfig(AttackConfig):
    eps: float = 4 / 255  # L-inf budget in [0,1] pixel units of the detector's input


@register_attack
class FGSM(Attack):
    """FGSM (Goodfellow et al., 2015): one signed-gradient step of size eps (white-box, L-inf)."""

    Config = FGSMConfig
    norm = "linf"
    uses_gradients = True

    def run(self, model: AttackModel, x: Tensor, y: Tensor) -> Tensor:
        import torchattacks

        from harness.attacks import _torchattacks

        adv = _torchattacks.run(torchattacks.FGSM, model, x, y, eps=self.config.eps)
        return project_linf(adv, x, self.config.eps)
