"""Certificates of randomized smoothing as pure functions: confidence bounds, certified score
ranges, class certificates and the certified AUROC.

The smoothed score ``g(x) = E[f(x + N(0, sigma^2 I))]`` of a ``[0, 1]``-valued ``f`` satisfies:
``Phi^-1(g)`` is ``1/sigma``-Lipschitz in ``x`` (Salman et al., NeurIPS 2019, Lemma 2; for a
hard decision ``f`` in ``{0, 1}`` this is Cohen et al., ICML 2019, Theorem 1). So from an interval
``[lo, hi]`` holding ``g(x)``, every ``x + d`` with ``||d||_2 <= r`` has

    g(x + d) in [Phi(Phi^-1(lo) - r / sigma), Phi(Phi^-1(hi) + r / sigma)]   (:func:`certified_range`).

The interval comes from ``n`` Bernoulli draws whose mean is ``g(x)`` (:func:`clopper_pearson`):
exact for a binomial count, valid for any ``n``. A video's score is a monotone aggregate of its
frames' (mean, median, max, mean of logits), so its certified range at ``r`` is the aggregate of
the frame lows and of the frame highs: an attacker with an L2 budget ``r`` *per frame* can push it
no further. The certified AUROC at ``r`` (:func:`certified_auroc_curve`) scores every fake video
at its lowest certified score and every real one at its highest: a lower bound on the AUROC of
``g`` under any such attack, holding when every frame's interval holds (each fails with
probability at most ``alpha``; all of them hold with probability at least
``1 - frames * alpha``, the union bound).

scipy is imported by the functions that use it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from harness.metrics.aggregate import aggregate_by_video, video_labels
from harness.metrics.bootstrap import boot_aurocs, percentile_ci
from harness.metrics.ranking import auroc


def _counts(k: npt.ArrayLike, n: int) -> np.ndarray:
    k = np.asarray(k, dtype=np.float64)
    if n < 1 or np.any(k < 0) or np.any(k > n) or np.any(k != np.round(k)):
        raise ValueError(f"counts must be integers in [0, n={n}]")
    return k


def clopper_pearson(k: npt.ArrayLike, n: int, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Two-sided ``1 - alpha`` Clopper-Pearson interval ``(lo, hi)`` of a binomial proportion from
    ``k`` successes in ``n`` draws (vectorized): each end fails with probability at most
    ``alpha / 2``. ``lo = 0`` at ``k = 0``, ``hi = 1`` at ``k = n``."""
    from scipy.stats import beta

    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    k = _counts(k, n)
    with np.errstate(invalid="ignore"):
        lo = np.where(k > 0, beta.ppf(alpha / 2, k, n - k + 1), 0.0)
        hi = np.where(k < n, beta.ppf(1 - alpha / 2, k + 1, n - k), 1.0)
    return lo.astype(np.float64), hi.astype(np.float64)


def lower_confidence_bound(k: npt.ArrayLike, n: int, alpha: float) -> np.ndarray:
    """One-sided ``1 - alpha`` Clopper-Pearson lower bound (Cohen et al.'s ``LowerConfBound``)."""
    from scipy.stats import beta

    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    k = _counts(k, n)
    with np.errstate(invalid="ignore"):
        return np.where(k > 0, beta.ppf(alpha, k, n - k + 1), 0.0).astype(np.float64)


def certified_range(
    lo: npt.ArrayLike, hi: npt.ArrayLike, sigma: float, radius: float
) -> tuple[np.ndarray, np.ndarray]:
    """The range of ``g`` over the L2 ball of ``radius`` around ``x``, given ``g(x)`` in
    ``[lo, hi]`` and noise level ``sigma``: ``[Phi(Phi^-1(lo) - r/sigma), Phi(Phi^-1(hi) + r/sigma)]``."""
    from scipy.special import ndtr, ndtri

    if not sigma > 0 or not radius >= 0:
        raise ValueError(f"need sigma > 0 and radius >= 0, got sigma={sigma}, radius={radius}")
    lo = np.clip(np.asarray(lo, dtype=np.float64), 0.0, 1.0)
    hi = np.clip(np.asarray(hi, dtype=np.float64), 0.0, 1.0)
    shift = float(radius) / float(sigma)
    return ndtr(ndtri(lo) - shift), ndtr(ndtri(hi) + shift)


def frame_certificates(
    k0: npt.ArrayLike, n0: int, k: npt.ArrayLike, n: int, alpha: float, sigma: float
) -> tuple[np.ndarray, np.ndarray]:
    """Cohen et al.'s CERTIFY for two classes, per frame: ``(prediction, radius)``.

    ``k0``: fake draws among ``n0`` selection samples (the class with more draws is selected; a
    tie selects real, as ``argmax`` does); ``k``: fake draws among ``n`` independent estimation
    samples. With ``p_A`` the one-sided ``1 - alpha`` lower bound on the selected class's
    probability, the prediction is that class with radius ``sigma * Phi^-1(p_A)`` when
    ``p_A >= 0.5``, else ``-1`` (abstain) with radius 0: what ART's ``certify`` returns.
    """
    from scipy.special import ndtri

    k0 = _counts(k0, n0)
    k = _counts(k, n)
    selected = (k0 > n0 - k0).astype(np.int64)  # 1: fake
    count = np.where(selected == 1, k, n - k)
    p_a = lower_confidence_bound(count, n, alpha)
    certified = p_a >= 0.5
    prediction = np.where(certified, selected, -1)
    radius = np.where(certified, sigma * ndtri(np.clip(p_a, 0.5, 1.0)), 0.0)
    return prediction.astype(np.int64), radius.astype(np.float64)


def certified_accuracy(
    prediction: npt.ArrayLike, radius: npt.ArrayLike, labels: npt.ArrayLike, r: float
) -> float:
    """Fraction of samples predicted correctly with a certified radius of at least ``r``."""
    prediction, radius, labels = (np.asarray(v) for v in (prediction, radius, labels))
    if prediction.size == 0:
        return float("nan")
    return float(np.mean((prediction == labels) & (radius >= r)))


def certified_video_scores(
    video_ids: npt.ArrayLike,
    frame_labels: npt.ArrayLike,
    lo: npt.ArrayLike,
    hi: npt.ArrayLike,
    sigma: float,
    radius: float,
    how: str = "mean",
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per video: ``(ids, labels, low, high)``, the certified range of its score at ``radius``
    (the ``how`` aggregate of its frames' certified lows and highs; every aggregate of
    :data:`~harness.metrics.AGGREGATIONS` is monotone in each frame's score)."""
    f_lo, f_hi = certified_range(lo, hi, sigma, radius)
    ids, v_lo = aggregate_by_video(video_ids, f_lo, how)
    _, v_hi = aggregate_by_video(video_ids, f_hi, how)
    _, labels = video_labels(video_ids, frame_labels)
    return ids, labels, v_lo, v_hi


def worst_case_scores(labels: npt.ArrayLike, low: npt.ArrayLike, high: npt.ArrayLike) -> np.ndarray:
    """Every fake (label 1) at its ``low`` score, every real at its ``high`` one."""
    return np.where(
        np.asarray(labels) == 1, np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)
    )


def certified_auroc_curve(
    video_ids: npt.ArrayLike,
    frame_labels: npt.ArrayLike,
    lo: npt.ArrayLike,
    hi: npt.ArrayLike,
    sigma: float,
    radii: Sequence[float],
    how: str = "mean",
    n_boot: int = 1000,
    seed: int = 0,
    ci_alpha: float = 0.05,
) -> list[dict[str, Any]]:
    """The certified AUROC at each radius with a bootstrap interval over videos (every radius on
    the same resamples): ``[{"radius", "certified_auroc", "certified_auroc_ci"}, ...]``.

    ``lo``/``hi``: each frame's interval on ``g`` (e.g. :func:`clopper_pearson`)."""
    columns, labels = [], None
    for r in radii:
        _, labels, v_lo, v_hi = certified_video_scores(video_ids, frame_labels, lo, hi, sigma, r, how)
        columns.append(worst_case_scores(labels, v_lo, v_hi))
    if not columns:
        return []
    boots = boot_aurocs(labels, columns, None, n_boot, seed) if n_boot > 0 else None
    out = []
    for j, (r, scores) in enumerate(zip(radii, columns, strict=True)):
        ci = percentile_ci(boots[:, j], ci_alpha, 0.1) if boots is not None else (math.nan, math.nan)
        out.append(
            {
                "radius": float(r),
                "certified_auroc": auroc(labels, scores),
                "certified_auroc_ci": [ci[0], ci[1]],
            }
        )
    return out


__all__ = [
    "certified_accuracy",
    "certified_auroc_curve",
    "certified_range",
    "certified_video_scores",
    "clopper_pearson",
    "frame_certificates",
    "lower_confidence_bound",
    "worst_case_scores",
]
