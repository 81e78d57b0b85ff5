"""Input checks shared by the metric modules: labels, scores, ids and bootstrap settings.

Malformed input (labels other than 0/1, mismatched lengths, non-finite scores where a ranking is
needed) raises ``ValueError``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt


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


def _check_boot(n_boot: int, alpha: float) -> None:
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
