"""Square attack (Andriushchenko et al., ECCV 2020), L-inf, black-box (scores only).

Random search: each iteration proposes a random square patch of +-2eps changes (the square
shrinks on a fixed schedule from ``p_init`` of the image) and keeps it for the samples whose
margin loss (true logit minus best other logit) decreased; a sample stops once misclassified.
Needs only the detector's output scores, no gradients: a score-based attacker.

Query budget: ``max_iter`` iterations. Each costs one forward pass per sample (ART re-scores
the whole batch) plus two per sample not yet misclassified (the loss before and after the
proposal), and the initialization three, so at most ``3 * (max_iter + 1)`` queries per sample;
the counted number is reported in ``AttackResult.queries``. Defaults: ``eps = 4/255``, ``max_iter = 1000``,
``p_init = 0.8`` (the paper's and AutoAttack's L-inf setting; AutoAttack gives it 5000 queries),
one restart. Through ART (``art.attacks.evasion.SquareAttack``).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from harness.attacks import register_attack
from harness.attacks._base import Attack, AttackConfig, AttackModel, project_linf, require


@dataclass(frozen=True)
class SquareConfig(AttackConfig):
    eps: float = 4 / 255
    max_iter: int = 1000
    p_init: float = 0.8
    nb_restarts: int = 1
    batch_size: int = 128

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.max_iter >= 1, f"max_iter must be >= 1, got {self.max_iter}")
        require(0 < self.p_init <= 1, f"p_init must be in (0, 1], got {self.p_init}")
        require(self.nb_restarts >= 1, f"nb_restarts must be >= 1, got {self.nb_restarts}")
        require(self.batch_size >= 1, f"batch_size must be >= 1, got {self.batch_size}")


@register_attack("square")
class Square(Attack):
    """Square attack (Andriushchenko et al., 2020): score-based random search (black-box, L-inf)."""

    name = "square"
    Config = SquareConfig
    norm = "linf"
    black_box = True

    @property
    def randomized(self) -> bool:
        return True

    def run(self, model: AttackModel, x: Tensor, y: Tensor) -> Tensor:
        from art.attacks.evasion import SquareAttack

        from harness.attacks import _art

        c = self.config
        if min(x.shape[-2:]) < 2:
            raise ValueError(f"square: images must be at least 2x2, got {tuple(x.shape[-2:])}")
        attack = SquareAttack(
            _art.classifier(model, x),
            norm="inf",
            max_iter=c.max_iter,
            eps=c.eps,
            p_init=c.p_init,
            nb_restarts=c.nb_restarts,
            batch_size=c.batch_size,
            verbose=False,
        )
        adv = attack.generate(_art.to_numpy(x), y=y.cpu().numpy())
        return project_linf(_art.from_numpy(adv, x), x, c.eps)
