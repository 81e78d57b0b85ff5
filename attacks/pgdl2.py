"""PGD in the L2 norm (Madry et al., ICLR 2018).

White-box: ``steps`` steps of size ``alpha`` along the L2-normalized input gradient of the
cross-entropy loss at the true label, each projected onto the per-sample L2 ball of radius
``eps`` and ``[0, 1]``; random start in the ball when ``random_start``. For clips the budget is
per clip (all frames together).

Defaults: ``eps = 0.5`` (about 0.33/255 RMS per value on a 3x224x224 crop: imperceptible, yet
enough to flip undefended CNNs; raise it for larger inputs or defended models), ``steps = 10``
and the step size following the budget, ``alpha = eps/4`` unless set explicitly (``alpha * steps = 2.5 eps``, as for L-inf PGD). Through torchattacks.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from harness.attacks import register_attack
from harness.attacks._base import Attack, AttackConfig, AttackModel, project_l2, require


@dataclass(frozen=True)
class PGDL2Config(AttackConfig):
    eps: float = 0.5  # L2 budget in [0,1] pixel units over the whole input
    alpha: float | None = None  # step size; None: eps / 4
    steps: int = 10
    random_start: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.alpha is None or self.alpha > 0, f"alpha (step size) must be > 0, got {self.alpha}")
        require(self.steps >= 1, f"steps must be >= 1, got {self.steps}")


@register_attack
class PGDL2(Attack):
    """PGD in the L2 norm (Madry et al., 2018): normalized-gradient steps projected to the L2 ball."""

    Config = PGDL2Config
    norm = "l2"
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
            torchattacks.PGDL2,
            model,
            x,
            y,
            eps=c.eps,
            alpha=self.alpha,
            steps=c.steps,
            random_start=c.random_start,
        )
        return project_l2(adv, x, c.eps)
