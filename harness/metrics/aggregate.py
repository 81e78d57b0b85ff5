"""Frame -> video aggregation of scores (``mean``, ``median``, ``max``, ``mean_logit``) and per-video
labels, vectorized over all videos."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from harness.metrics._checks import _factorize, _labels, _scores

AGGREGATIONS = ("mean", "median", "max", "mean_logit")
_LOGIT_EPS = 1e-7


def _aggregate(codes: np.ndarray, n_groups: int, scores: np.ndarray, how: str) -> np.ndarray:
    if how not in AGGREGATIONS:
        raise ValueError(f"unknown aggregation {how!r}; choose one of {', '.join(AGGREGATIONS)}")
    counts = np.bincount(codes, minlength=n_groups)
    if how == "mean":
        return np.bincount(codes, weights=scores, minlength=n_groups) / counts
    if how == "mean_logit":
        p = np.clip(scores, _LOGIT_EPS, 1.0 - _LOGIT_EPS)
        z = np.bincount(codes, weights=np.log(p) - np.log1p(-p), minlength=n_groups) / counts
        return 1.0 / (1.0 + np.exp(-z))
    x = scores[np.lexsort((scores, codes))]  # grouped by code, ascending scores within a group
    starts = np.cumsum(counts) - counts
    if how == "max":
        return x[starts + counts - 1]
    return 0.5 * (x[starts + (counts - 1) // 2] + x[starts + counts // 2])  # median


def aggregate_video(frame_scores: npt.ArrayLike, how: str = "mean") -> float:
    """One video score from its frame scores: ``mean``, ``median``, ``max`` or ``mean_logit``.

    ``mean_logit`` = sigmoid(mean(logit(clip(p, 1e-7, 1 - 1e-7)))): averaging in logit space lets
    confident frames count more than a plain mean does without letting one frame decide, as ``max``
    does. Raises ``ValueError`` for an empty video or an unknown ``how``.
    """
    s = np.asarray(frame_scores, dtype=np.float64).reshape(-1)
    if s.size == 0:
        raise ValueError("aggregate_video got no frame scores")
    return float(_aggregate(np.zeros(s.size, dtype=np.intp), 1, s, how)[0])


def aggregate_by_video(
    video_ids: npt.ArrayLike, frame_scores: npt.ArrayLike, how: str = "mean"
) -> tuple[np.ndarray, np.ndarray]:
    """Vectorized :func:`aggregate_video` over all videos: ``(unique_ids, video_scores)``.

    Videos come out in order of first appearance in ``video_ids`` (frames need not be contiguous).
    """
    uniq, codes = _factorize(video_ids)
    s = _scores(frame_scores, codes.size, "frame_scores", finite=False)
    return uniq, _aggregate(codes, uniq.size, s, how)


def video_labels(video_ids: npt.ArrayLike, labels: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Per-video labels ``(unique_ids, labels)`` in first-appearance order (same order as
    :func:`aggregate_by_video`); a video whose frames disagree on the label is an error."""
    uniq, codes = _factorize(video_ids)
    y = _labels(labels)
    if y.size != codes.size:
        raise ValueError(f"labels has {y.size} entries but video_ids has {codes.size}")
    n_fake = np.bincount(codes, weights=y, minlength=uniq.size)
    n = np.bincount(codes, minlength=uniq.size)
    mixed = (n_fake > 0) & (n_fake < n)
    if mixed.any():
        raise ValueError(f"videos with both labels among their frames: {uniq[mixed][:5].tolist()}")
    return uniq, (n_fake > 0).astype(np.int64)
