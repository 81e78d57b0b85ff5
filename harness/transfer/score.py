"""Scoring on a target: video scores of the clean crops and of each source's stored examples, and
the target's thresholds (fixed on clean validation scores, as in ``harness run``).

Every target, the source included, reads the stored uint8 crops through the harness's standard
uint8 crop resize (:func:`~harness.faces.resize_crops`, the path clean crops take), so what is
scored is exactly what an attacker could deliver.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from harness.transfer.config import TransferConfig
from harness.transfer.models import Model
from harness.transfer.store import StoreReader


@dataclass
class Clean:
    """A target's clean video scores on the evaluated videos and its thresholds."""

    ids: list[str]
    labels: np.ndarray
    scores: np.ndarray
    threshold: float
    threshold_val_fpr: float | None
    thresholds: dict[str, Any]  # how the thresholds were fixed (recorded in the result)


def video_scores(
    config: TransferConfig,
    prep: Any,
    refs: list[Any],
    model: Model,
    device: torch.device,
    reader: StoreReader | None = None,
    label: str = "",
    progress: bool = False,
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Video ids, labels and video scores of ``model`` on ``refs``: the cached clean crops, or the
    stored adversarial ones (``reader``), through the standard uint8 resize to its input size."""
    from tqdm import tqdm

    from harness import metrics
    from harness.stream import (
        UnitDataset,
        VideoRef,
        loader,
        plan_meta,
        plan_units,
        release_free_memory,
        to_device,
    )

    det = model.detector
    if reader is not None:  # stored crops are in the order of the video's picks
        refs = [VideoRef(r.video_id, r.label, tuple(range(len(r.crops))), r.frames) for r in refs]
    units = plan_units(refs, "frame", config.batch_size)
    dataset = UnitDataset(prep, refs, units, "frame", det.spec.input_size, reader)
    probs: dict[int, np.ndarray] = {}
    bar = tqdm(total=len(units), desc=label, unit="batch", disable=not progress)
    with torch.no_grad():
        for batch in loader(dataset, units, config.workers, device):
            x = to_device(batch["x"], device)
            probs[int(batch["unit"])] = (
                torch.softmax(det(x).float(), 1)[:, 1].cpu().numpy().astype(np.float64)
            )
            bar.update(1)
            release_free_memory()
    bar.close()
    p = np.concatenate([probs[u.index] for u in units])
    if not np.isfinite(p).all():
        raise FloatingPointError(f"{model.name}: non-finite scores ({label}); check the checkpoint")
    meta = plan_meta(units, refs, "frame")
    ids, scores = metrics.aggregate_by_video(meta.video_ids, p, config.aggregate)
    _, labels = metrics.video_labels(meta.video_ids, np.asarray(meta.labels))
    return [str(v) for v in ids], labels, scores


def clean_scores(
    config: TransferConfig,
    prep: Any,
    refs: list[Any],
    val_refs: list[Any],
    model: Model,
    device: torch.device,
) -> Clean:
    """``model``'s clean scores on ``refs`` and its thresholds: fixed on ``val_refs`` when there
    are any, else on the evaluated videos themselves (recorded as such)."""
    from harness import metrics
    from harness.runner import VAL_FPR, threshold_provenance

    ids, labels, scores = video_scores(config, prep, refs, model, device, label=f"clean {model.name}")
    if val_refs:
        _, val_labels, val_scores = video_scores(
            config, prep, val_refs, model, device, label=f"val {model.name}"
        )
        source = "clean validation scores"
    else:
        val_labels, val_scores = labels, scores
        source = "clean scores of the evaluated videos (no held-out split)"
    both = len(set(val_labels.tolist())) == 2
    n_real, n_fake = int((val_labels == 0).sum()), int((val_labels == 1).sum())
    return Clean(
        ids,
        labels,
        scores,
        metrics.threshold_balanced(val_labels, val_scores) if both else 0.5,
        metrics.threshold_at_fpr(val_labels, val_scores, VAL_FPR) if n_real else None,
        threshold_provenance(n_real, n_fake, both, source),
    )


__all__ = ["Clean", "clean_scores", "video_scores"]
