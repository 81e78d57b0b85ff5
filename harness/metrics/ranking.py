"""Ranking metrics, threshold-free: AUROC, the ROC curve and the equal error rate.
scikit-learn is imported by the functions that use it."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from harness.metrics._checks import _both_classes, _labels, _scores


def auroc(labels: npt.ArrayLike, scores: npt.ArrayLike) -> float:
    """Area under the ROC curve: P(fake scored above real), ties counting one half.

    Computed by ``sklearn.metrics.roc_auc_score``. Returns ``nan`` (never raises) when only one class
    is present or the input is empty, because AUROC is undefined there and a per-split report should
    still be produced.
    """
    y = _labels(labels)
    s = _scores(scores, y.size)
    if not _both_classes(y):
        return float("nan")
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, s))


def roc_points(labels: npt.ArrayLike, scores: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ROC curve ``(fpr, tpr, thresholds)`` for plotting (``sklearn.metrics.roc_curve``).

    Empty or single-class input has no ROC curve: three empty float arrays are returned.
    """
    y = _labels(labels)
    s = _scores(scores, y.size)
    if not _both_classes(y):
        empty = np.empty(0, dtype=np.float64)
        return empty, empty.copy(), empty.copy()
    from sklearn.metrics import roc_curve

    fpr, tpr, thr = roc_curve(y, s)
    return fpr.astype(np.float64), tpr.astype(np.float64), thr.astype(np.float64)


def eer(labels: npt.ArrayLike, scores: npt.ArrayLike) -> float:
    """Equal error rate: the error where FPR equals FNR (= 1 - TPR) on the ROC curve.

    The crossing is interpolated linearly between the two ROC points that bracket it (the ROC curve
    is piecewise linear, so this is exact for the curve). ``nan`` for empty or single-class input.
    """
    fpr, tpr, _ = roc_points(labels, scores)
    if fpr.size == 0:
        return float("nan")
    d = (1.0 - tpr) - fpr  # decreases from 1 at (0, 0) to -1 at (1, 1)
    i = int(np.argmax(d <= 0))
    if d[i] == 0 or i == 0:
        return float(fpr[i])
    t = d[i - 1] / (d[i - 1] - d[i])
    return float(fpr[i - 1] + t * (fpr[i] - fpr[i - 1]))
