"""HopSkipJump (Chen, Jordan & Wainwright, IEEE S&P 2020), L2, black-box (decisions only).

Decision-based: the attacker sees only the predicted label. Starting from a point already
classified as the wrong class, it alternates a binary search to the decision boundary, a
Monte-Carlo estimate of the boundary's normal from ``init_eval * sqrt(iteration)`` (at most
``max_eval``) label queries, and a geometric step search, shrinking the distance to ``x``.

Harness specifics:

* every attacked sample is sent toward its wrong class (ART's *targeted* mode with target
  ``1 - y``): ART's untargeted mode would move away from the *predicted* label, which for an
  already-misclassified sample is the wrong direction; samples already misclassified are left as
  they are;
* starting points are chosen here, reproducibly: the nearest of the batch's samples, flat
  images of each sample's mean colour and flat grey images that the detector assigns to the
  wrong class, else seeded uniform noise that it does (at most ``init_size`` draws); a sample
  with none is left unchanged (ART's own initialization draws from an unseeded RNG, so it is
  never reached);
* HopSkipJump minimizes the distance rather than bounding it: its result is projected onto the
  L2 ball of radius ``eps`` (``norm = "l2"``), which keeps the direction and may undo the flip;
* query budget: ``max_iter`` iterations of at most ``max_eval`` gradient-estimation queries
  plus the searches, per sample; counted queries are reported.

Defaults: ``eps = 0.5`` (as ``pgdl2``), ``max_iter = 20``, ``init_eval = 100``,
``max_eval = 1000``, ``init_size = 100`` (about 7k-10k queries per sample; the paper runs up to
25k). Through ART (``art.attacks.evasion.HopSkipJump``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from harness.attacks import register_attack
from harness.attacks._base import Attack, AttackConfig, AttackModel, generator, project_l2, require


@dataclass(frozen=True)
class HopSkipJumpConfig(AttackConfig):
    eps: float = 0.5  # L2 budget
    max_iter: int = 20  # iterations (query budget, with max_eval)
    max_eval: int = 1000  # most label queries per gradient estimate
    init_eval: int = 100  # first gradient estimate's queries (grows with sqrt(iteration))
    init_size: int = 100  # most random draws to find a starting point
    batch_size: int = 64  # detector batch size for queries

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.max_iter >= 1, f"max_iter must be >= 1, got {self.max_iter}")
        require(self.init_eval >= 1, f"init_eval must be >= 1, got {self.init_eval}")
        require(self.max_eval >= self.init_eval, f"max_eval must be >= init_eval, got {self.max_eval}")
        require(self.init_size >= 1, f"init_size must be >= 1, got {self.init_size}")
        require(self.batch_size >= 1, f"batch_size must be >= 1, got {self.batch_size}")


@register_attack
class HopSkipJump(Attack):
    """HopSkipJump (Chen et al., 2020): decision-based boundary attack, projected to L2 eps (black-box)."""

    Config = HopSkipJumpConfig
    norm = "l2"
    black_box = True

    @property
    def randomized(self) -> bool:
        return True

    def _predict(self, model: AttackModel, x: Tensor) -> Tensor:
        bs = self.config.batch_size
        return torch.cat([model(x[i : i + bs]).argmax(dim=1) for i in range(0, len(x), bs)])

    def _starts(self, model: AttackModel, x: Tensor, pred: Tensor, target: Tensor) -> Tensor:
        """Per sample, the nearest known point classified as ``target`` (NaN rows where none is).

        Candidates, all deterministic but the last: the batch's own samples, flat images of each
        sample's mean colour, flat grey images; then seeded uniform noise (``init_size`` draws).
        """
        flat_own = x.mean(dim=(-2, -1), keepdim=True).expand_as(x)
        grey = (
            torch.linspace(0, 1, 9, device=x.device, dtype=x.dtype).view(-1, 1, 1, 1).expand(9, *x.shape[1:])
        )
        cands = torch.cat([flat_own, grey])
        pool_x = torch.cat([x, cands])
        pool_pred = torch.cat([pred, self._predict(model, cands)])
        start = torch.full_like(x, float("nan"))
        for cls in (0, 1):
            need = target == cls
            if not bool(need.any()):
                continue
            pool = pool_x[pool_pred == cls]
            if not len(pool):
                pool = self._noise_start(model, x, cls)
            if len(pool):
                nearest = torch.cdist(x[need].flatten(1), pool.flatten(1)).argmin(dim=1)
                start[need] = pool[nearest]
        return start

    def _noise_start(self, model: AttackModel, x: Tensor, cls: int) -> Tensor:
        """The first of up to ``init_size`` seeded uniform-noise images classified as ``cls``."""
        gen = generator(self.seed + cls, x.device)
        drawn = 0
        while drawn < self.config.init_size:
            n = min(self.config.batch_size, self.config.init_size - drawn)
            noise = torch.rand((n, *x.shape[1:]), generator=gen, device=x.device, dtype=x.dtype)
            hits = (model(noise).argmax(dim=1) == cls).nonzero()
            if hits.numel():
                return noise[hits[0, 0]].unsqueeze(0)
            drawn += n
        return x[:0]

    def run(self, model: AttackModel, x: Tensor, y: Tensor) -> Tensor:
        from art.attacks.evasion import HopSkipJump as ArtHopSkipJump

        from harness.attacks import _art

        c = self.config
        target = 1 - y
        pred = self._predict(model, x)
        start = self._starts(model, x, pred, target)
        todo = ((pred != target) & ~start.flatten(1).isnan().any(dim=1)).nonzero().squeeze(1)
        adv = x.clone()
        if todo.numel():
            attack = ArtHopSkipJump(
                _art.classifier(model, x),
                batch_size=c.batch_size,
                targeted=True,
                norm=2,
                max_iter=c.max_iter,
                max_eval=c.max_eval,
                init_eval=c.init_eval,
                init_size=c.init_size,
                verbose=False,
            )
            out = attack.generate(
                _art.to_numpy(x[todo]),
                y=target[todo].cpu().numpy(),
                x_adv_init=_art.to_numpy(start[todo]),
            )
            adv[todo] = _art.from_numpy(out, x)
        return project_l2(adv, x, c.eps)
