"""Forward passes with out-of-memory fallback, and the clean stage that fixes the thresholds."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from harness.runner.config import VAL_FPR, threshold_provenance
from harness.runner.context import RunContext, run_stage


def forward_probs(ctx: RunContext, x: torch.Tensor, oom: dict[str, int]) -> np.ndarray:
    """Fake probabilities of a batch; CUDA out-of-memory halves the sub-batch and retries."""
    out = []
    for part in halving(x, oom):
        with torch.no_grad():
            out.append(torch.softmax(ctx.detector(part).float(), 1)[:, 1].cpu())
    return torch.cat(out).numpy()


def zero_grads(ctx: RunContext, x: torch.Tensor, y: torch.Tensor, oom: dict[str, int]) -> torch.Tensor:
    """The ``zero_grad`` self-check of a batch, in sub-batches of ``oom['batch']``."""
    from harness.attacks import zero_gradient_mask

    size = oom.setdefault("batch", len(x))
    parts = [
        zero_gradient_mask(ctx.detector, x[i : i + size], y[i : i + size]) for i in range(0, len(x), size)
    ]
    return torch.cat(parts)


def halving(x: torch.Tensor, oom: dict[str, int]) -> Iterator[torch.Tensor]:
    """Sub-batches of ``x`` of at most ``oom['batch']`` samples (the caller retries on OOM)."""
    size = oom.setdefault("batch", len(x))
    for i in range(0, len(x), size):
        yield x[i : i + size]


def retrying(fn: Any, n: int, oom: dict[str, int], device: torch.device) -> Any:
    """Call ``fn()``; on CUDA out-of-memory halve ``oom['batch']`` (recorded) and call again."""
    oom.setdefault("batch", n)
    while True:
        try:
            return fn()
        except torch.cuda.OutOfMemoryError:
            if oom["batch"] <= 1:
                raise
            oom["batch"] = max(1, oom["batch"] // 2)
            oom["halvings"] = oom.get("halvings", 0) + 1
            print(
                f"harness: CUDA out of memory: continuing with batches of {oom['batch']}",
                file=sys.stderr,
                flush=True,
            )
            if device.type == "cuda":
                torch.cuda.empty_cache()


def check_finite(probs: np.ndarray, detector: str, what: str) -> None:
    if not np.isfinite(probs).all():
        bad = int((~np.isfinite(probs)).sum())
        raise FloatingPointError(
            f"{detector}: {bad} non-finite scores ({what}): the checkpoint is likely corrupt or was "
            "trained with diverging loss; re-train or check the weights (result not written)"
        )


def batch_to_device(x: torch.Tensor, ctx: RunContext) -> torch.Tensor:
    from harness.stream import to_device

    x = to_device(x, ctx.device)
    if ctx.config.channels_last and x.ndim == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    return x


def clean_stage(ctx: RunContext, progress: bool, gradients: bool = False) -> None:
    """Clean scores of the evaluated and validation videos; fixes the thresholds.

    ``gradients``: also record, per evaluated sample, whether the loss gradient at the clean
    input is exactly zero (the ``zero_grad`` self-check), once for every gradient attack of the
    run instead of one more forward and backward pass per attack and batch.
    """
    from harness import metrics
    from harness.stream import plan_meta, plan_units

    config, spec = ctx.config, ctx.detector.spec
    n_eval = ctx.n_eval
    val_refs = ctx.refs[n_eval:]
    val_units = plan_units(
        val_refs, spec.kind, config.batch_size, spec.frames_per_clip, start=len(ctx.units), offset=n_eval
    )
    oom: dict[str, int] = {}

    evaluated = {u.index for u in ctx.units}

    def compute(unit: Any, batch: dict[str, Any]) -> dict[str, Any]:
        x = batch_to_device(batch["x"], ctx)
        probs = retrying(lambda: forward_probs(ctx, x, oom), len(x), oom, ctx.device)
        record: dict[str, Any] = {"p": probs.tolist()}
        if gradients and unit.index in evaluated:
            y = batch["y"].to(ctx.device)
            zero = retrying(lambda: zero_grads(ctx, x, y, oom), len(x), oom, ctx.device)
            record["zg"] = zero.int().tolist()
        return record

    records = run_stage(ctx, "clean", ctx.units + val_units, compute, "clean", progress)
    ctx.zero_grad = {u.index: records[u.index].get("zg") for u in ctx.units}
    probs = np.concatenate([np.asarray(records[u.index]["p"], dtype=np.float64) for u in ctx.units])
    check_finite(probs, config.detector, "clean")
    ctx.clean_probs = probs
    vids, ctx.clean_scores = metrics.aggregate_by_video(ctx.meta.video_ids, probs, config.aggregate)
    _, ctx.labels = metrics.video_labels(ctx.meta.video_ids, np.asarray(ctx.meta.labels))
    ctx.video_ids = list(vids)
    if val_units:
        val_meta = plan_meta(val_units, ctx.refs, spec.kind)
        val_probs = np.concatenate([np.asarray(records[u.index]["p"], dtype=np.float64) for u in val_units])
        check_finite(val_probs, config.detector, "clean validation")
        _, val_scores = metrics.aggregate_by_video(val_meta.video_ids, val_probs, config.aggregate)
        _, val_labels = metrics.video_labels(val_meta.video_ids, np.asarray(val_meta.labels))
    else:  # validating on the evaluated videos themselves (split val, or an unseen dataset)
        val_scores, val_labels = ctx.clean_scores, ctx.labels
    both = len(set(val_labels.tolist())) == 2
    ctx.threshold = metrics.threshold_balanced(val_labels, val_scores) if both else 0.5
    n_val_real, n_val_fake = int((val_labels == 0).sum()), int((val_labels == 1).sum())
    ctx.threshold_val_fpr = metrics.threshold_at_fpr(val_labels, val_scores, VAL_FPR) if n_val_real else None
    ctx.thresholds = threshold_provenance(n_val_real, n_val_fake, both, ctx.threshold_source)
