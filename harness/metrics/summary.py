"""The JSON-ready summary of one (detector, dataset, attack, budget) run at video level."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from harness.metrics._checks import _check_boot, _labels, _scores
from harness.metrics.bootstrap import boot_aurocs, percentile_ci
from harness.metrics.ranking import auroc, eer
from harness.metrics.thresholds import accuracy, attack_success_rate, fpr_at, tpr_at


def summarize(
    labels: npt.ArrayLike,
    clean_scores: npt.ArrayLike,
    adv_scores: npt.ArrayLike,
    *,
    threshold: float,
    threshold_val_fpr: float | None = None,
    attacked: npt.ArrayLike | None = None,
    groups: npt.ArrayLike | None = None,
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
) -> dict[str, float | int | list[float]]:
    """Flat, JSON-ready summary of one (detector, dataset, attack, budget) run at video level.

    ``labels``, ``clean_scores`` and ``adv_scores`` hold one entry per video; ``threshold`` (for
    accuracy and attack success: the balanced threshold of :func:`threshold_balanced`) and
    ``threshold_val_fpr`` (the :func:`threshold_at_fpr` threshold for the ``*_at_val_fpr``
    rates; ``nan`` entries when not given) are fixed on clean validation scores beforehand.
    ``attacked``: bool per video, the videos the attack was run on (its ``target``); attack
    success is counted over those only, so ``target=fake`` is not diluted by untouched reals
    (default: every video). ``groups`` are the bootstrap units (default: each video; pass
    source/identity ids to keep related videos together). All three AUROC intervals come from
    the same resamples. Values are Python ``float``/``int`` (``nan`` allowed); intervals are
    ``[low, high]`` lists.
    """
    y = _labels(labels)
    clean = _scores(clean_scores, y.size, "clean_scores")
    adv = _scores(adv_scores, y.size, "adv_scores")
    hit = np.ones_like(y) if attacked is None else np.asarray(attacked, dtype=bool)
    if hit.shape != y.shape:
        raise ValueError(f"attacked must have one entry per video ({y.size}), got shape {hit.shape}")
    _check_boot(n_boot, alpha)
    boots = boot_aurocs(y, [clean, adv], groups, n_boot, seed)
    ci = {
        "clean": percentile_ci(boots[:, 0], alpha, 0.1),
        "adv": percentile_ci(boots[:, 1], alpha, 0.1),
        "drop": percentile_ci(boots[:, 0] - boots[:, 1], alpha, 0.1),
    }
    auc_clean, auc_adv = auroc(y, clean), auroc(y, adv)
    t1 = float("nan") if threshold_val_fpr is None else float(threshold_val_fpr)
    nan = float("nan")
    out: dict[str, float | int | list[float]] = {
        "n_videos": int(y.size),
        "n_real": int((~y).sum()),
        "n_fake": int(y.sum()),
        "auroc_clean": auc_clean,
        "auroc_adv": auc_adv,
        "auroc_drop": auc_clean - auc_adv,
        "auroc_clean_ci": list(ci["clean"]),
        "auroc_adv_ci": list(ci["adv"]),
        "auroc_drop_ci": list(ci["drop"]),
        "ci_alpha": float(alpha),
        "n_boot": int(n_boot),
        "eer_clean": eer(y, clean),
        "eer_adv": eer(y, adv),
        "threshold": float(threshold),
        "acc_clean": accuracy(y, clean, threshold),
        "acc_adv": accuracy(y, adv, threshold),
        "threshold_val_fpr": t1,
        "tpr_at_val_fpr_clean": nan if math.isnan(t1) else tpr_at(y, clean, t1),
        "tpr_at_val_fpr_adv": nan if math.isnan(t1) else tpr_at(y, adv, t1),
        "fpr_at_val_fpr_clean": nan if math.isnan(t1) else fpr_at(y, clean, t1),
        "fpr_at_val_fpr_adv": nan if math.isnan(t1) else fpr_at(y, adv, t1),
        "n_videos_attacked": int(hit.sum()),
    }
    for key, value in attack_success_rate(y[hit], clean[hit], adv[hit], threshold).items():
        out[f"asr_{key}"] = value
    return out
