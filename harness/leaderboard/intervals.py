"""Bootstrap intervals over the per-video records of several results, and the ensemble score.

The results of one row score the same videos with the same clean scores, so one set of resamples
(by video) goes through all of them: the interval of a minimum accounts for picking the minimum,
and differences are paired. Everything returns ``None`` (or NaN) where the records do not line up,
never a number computed from the wrong videos.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from harness.leaderboard.load import VideoRecords
from harness.results import interval

N_BOOT = 1000  # bootstrap resamples for the worst-case, ensemble, mean-drop and sanity-flag intervals
BOOT_SEED = 0
_ALPHA = 0.05  # 95% intervals
_MAX_SKIP = 0.1  # most resamples that may lack a class before an interval is undefined

Interval = tuple[float, float]


def _percentile_ci(values: np.ndarray) -> Interval | None:
    from harness import metrics

    return interval(list(metrics.percentile_ci(values, _ALPHA, _MAX_SKIP)))


def _boot(labels: np.ndarray, score_sets: Sequence[np.ndarray]) -> np.ndarray:
    from harness import metrics

    return metrics.boot_aurocs(labels, list(score_sets), None, N_BOOT, BOOT_SEED)


def aligned(
    base: VideoRecords, members: Sequence[VideoRecords]
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]] | None:
    """Labels, clean scores and each member's attacked scores on ``base``'s videos, or None."""
    advs = []
    for rec in members:
        if rec.ids == base.ids:
            if not np.array_equal(rec.labels, base.labels):
                return None
            advs.append(rec.adv)
            continue
        index = {v: i for i, v in enumerate(rec.ids)}
        if len(index) != len(base.ids) or any(v not in index for v in base.ids):
            return None
        idx = np.array([index[v] for v in base.ids])
        if not np.array_equal(rec.labels[idx], base.labels):
            return None
        advs.append(rec.adv[idx])
    return base.labels, base.clean, advs


def row_intervals(
    base: VideoRecords | None, members: Sequence[VideoRecords | None]
) -> tuple[Interval | None, Interval | None]:
    """Bootstrap 95% intervals of the worst case and the mean drop over ``members``."""
    if base is None or not members or any(m is None for m in members):
        return None, None
    lined_up = aligned(base, [m for m in members if m is not None])
    if lined_up is None or len(set(lined_up[0].tolist())) < 2:
        return None, None
    labels, clean, advs = lined_up
    boots = _boot(labels, [clean, *advs])
    worst = _percentile_ci(boots[:, 1:].min(axis=1))
    drop = _percentile_ci(boots[:, 0] - boots[:, 1:].mean(axis=1))
    return worst, drop


def ensemble_scores(labels: np.ndarray, advs: Sequence[np.ndarray]) -> np.ndarray:
    """AutoAttack's per-sample worst case over several attacks of the same samples: each fake takes
    the lowest attacked score any attack reached, each real the highest (label 1 = fake)."""
    stack = np.stack([np.asarray(a, dtype=np.float64) for a in advs])
    return np.where(np.asarray(labels) == 1, stack.min(axis=0), stack.max(axis=0))


def row_ensemble(members: Sequence[VideoRecords | None]) -> tuple[float, Interval | None]:
    """AUROC of :func:`ensemble_scores` over ``members`` and its bootstrap 95% interval
    (resampled by video, the same resamples as the worst case); ``nan`` without the records of
    every member on the same videos: a partial ensemble would be a wrong, too kind, number."""
    if not members or any(m is None for m in members):
        return math.nan, None
    present = [m for m in members if m is not None]
    lined_up = aligned(present[0], present)
    if lined_up is None or len(set(lined_up[0].tolist())) < 2:
        return math.nan, None
    from harness import metrics

    labels, _, advs = lined_up
    scores = ensemble_scores(labels, advs)
    return metrics.auroc(labels, scores), _percentile_ci(_boot(labels, [scores])[:, 0])


def paired_diff_ci(
    base: VideoRecords, scores_a: np.ndarray, other: VideoRecords | None = None
) -> Interval | None:
    """Paired bootstrap 95% interval of AUROC(``scores_a``) minus AUROC(``other.adv``, or
    ``base.clean`` without ``other``), on ``base``'s videos, resampled by video."""
    if other is None:
        labels, second = base.labels, base.clean
    else:
        lined_up = aligned(base, [other])
        if lined_up is None:
            return None
        labels, second = lined_up[0], lined_up[2][0]
    if len(set(labels.tolist())) < 2:
        return None
    boots = _boot(labels, [scores_a, second])
    return _percentile_ci(boots[:, 0] - boots[:, 1])
