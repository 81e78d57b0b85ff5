"""Square attack (Andriushchenko et al., ECCV 2020), L-inf, black-box (scores only).

Random search on the margin loss (true logit minus the other logit): each iteration proposes,
for every sample, a random square patch (side shrinking on the paper's schedule from ``p_init``
of the image) set to ``+-eps`` per channel, and keeps it where the margin decreased. Needs only the
detector's output scores, no gradients: a score-based attacker.

Built for ranking metrics (AUROC), unlike the reference implementations (ART's and
torchattacks', which stop on a sample once it crosses the decision threshold): every sample is
pushed as far as its query budget allows (the margin is minimized, not just made negative), and
the clean input is a candidate too, so a sample is never returned worse than clean (the vertical
stripes initialization is kept only where it lowers the margin). All samples of a batch are
searched together on the detector's device (torchattacks' :class:`~torchattacks.Square` supplies
the paper's square-size schedule); there is no host round trip per iteration.

Query budget: ``n_queries`` forward passes per sample, counted in ``AttackResult.queries``: one
for the clean margin, one for the initialization and one per iteration (so ``n_queries - 2``
iterations), per restart. Defaults: ``eps = 4/255``, ``n_queries = 5000`` (AutoAttack's L-inf
setting), ``p_init = 0.8``, one restart; the standard suite sets a smaller budget for CPUs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace

import torch
from torch import Tensor

from harness.attacks import register_attack
from harness.attacks._base import Attack, AttackConfig, AttackModel, project_linf, require


@dataclass(frozen=True)
class SquareConfig(AttackConfig):
    eps: float = 4 / 255
    n_queries: int = 5000  # forward passes per sample and restart (clean + init + one per iteration)
    p_init: float = 0.8  # initial fraction of the image a square covers
    n_restarts: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.n_queries >= 3, f"n_queries must be >= 3 (clean, init, one step), got {self.n_queries}")
        require(0 < self.p_init <= 1, f"p_init must be in (0, 1], got {self.p_init}")
        require(self.n_restarts >= 1, f"n_restarts must be >= 1, got {self.n_restarts}")


def margin(model: Callable[[Tensor], Tensor], x: Tensor, y: Tensor) -> Tensor:
    """True-class logit minus the other logit (binary detectors): positive = classified correctly."""
    logits = model(x).double()
    return logits.gather(1, y[:, None]).squeeze(1) - logits.gather(1, (1 - y)[:, None]).squeeze(1)


def _p_selection(it: int, n_iter: int, p_init: float) -> float:
    """The paper's square-size schedule, rescaled to the iteration budget (torchattacks' own)."""
    import torchattacks

    settings = SimpleNamespace(rescale_schedule=True, n_queries=n_iter, p_init=p_init)
    return float(torchattacks.Square.p_selection(settings, it))


def square_linf(
    model: AttackModel, x: Tensor, y: Tensor, eps: float, n_queries: int, p_init: float, gen: torch.Generator
) -> tuple[Tensor, Tensor]:
    """One run of the margin-minimizing L-inf Square search; returns (x_best, margin_best)."""
    n, c, h, w = x.shape
    n_iter = n_queries - 2
    sign = lambda *shape: torch.randint(0, 2, shape, generator=gen, device=x.device).to(x.dtype) * 2 - 1  # noqa: E731
    best_margin = margin(model, x, y)
    x_best = x.clone()
    init = (x + eps * sign(n, c, 1, w)).clamp(0.0, 1.0)  # vertical stripes
    m = margin(model, init, y)
    better = m < best_margin
    x_best = torch.where(better.view(-1, 1, 1, 1), init, x_best)
    best_margin = torch.where(better, m, best_margin)
    rows = torch.arange(h, device=x.device)
    cols = torch.arange(w, device=x.device)
    n_features = c * h * w
    for it in range(n_iter):
        p = _p_selection(it, n_iter, p_init)
        s = min(
            max(int(round(math.sqrt(p * n_features / c))), 1), h - 1 if h > 1 else 1, w - 1 if w > 1 else 1
        )
        vh = torch.randint(0, h - s + 1, (n,), generator=gen, device=x.device)
        vw = torch.randint(0, w - s + 1, (n,), generator=gen, device=x.device)
        in_rows = (rows[None] >= vh[:, None]) & (rows[None] < vh[:, None] + s)
        in_cols = (cols[None] >= vw[:, None]) & (cols[None] < vw[:, None] + s)
        window = (in_rows[:, :, None] & in_cols[:, None, :])[:, None]  # (n, 1, h, w)
        # the square's values: +-eps around x per channel (the paper's update for L-inf)
        target = (x + eps * sign(n, c, 1, 1)).clamp(0.0, 1.0)
        x_new = torch.where(window, target, x_best)
        m = margin(model, x_new, y)
        better = m < best_margin
        x_best = torch.where(better.view(-1, 1, 1, 1), x_new, x_best)
        best_margin = torch.where(better, m, best_margin)
    return x_best, best_margin


@register_attack
class Square(Attack):
    """Square attack (Andriushchenko et al., 2020): score-based random search (black-box, L-inf)."""

    Config = SquareConfig
    norm = "linf"
    black_box = True

    @property
    def randomized(self) -> bool:
        return True

    def run(self, model: AttackModel, x: Tensor, y: Tensor) -> Tensor:
        from harness.attacks._base import generator

        c = self.config
        if min(x.shape[-2:]) < 2:
            raise ValueError(f"square: images must be at least 2x2, got {tuple(x.shape[-2:])}")
        gen = generator(self.seed, x.device)
        x_best, m_best = square_linf(model, x, y, c.eps, c.n_queries, c.p_init, gen)
        for _ in range(c.n_restarts - 1):
            cand, m = square_linf(model, x, y, c.eps, c.n_queries, c.p_init, gen)
            better = m < m_best
            x_best = torch.where(better.view(-1, 1, 1, 1), cand, x_best)
            m_best = torch.where(better, m, m_best)
        return project_linf(x_best, x, c.eps)
