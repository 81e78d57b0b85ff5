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
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import numpy.typing as npt

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

AGGREGATIONS = ("mean", "median", "max", "mean_logit")
_LOGIT_EPS = 1e-7
# Bootstrap work is done in chunks of at most this many (resample x row) weights (~16 MiB of float64).
_CHUNK_ELEMENTS = 1 << 21


# -- input checks ----------------------------------------------------------------------------------
def _labels(labels: npt.ArrayLike) -> np.ndarray:
    """1-D boolean array (True = fake); anything but 0/1 (or bool) is an error."""
    y = np.asarray(labels)
    if y.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {y.shape}")
    if y.dtype == bool:
        return y
    if y.size and not np.isin(y, (0, 1)).all():
        bad = np.unique(y[~np.isin(y, (0, 1))])[:5].tolist()
        raise ValueError(f"labels must be 0 (real) or 1 (fake), got {bad}")
    return y.astype(bool)


def _scores(scores: npt.ArrayLike, n: int, name: str = "scores", finite: bool = True) -> np.ndarray:
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {s.shape}")
    if s.shape[0] != n:
        raise ValueError(f"{name} has {s.shape[0]} entries but labels have {n}")
    if finite and not np.isfinite(s).all():
        raise ValueError(f"{name} contain {int((~np.isfinite(s)).sum())} non-finite values")
    return s


def _both_classes(y: np.ndarray) -> bool:
    return bool(y.any()) and not bool(y.all())


def _factorize(ids: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """(unique ids in first-appearance order, integer code of each row)."""
    a = np.asarray(ids)
    if a.ndim != 1:
        raise ValueError(f"ids must be 1-D, got shape {a.shape}")
    try:
        uniq, first, inverse = np.unique(a, return_index=True, return_inverse=True)
    except TypeError:  # unorderable mixed types: fall back to a dict
        codes: dict[Any, int] = {}
        inv = np.fromiter((codes.setdefault(v, len(codes)) for v in a.tolist()), dtype=np.intp, count=a.size)
        out = np.empty(len(codes), dtype=object)
        out[:] = list(codes)
        return out, inv
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return uniq[order], rank[inverse.reshape(-1)]


# -- ranking metrics -------------------------------------------------------------------------------
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


# -- thresholds (fit on clean validation scores) ---------------------------------------------------
def _class_scores(labels: npt.ArrayLike, scores: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    y = _labels(labels)
    s = _scores(scores, y.size)
    return np.sort(s[y]), np.sort(s[~y])


def _count_at_or_above(sorted_values: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    return sorted_values.size - np.searchsorted(sorted_values, thresholds, side="left")


def threshold_at_fpr(labels: npt.ArrayLike, scores: npt.ArrayLike, fpr: float = 0.01) -> float:
    """Decision threshold with false-positive rate at most ``fpr`` on these (clean validation) scores.

    Returns the smallest *observed* score ``t`` with ``#{real >= t} / #real <= fpr``, so that the
    bound holds on the given data; candidates are the observed scores (as in ``roc_curve``), which
    keeps the threshold a data value rather than a point an epsilon above one. Reals tied at the
    boundary are all excluded together (the threshold moves above the tie), never split. When no
    observed score meets the bound (the top score is a real one and ``fpr * #real < 1``), the next
    float above the top score is returned: nothing in this data is flagged. ``fpr >= 1`` returns
    ``-inf`` (flag everything). Raises ``ValueError`` when there are no real samples.
    """
    if not 0.0 <= fpr <= 1.0:
        raise ValueError(f"fpr must be in [0, 1], got {fpr}")
    _, real = _class_scores(labels, scores)
    if real.size == 0:
        raise ValueError("threshold_at_fpr needs at least one real (label 0) score")
    if fpr >= 1.0:
        return float("-inf")
    candidates = np.unique(np.asarray(scores, dtype=np.float64))
    allowed = fpr * real.size + 1e-9  # tolerance for fpr * n that is an integer up to rounding
    ok = _count_at_or_above(real, candidates) <= allowed  # monotone: False ... False True ... True
    if not ok.any():
        return float(np.nextafter(candidates[-1], np.inf))
    return float(candidates[int(np.argmax(ok))])


def threshold_balanced(labels: npt.ArrayLike, scores: npt.ArrayLike) -> float:
    """Threshold maximizing Youden's J = TPR - FPR (equivalently balanced accuracy) on these scores.

    The best cut is searched among the observed scores (among equally good ones the smallest,
    so the result is deterministic), and the threshold is placed halfway between that score and
    the next lower observed score: it classifies these scores exactly as the cut does, but on a
    separable validation split it sits between the classes (midway between the highest real
    below it and the lowest fake) instead of on the lowest validation fake, where any test fake
    a hair lower would count as missed. Fit on clean validation scores, then use it for accuracy
    and attack success rate on test data. Raises ``ValueError`` unless both classes are present.
    """
    fake, real = _class_scores(labels, scores)
    if fake.size == 0 or real.size == 0:
        raise ValueError("threshold_balanced needs both real (0) and fake (1) scores")
    candidates = np.unique(np.concatenate([fake, real]))
    j = _count_at_or_above(fake, candidates) / fake.size - _count_at_or_above(real, candidates) / real.size
    best = int(np.argmax(j))
    if best == 0:
        return float(candidates[0])
    return float((candidates[best] + candidates[best - 1]) / 2)


# -- rates at a threshold --------------------------------------------------------------------------
def _rate(hits: np.ndarray) -> float:
    return float(hits.mean()) if hits.size else float("nan")


def accuracy(labels: npt.ArrayLike, scores: npt.ArrayLike, threshold: float) -> float:
    """Fraction of samples whose prediction (fake iff ``score >= threshold``) matches the label."""
    y = _labels(labels)
    s = _scores(scores, y.size, finite=False)
    return _rate((s >= threshold) == y)


def tpr_at(labels: npt.ArrayLike, scores: npt.ArrayLike, threshold: float) -> float:
    """True-positive rate (fakes detected) at ``threshold``; ``nan`` without fakes."""
    y = _labels(labels)
    s = _scores(scores, y.size, finite=False)
    return _rate(s[y] >= threshold)


def fpr_at(labels: npt.ArrayLike, scores: npt.ArrayLike, threshold: float) -> float:
    """False-positive rate (reals flagged as fake) at ``threshold``; ``nan`` without reals."""
    y = _labels(labels)
    s = _scores(scores, y.size, finite=False)
    return _rate(s[~y] >= threshold)


def attack_success_rate(
    labels: npt.ArrayLike, clean_scores: npt.ArrayLike, adv_scores: npt.ArrayLike, threshold: float
) -> dict[str, float | int]:
    """Among samples classified correctly on clean input, the fraction misclassified after attack.

    Samples already wrong on clean input are excluded: an attack cannot be credited with them.
    ``fake`` is the evasion rate (fakes pushed to "real"), ``real`` the false-alarm rate (reals
    pushed to "fake"), ``all`` both together; each is ``nan`` when its denominator is 0. Counts
    ``n_{fake,real,all}_correct`` (denominators) and ``n_{fake,real,all}_success`` come with them.
    """
    y = _labels(labels)
    clean = _scores(clean_scores, y.size, "clean_scores", finite=False)
    adv = _scores(adv_scores, y.size, "adv_scores", finite=False)
    correct = (clean >= threshold) == y
    flipped = correct & ((adv >= threshold) != y)
    out: dict[str, float | int] = {}
    for key, mask in (("fake", y), ("real", ~y), ("all", np.ones_like(y))):
        n_correct = int((correct & mask).sum())
        n_success = int((flipped & mask).sum())
        out[key] = n_success / n_correct if n_correct else float("nan")
        out[f"n_{key}_correct"] = n_correct
        out[f"n_{key}_success"] = n_success
    return out


# -- frame -> video aggregation --------------------------------------------------------------------
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


# -- perturbation size -----------------------------------------------------------------------------
def psnr(x: npt.ArrayLike, x_adv: npt.ArrayLike, data_range: float = 1.0) -> np.ndarray:
    """Per-sample PSNR in dB (first axis = sample): ``10 log10(data_range^2 / MSE)``; ``inf`` where
    the sample is unchanged."""
    a = np.asarray(x, dtype=np.float64)
    b = np.asarray(x_adv, dtype=np.float64)
    if a.shape != b.shape or a.ndim == 0:
        raise ValueError(f"x and x_adv must have the same shape with a sample axis, got {a.shape}, {b.shape}")
    mse = np.mean((a - b) ** 2, axis=tuple(range(1, a.ndim)))
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(data_range**2 / mse)


def perturbation_stats(linf: npt.ArrayLike, l2: npt.ArrayLike, psnr: npt.ArrayLike) -> dict[str, float | int]:
    """Mean and max of per-sample L-inf and L2 perturbation norms, and PSNR summaries.

    Unchanged samples have infinite PSNR, which would make a mean meaningless: ``psnr_mean`` and
    ``psnr_max`` are over the finite values only, ``psnr_n_inf`` counts the unchanged samples and
    ``psnr_min`` (the most visible perturbation) is reported too. Empty input gives ``nan``.
    """
    out: dict[str, float | int] = {}
    for name, values in (("linf", linf), ("l2", l2)):
        v = np.asarray(values, dtype=np.float64).reshape(-1)
        out[f"{name}_mean"] = float(v.mean()) if v.size else float("nan")
        out[f"{name}_max"] = float(v.max()) if v.size else float("nan")
    p = np.asarray(psnr, dtype=np.float64).reshape(-1)
    finite = p[np.isfinite(p)]
    out["psnr_mean"] = float(finite.mean()) if finite.size else float("nan")
    out["psnr_max"] = float(finite.max()) if finite.size else float("nan")
    out["psnr_min"] = float(p.min()) if p.size else float("nan")
    out["psnr_n_inf"] = int(np.isposinf(p).sum())
    return out


# -- bootstrap -------------------------------------------------------------------------------------
def _resample_weights(
    n_rows: int, groups: npt.ArrayLike | None, n_boot: int, seed: int
) -> Iterator[np.ndarray]:
    """Chunks of bootstrap row weights, shape ``(b, n_rows)``: how often each row is drawn.

    Groups (or rows, without groups) are drawn with replacement; a row's weight is its group's
    count, so all rows of a group always come together.
    """
    if groups is None:
        codes = np.arange(n_rows)
    else:
        _, codes = _factorize(groups)
        if codes.size != n_rows:
            raise ValueError(f"groups has {codes.size} entries but labels have {n_rows}")
    n_groups = int(codes.max()) + 1 if codes.size else 0
    if n_groups == 0:
        yield np.zeros((n_boot, 0), dtype=np.int64)
        return
    rng = np.random.default_rng(seed)
    chunk = max(1, _CHUNK_ELEMENTS // max(n_rows, n_groups, 1))
    for start in range(0, n_boot, chunk):
        b = min(chunk, n_boot - start)
        draws = rng.integers(0, n_groups, size=(b, n_groups))
        draws += (np.arange(b) * n_groups)[:, None]
        counts = np.bincount(draws.reshape(-1), minlength=b * n_groups).reshape(b, n_groups)
        yield counts[:, codes]


def _weighted_auroc_fn(y: np.ndarray, s: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """Vectorized AUROC for row-weight matrices ``(b, n) -> (b,)`` (Mann-Whitney with half ties).

    Same value as ``roc_auc_score`` on the rows repeated by their weights; ``nan`` for a resample
    without both classes.
    """
    order = np.argsort(s, kind="stable")
    s_sorted = s[order]
    fake_sorted = y[order].astype(np.float64)
    starts = np.flatnonzero(np.r_[True, s_sorted[1:] != s_sorted[:-1]]) if s.size else np.zeros(0, np.intp)

    def fn(w: np.ndarray) -> np.ndarray:
        ws = w[:, order].astype(np.float64)
        if ws.shape[1] == 0:
            return np.full(ws.shape[0], np.nan)
        tot = np.add.reduceat(ws, starts, axis=1)  # weight per distinct score level
        pos = np.add.reduceat(ws * fake_sorted, starts, axis=1)
        neg = tot - pos
        below = np.cumsum(neg, axis=1) - neg
        num = (pos * (below + 0.5 * neg)).sum(axis=1)
        den = pos.sum(axis=1) * neg.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(den > 0, num / den, np.nan)

    return fn


def percentile_ci(values: np.ndarray, alpha: float, max_skip_frac: float) -> tuple[float, float]:
    """Percentile interval of bootstrap ``values``; NaN when too many resamples were undefined."""
    valid = values[~np.isnan(values)]
    if valid.size == 0 or (values.size - valid.size) > max_skip_frac * values.size:
        return float("nan"), float("nan")
    low, high = np.quantile(valid, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


def _check_boot(n_boot: int, alpha: float) -> None:
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")


def boot_aurocs(
    labels: npt.ArrayLike,
    score_sets: list[npt.ArrayLike],
    groups: npt.ArrayLike | None,
    n_boot: int,
    seed: int,
) -> np.ndarray:
    """Bootstrap AUROCs ``(n_boot, len(score_sets))``, every score set on the same resamples."""
    y = _labels(labels)
    fns = [_weighted_auroc_fn(y, _scores(s, y.size)) for s in score_sets]
    parts = [np.stack([fn(w) for fn in fns], axis=1) for w in _resample_weights(y.size, groups, n_boot, seed)]
    return np.concatenate(parts, axis=0)


def bootstrap_ci(
    metric: Callable[..., float],
    labels: npt.ArrayLike,
    scores: npt.ArrayLike,
    groups: npt.ArrayLike | None = None,
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
    max_skip_frac: float = 0.1,
    **extra_arrays: npt.ArrayLike,
) -> tuple[float, float]:
    """Percentile bootstrap ``(low, high)`` at level ``1 - alpha`` for ``metric(labels, scores, **extra)``.

    With ``groups`` (video ids, or source ids for video-level rows) whole groups are resampled with
    replacement, all rows of a drawn group together: frames of one video are not independent, and
    row resampling would give falsely narrow intervals. Without ``groups`` rows are resampled.
    ``extra_arrays`` (per-row arrays such as adversarial scores) are resampled with the same rows and
    passed to ``metric`` as keywords; bind scalar arguments (a threshold) with ``functools.partial``.

    Resamples holding a single class, or where the metric is ``nan``, are skipped; when more than
    ``max_skip_frac`` of them are, the interval is unreliable and ``(nan, nan)`` is returned.
    Deterministic for a given ``seed``. ``metric is auroc`` takes a vectorized path (all resamples at
    once, same draws and values as the generic loop).
    """
    _check_boot(n_boot, alpha)
    y = _labels(labels)
    s = _scores(scores, y.size, finite=metric is auroc)
    if metric is auroc and not extra_arrays:
        return percentile_ci(boot_aurocs(y, [s], groups, n_boot, seed)[:, 0], alpha, max_skip_frac)
    extra = {k: np.asarray(v) for k, v in extra_arrays.items()}
    for k, v in extra.items():
        if v.shape[:1] != (y.size,):
            raise ValueError(f"extra array {k!r} has shape {v.shape}; expected {y.size} rows")
    values = np.full(n_boot, np.nan)
    i = 0
    rows_all = np.arange(y.size)
    for w in _resample_weights(y.size, groups, n_boot, seed):
        for row_weights in w:
            rows = np.repeat(rows_all, row_weights)
            if _both_classes(y[rows]):
                values[i] = metric(y[rows], s[rows], **{k: v[rows] for k, v in extra.items()})
            i += 1
    return percentile_ci(values, alpha, max_skip_frac)


def auroc_with_ci(
    labels: npt.ArrayLike,
    scores: npt.ArrayLike,
    groups: npt.ArrayLike | None = None,
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
    max_skip_frac: float = 0.1,
) -> dict[str, float]:
    """AUROC with its bootstrap CI: ``{"value", "low", "high"}`` (see :func:`bootstrap_ci`)."""
    low, high = bootstrap_ci(
        auroc, labels, scores, groups, n_boot=n_boot, alpha=alpha, seed=seed, max_skip_frac=max_skip_frac
    )
    return {"value": auroc(labels, scores), "low": low, "high": high}


def auroc_drop_ci(
    labels: npt.ArrayLike,
    clean_scores: npt.ArrayLike,
    adv_scores: npt.ArrayLike,
    groups: npt.ArrayLike | None = None,
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
    max_skip_frac: float = 0.1,
) -> dict[str, float]:
    """AUROC drop (clean - attacked) with a *paired* bootstrap CI: ``{"value", "low", "high"}``.

    Each resample is applied to clean and attacked scores alike, so the between-sample variance the
    two share cancels and the interval is that of the drop itself, not of two independent AUROCs.
    """
    _check_boot(n_boot, alpha)
    boots = boot_aurocs(labels, [clean_scores, adv_scores], groups, n_boot, seed)
    low, high = percentile_ci(boots[:, 0] - boots[:, 1], alpha, max_skip_frac)
    return {"value": auroc(labels, clean_scores) - auroc(labels, adv_scores), "low": low, "high": high}


# -- report ----------------------------------------------------------------------------------------
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
