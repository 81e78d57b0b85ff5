"""Bootstrap confidence intervals, resampled by group (video or source) so that related rows move
together; a vectorized AUROC evaluates all resamples at once."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import numpy.typing as npt

from harness.metrics._checks import _both_classes, _check_boot, _factorize, _labels, _scores
from harness.metrics.ranking import auroc

# Bootstrap work is done in chunks of at most this many (resample x row) weights (~16 MiB of float64).
_CHUNK_ELEMENTS = 1 << 21


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
