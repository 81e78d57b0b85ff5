"""PGD: projected gradient descent, L-inf (Madry et al., ICLR 2018).

White-box: ``steps`` signed-gradient steps of size ``alpha`` on the cross-entropy loss at the
true label, each followed by projection onto the ``eps`` L-inf ball and ``[0, 1]``; a uniform
random start in the ball when ``random_start``.

Defaults: ``eps = 4/255`` (imperceptible on face crops; RobustBench's ImageNet L-inf budget),
``steps = 10`` and the step size following the budget, ``alpha = eps/4`` unless set explicitly
(so at every ``eps`` the iterate can cross the ball 2.5 times: Madry et al.'s rule of thumb
``alpha * steps ~ 2.5 eps``), random start on (with a fixed seed, reproducible). Through
torchattacks.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from harness.attacks import register_attack
from harness.attacks._base import Attack, AttackConfig, AttackModel, project_linf, require


@dataclass(frozen=True)
class PGDConfig(AttackConfig):
    eps: float = 4 / 255  # L-inf budget in [0,1] pixel units
    alpha: float | None = None  # step size; None: eps / 4
    steps: int = 10
    random_start: bool = True  # uniform start in the eps ball (seeded)

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.alpha is None or self.alpha > 0, f"alpha (step size) must be > 0, got {self.alpha}")
        require(self.steps >= 1, f"steps must be >= 1, got {self.steps}")


@register_attack
class PGD(Attack):
    """PGD (Madry et al., 2018): iterated signed-gradient steps projected to the eps ball (L-inf)."""

    Config = PGDConfig
    norm = "linf"
    uses_gradients = True

    @property
    def randomized(self) -> bool:
        return self.config.random_start

    def default_alpha(self) -> float:
        c = self.config
        return c.eps / 4

    def run(self, model: AttackModel, x: Tensor, y: Tensor) -> Tensor:
        import torchattacks

        from harness.attacks import _torchattacks

        c = self.config
        adv = _torchattacks.run(
            torchattacks.PGD,
            model,
            x,
            y,
            eps=c.eps,
            alpha=self.alpha,
            steps=c.steps,
            random_start=c.random_start,
        )
        return project_linf(adv, x, c.eps)
