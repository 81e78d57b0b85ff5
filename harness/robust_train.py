"""Training robust detectors: adversarial training and Gaussian noise augmentation.

What :func:`harness.train.train` adds to a training step when ``adversarial.method`` is set or
``noise_sigma > 0``:

* ``pgd``: PGD adversarial training (Madry et al., ICLR 2018): every batch is replaced by its
  L-inf PGD example (``steps`` signed-gradient steps of size ``alpha`` from a uniform random start
  in the ``eps`` ball) and the loss is the usual cross-entropy on it;
* ``trades``: TRADES (Zhang et al., ICML 2019): ``CE(f(x), y) + beta * KL(f(x) || f(x'))`` with
  ``x'`` maximizing that KL in the ball (PGD on the KL, starting at ``x + 0.001 N(0, I)`` as the
  authors' code does);
* ``fgsm-rs``: "fast is better than free" (Wong et al., ICLR 2020): one FGSM step of size
  ``1.25 eps`` from a uniform random start, projected;
* ``noise_sigma``: Gaussian data augmentation ``x + N(0, sigma^2 I)`` (Cohen et al., ICML 2019),
  not clamped to [0, 1], the base classifier of randomized smoothing.

The inner maximization is the harness's own PGD loop (:func:`harness.attacks._loop.linf_pgd`, the
loop its ``pgd`` attack runs), with the same ``[0, 1]`` pixel budgets. **BatchNorm**: the inner
attack runs with the detector in eval mode (running statistics used and not updated, dropout off),
as in the TRADES reference code; the update then runs in train mode on the adversarial batch. No
8-bit rounding inside training (it changes nothing the model learns from; the evaluation rounds).

**eps warm-up**: over the first ``warmup_epochs`` epochs eps (and the step size with it) rises
linearly per batch from 0 to ``eps`` (the usual schedule for training from scratch, which otherwise
tends to collapse to a constant output at the start).

**Random starts are per sample and reproducible**: drawn on the CPU from the batch's seed for the
whole batch, so they do not depend on which process attacks which sample. Under ``torchrun`` each
process attacks its share of every batch (the attack is ``steps`` times the cost of a training
step), the shares are gathered, and every process takes the same full-batch update: all processes
hold the same weights without a gradient all-reduce, and the result equals one process's up to
floating-point differences of the attack on smaller batches.

**Validation and the checkpoint kept**: every epoch the clean validation AUROC and the robust one
(video level, under the harness's ``pgd`` attack at the training ``eps`` with ``val_steps`` steps,
8-bit delivery, on ``val_frames_per_video`` crops per video) are computed; the checkpoint kept is
the one with the best *robust* validation AUROC (ties: the better clean validation AUROC, then the
lower clean validation log loss), so a model that only got more accurate does not displace a more
robust one. Noise-augmented training keeps the usual rule (best clean validation AUROC). The test
split is never looked at.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

if TYPE_CHECKING:
    from harness.data import PreparedData

METHODS = ("none", "pgd", "trades", "fgsm-rs")
SELECTION_RULE = (
    "best robust validation AUROC (PGD at the training eps), ties broken by the clean validation "
    "AUROC, then the clean validation log loss"
)


@dataclass(frozen=True)
class AdversarialConfig:
    """Adversarial training (``harness train --adversarial METHOD``, ``--set adversarial.eps=4/255``)."""

    method: Literal["none", "pgd", "trades", "fgsm-rs"] = "none"
    eps: float = 4 / 255  # L-inf budget in [0,1] pixel units of the detector input
    steps: int = 5  # inner PGD steps (pgd, trades; fgsm-rs takes one)
    alpha: float | None = None  # step size; None: pgd 2.5*eps/steps, trades eps/4, fgsm-rs 1.25*eps
    random_start: bool = True  # pgd: uniform start in the ball (trades starts at x + 0.001 N(0,I))
    beta: float = 6.0  # TRADES: weight of the KL (robustness) term
    warmup_epochs: int = 2  # eps rises linearly from 0 to eps over these epochs (0: off)
    val_steps: int = 10  # robust validation: PGD steps (step size eps/4, random start, 8-bit)
    val_frames_per_video: int = 4  # robust validation: crops per validation video

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"adversarial.method must be one of {', '.join(METHODS)}, got {self.method!r}")
        if not 0 < self.eps <= 1:
            raise ValueError(f"adversarial.eps is an L-inf budget in (0, 1] pixel units, got {self.eps}")
        if self.steps < 1 or self.val_steps < 1 or self.val_frames_per_video < 1:
            raise ValueError("adversarial.steps, val_steps and val_frames_per_video must be >= 1")
        if self.alpha is not None and self.alpha <= 0:
            raise ValueError(f"adversarial.alpha (step size) must be > 0, got {self.alpha}")
        if self.beta < 0 or self.warmup_epochs < 0:
            raise ValueError("adversarial.beta and adversarial.warmup_epochs must be >= 0")

    @property
    def enabled(self) -> bool:
        return self.method != "none"

    @property
    def inner_steps(self) -> int:
        return 1 if self.method == "fgsm-rs" else self.steps

    def step_size(self, eps: float | None = None) -> float:
        """The inner step size at budget ``eps`` (default: the full budget); it follows eps."""
        e = self.eps if eps is None else eps
        if self.alpha is not None:
            return self.alpha * e / self.eps
        if self.method == "fgsm-rs":
            return 1.25 * e
        if self.method == "trades":
            return e / 4
        return 2.5 * e / self.steps

    def eps_at(self, step: int, steps_per_epoch: int) -> float:
        """The budget at global training step ``step`` (0-based) under the warm-up schedule."""
        ramp = self.warmup_epochs * steps_per_epoch
        if ramp <= 0:
            return self.eps
        return self.eps * min(1.0, (step + 1) / ramp)

    def recipe(self) -> dict[str, Any]:
        """What ``checkpoint_meta["adversarial"]`` records (the resolved recipe)."""
        out = dataclasses.asdict(self)
        out["steps"] = self.inner_steps
        out["alpha"] = self.step_size()
        out["beta"] = self.beta if self.method == "trades" else None
        out["random_start"] = self.random_start if self.method != "trades" else "x + 0.001 N(0, I)"
        out["schedule"] = (
            f"eps linear from 0 to {self.eps:.6g} over {self.warmup_epochs} epochs (per batch), then constant"
            if self.warmup_epochs
            else "constant eps"
        )
        out["bn"] = "inner attack in eval mode (running statistics used, not updated); update in train mode"
        out["selection"] = SELECTION_RULE
        return out


def start_noise(cfg: AdversarialConfig, shape: torch.Size, eps: float, seed: int) -> Tensor | None:
    """The batch's random start offsets, drawn on the CPU from the batch's ``seed`` (None: none)."""
    g = torch.Generator().manual_seed(int(seed) + 7919)
    if cfg.method == "trades":
        return 0.001 * torch.randn(shape, generator=g)
    if cfg.random_start:
        return (torch.rand(shape, generator=g) * 2 - 1) * eps
    return None


def adversarial_batch(
    model: torch.nn.Module, x: Tensor, y: Tensor, cfg: AdversarialConfig, eps: float, seed: int
) -> Tensor:
    """The batch's adversarial example (PGD on the CE, or on the TRADES KL), detached.

    The model runs in eval mode for the attack and is put back in its mode; under torchrun this
    process attacks its share of the batch and gathers the others'."""
    from harness import distributed
    from harness.attacks import linf_pgd

    noise = start_noise(cfg, x.shape, eps, seed)
    w = distributed.world()
    share = np.array_split(np.arange(len(x)), w.world_size)[w.rank] if w.distributed else np.arange(len(x))
    idx = torch.as_tensor(share, dtype=torch.long)
    xs, ys = x[idx.to(x.device)], y[idx.to(y.device)]
    adv = xs
    if len(share):
        was_training = model.training
        model.eval()
        try:
            clean = None
            if cfg.method == "trades":
                with torch.no_grad():
                    clean = model(xs).detach()
            adv = linf_pgd(
                model,
                xs,
                ys,
                eps=eps,
                alpha=cfg.step_size(eps),
                steps=cfg.inner_steps,
                random_start=noise is not None,
                loss="kl" if cfg.method == "trades" else "ce",
                clean_logits=clean,
                start_noise=None if noise is None else noise[idx].to(x.device, x.dtype),
            )
        finally:
            model.train(was_training)
    if w.distributed:
        adv = torch.cat(distributed.all_gather(adv.detach().cpu())).to(x.device)
    return adv.detach()


def robust_loss(
    model: torch.nn.Module,
    x: Tensor,
    adv: Tensor,
    y: Tensor,
    cfg: AdversarialConfig,
    base_loss: Any,
) -> Tensor:
    """The training loss on the batch: CE on ``adv`` (pgd, fgsm-rs) or the TRADES objective."""
    if cfg.method == "trades":
        logits = model(torch.cat([x, adv]))
        clean, robust = logits[: len(x)].float(), logits[len(x) :].float()
        kl = F.kl_div(F.log_softmax(robust, dim=1), F.softmax(clean, dim=1), reduction="batchmean")
        return base_loss(clean, y) + cfg.beta * kl
    return base_loss(model(adv), y)


def robust_video_auroc(
    model: torch.nn.Module,
    prep: PreparedData,
    split: str,
    cfg: AdversarialConfig,
    batch_size: int,
    device: torch.device,
    workers: int = 0,
) -> float:
    """Video-level AUROC of ``split`` under the harness's ``pgd`` attack at the training eps.

    ``val_frames_per_video`` crops per video, ``val_steps`` steps, the attack as ``harness run``
    runs it (random start seeded per batch, 8-bit delivery, unchanged-model guard). Under torchrun
    the videos are shared out and the scores gathered."""
    from harness import distributed
    from harness.attacks import create_attack
    from harness.metrics import aggregate_by_video, auroc, video_labels
    from harness.stream import UnitDataset, loader, plan_meta, plan_units, to_device, video_refs

    refs = video_refs(prep, split, cfg.val_frames_per_video)
    w = distributed.world()
    spec = model.spec  # type: ignore[attr-defined]
    units = plan_units(refs, spec.kind, batch_size, spec.frames_per_clip)
    mine = units[w.rank :: w.world_size]  # batches of whole videos; seeds follow the batch, not the rank
    attack = create_attack("pgd", eps=cfg.eps, steps=cfg.val_steps)
    was_training = model.training
    model.eval()
    probs: list[Tensor] = []
    try:
        dataset = UnitDataset(prep, refs, units, spec.kind, spec.input_size)
        for batch in loader(dataset, mine, workers, device):
            x, y = to_device(batch["x"], device), batch["y"].to(device)
            res = attack(model, x, y, seed=int(batch["unit"]))
            with torch.no_grad():
                probs.append(torch.softmax(model(res.x_adv).float(), dim=1)[:, 1].cpu())
    finally:
        model.train(was_training)
    meta = plan_meta(mine, refs, spec.kind)
    local = (list(meta.video_ids), list(meta.labels), torch.cat(probs).numpy().tolist() if probs else [])
    ids: list[str] = []
    labels: list[int] = []
    scores: list[float] = []
    for part_ids, part_labels, part_scores in distributed.all_gather(local):
        ids += part_ids
        labels += part_labels
        scores += part_scores
    if not ids:
        return math.nan
    _, video_scores = aggregate_by_video(ids, np.asarray(scores), "mean")
    _, video_y = video_labels(ids, np.asarray(labels))
    return auroc(video_y, video_scores)


__all__ = [
    "METHODS",
    "SELECTION_RULE",
    "AdversarialConfig",
    "adversarial_batch",
    "robust_loss",
    "robust_video_auroc",
    "start_noise",
]
