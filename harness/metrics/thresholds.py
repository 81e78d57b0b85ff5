"""Decision thresholds fit on clean validation scores, and the rates they give on test scores
(accuracy, TPR, FPR, attack success rate). A sample is predicted fake when ``score >= threshold``."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from harness.metrics._checks import _labels, _scores


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
