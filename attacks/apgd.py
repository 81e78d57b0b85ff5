"""APGD-CE: auto-PGD with the cross-entropy loss (Croce & Hein, ICML 2020), L-inf.

White-box, step-size free: PGD with momentum whose step size halves when the loss stops
improving (checkpoints at 22%, then shrinking intervals, of ``steps``), restarting from the best
point. Defaults follow AutoAttack's standard APGD-CE: ``steps = 100``, ``n_restarts = 1``,
``rho = 0.75``, at the harness's ``eps = 4/255``; random start in the ball (seeded).

Only the cross-entropy loss: AutoAttack's DLR loss divides by the gap between the largest and
the third-largest logit, so it needs 3+ classes and does not apply to binary real/fake detectors
(the targeted APGD-T and FAB-T likewise need several classes).

Returns, per sample, the highest-loss point found over all steps and restarts (torchattacks'
``perturb(best_loss=True)``), not only the successful ones: every sample is pushed as far toward
the wrong class as the budget allows, which is what a ranking metric (AUROC) measures (a sample
whose best point scores a lower loss than the clean input, possible since the search starts
from a random point, is returned clean).
Through torchattacks.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from harness.attacks import register_attack
from harness.attacks._base import Attack, AttackConfig, AttackModel, project_linf, require


@dataclass(frozen=True)
class APGDConfig(AttackConfig):
    eps: float = 4 / 255
    steps: int = 100
    n_restarts: int = 1
    rho: float = 0.75  # step-size halving threshold

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.steps >= 1, f"steps must be >= 1, got {self.steps}")
        require(self.n_restarts >= 1, f"n_restarts must be >= 1, got {self.n_restarts}")
        require(0 < self.rho < 1, f"rho must be in (0, 1), got {self.rho}")


@functools.cache
def _best_loss_apgd() -> type:
    import torchattacks

    class BestLossAPGD(torchattacks.APGD):
        """torchattacks' APGD returning the max-loss point of every sample (not only successes).

        ``perturb(best_loss=True)``'s loop, with the loss kept in the logits' dtype (float64 here).
        """

        def forward(self, images: Tensor, labels: Tensor) -> Tensor:
            x = images.clone().detach().to(self.device)
            y = labels.clone().detach().to(self.device)
            adv_best = x.clone()
            loss_best = None
            for _ in range(self.n_restarts):
                best_curr, _, loss_curr, _ = self.attack_single_run(x, y)
                better = torch.ones_like(y, dtype=torch.bool) if loss_best is None else loss_curr > loss_best
                adv_best[better] = best_curr[better]
                loss_best = loss_curr if loss_best is None else torch.where(better, loss_curr, loss_best)
            return adv_best

    return BestLossAPGD


@register_attack
class APGD(Attack):
    """APGD-CE (Croce & Hein, 2020): step-size-free PGD with momentum (white-box, L-inf)."""

    Config = APGDConfig
    norm = "linf"
    uses_gradients = True

    @property
    def randomized(self) -> bool:
        return True

    def run(self, model: AttackModel, x: Tensor, y: Tensor) -> Tensor:
        from harness.attacks import _torchattacks

        c = self.config
        adv = _torchattacks.run(
            _best_loss_apgd(),
            model,
            x,
            y,
            norm="Linf",
            eps=c.eps,
            steps=c.steps,
            n_restarts=c.n_restarts,
            seed=c.seed,
            loss="ce",
            rho=c.rho,
        )
        adv = project_linf(adv, x, c.eps)
        # The best loss is tracked from the random start on: keep x where that ended below it.
        with torch.no_grad():
            worse = F.cross_entropy(model(adv), y, reduction="none") < F.cross_entropy(
                model(x), y, reduction="none"
            )
        return torch.where(worse.view(-1, *[1] * (x.ndim - 1)), x, adv)
