"""Metrics as pure functions of per-frame and per-video records (lm-evaluation-harness, AutoAttack).

Conventions: label 1 = fake (the positive class), 0 = real; a score is the fake probability (higher =
more fake) and a sample is predicted fake when ``score >= threshold``. Decision thresholds are fixed on
*clean validation* scores (:func:`threshold_at_fpr`, :func:`threshold_balanced`) and then applied
unchanged to clean and attacked test scores, as a deployed detector would be.

Every function is side-effect free and returns plain numbers or numpy arrays. Import-light: only numpy
at import time; scikit-learn is imported by the functions that use it. Undefined values (AUROC of a
single class, a rate with an empty denominator) are ``nan``, never an exception, so one sparse split
does not kill a whole report; malformed input (labels other than 0/1, mismatched lengths, non-finite
scores where a ranking is needed) raises ``ValueError``.

Modules: :mod:`~harness.metrics.ranking` (AUROC, ROC, EER), :mod:`~harness.metrics.thresholds`
(thresholds and rates at a threshold), :mod:`~harness.metrics.aggregate` (frame -> video),
:mod:`~harness.metrics.perturbation` (PSNR, norms), :mod:`~harness.metrics.bootstrap` (confidence
intervals) and :mod:`~harness.metrics.summary` (one run's report).
"""

from harness.metrics.aggregate import AGGREGATIONS, aggregate_by_video, aggregate_video, video_labels
from harness.metrics.bootstrap import (
    auroc_drop_ci,
    auroc_with_ci,
    boot_aurocs,
    bootstrap_ci,
    percentile_ci,
)
from harness.metrics.perturbation import perturbation_stats, psnr
from harness.metrics.ranking import auroc, eer, roc_points
from harness.metrics.summary import summarize
from harness.metrics.thresholds import (
    accuracy,
    attack_success_rate,
    fpr_at,
    threshold_at_fpr,
    threshold_balanced,
    tpr_at,
)

__all__ = [
    "AGGREGATIONS",
    "accuracy",
    "aggregate_by_video",
    "aggregate_video",
    "attack_success_rate",
    "auroc",
    "auroc_drop_ci",
    "auroc_with_ci",
    "boot_aurocs",
    "bootstrap_ci",
    "eer",
    "fpr_at",
    "percentile_ci",
    "perturbation_stats",
    "psnr",
    "roc_points",
    "summarize",
    "threshold_at_fpr",
    "threshold_balanced",
    "tpr_at",
    "video_labels",
]
