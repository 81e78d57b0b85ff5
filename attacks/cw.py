"""Carlini-Wagner L2 (Carlini & Wagner, IEEE S&P 2017), with an L2 budget.

White-box: Adam in tanh space on ``||x_adv - x||_2^2 + c * max(z_true - z_other, -kappa)``,
keeping per sample the smallest-L2 point that is misclassified (samples never misclassified
come back unchanged). CW minimizes the perturbation instead of bounding it, so this attack
declares ``norm = "l2"`` with a budget ``eps`` and *projects* its result onto the L2 ball of
radius ``eps``: a found perturbation larger than the budget is scaled down to it (it may then no
longer flip the label, but it is the budgeted attack the harness compares).

Defaults: ``eps = 0.5`` (as ``pgdl2``), ``c = 1``, ``kappa = 0``, ``steps = 100``,
``lr = 0.01`` (torchattacks' defaults, with more steps). Through torchattacks, with its margin
loss fixed: torchattacks takes ``max((1 - onehot) * logits)`` as the best other logit, which is
0 instead of the true value when logits are negative (and a one-logit detector's padded
``[0, z]`` output always has a zero); here it is computed with the true class masked out.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
from torch import Tensor

from harness.attacks import register_attack
from harness.attacks._base import Attack, AttackConfig, AttackModel, project_l2, require


@dataclass(frozen=True)
class CWConfig(AttackConfig):
    eps: float = 0.5  # L2 budget: CW's result is projected onto this ball
    c: float = 1.0  # weight of the misclassification term
    kappa: float = 0.0  # confidence margin
    steps: int = 100
    lr: float = 0.01  # Adam learning rate in tanh space

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.c > 0, f"c must be > 0, got {self.c}")
        require(self.kappa >= 0, f"kappa must be >= 0, got {self.kappa}")
        require(self.steps >= 1, f"steps must be >= 1, got {self.steps}")
        require(self.lr > 0, f"lr must be > 0, got {self.lr}")


@functools.cache
def _fixed_cw() -> type:
    import torchattacks

    class MarginCW(torchattacks.CW):
        """torchattacks' CW with the true-vs-best-other logit margin computed correctly."""

        def f(self, outputs: Tensor, labels: Tensor) -> Tensor:
            one_hot = torch.nn.functional.one_hot(labels, outputs.shape[1]).bool()
            real = outputs[one_hot]
            other = outputs.masked_fill(one_hot, float("-inf")).amax(dim=1)
            if self.targeted:
                return torch.clamp(other - real, min=-self.kappa)
            return torch.clamp(real - other, min=-self.kappa)

    return MarginCW


@register_attack
class CW(Attack):
    """Carlini-Wagner L2 (2017), projected to an L2 budget eps (white-box)."""

    Config = CWConfig
    norm = "l2"
    uses_gradients = True

    def run(self, model: AttackModel, x: Tensor, y: Tensor) -> Tensor:
        from harness.attacks import _torchattacks

        c = self.config
        adv = _torchattacks.run(_fixed_cw(), model, x, y, c=c.c, kappa=c.kappa, steps=c.steps, lr=c.lr)
        return project_l2(adv, x, c.eps)
