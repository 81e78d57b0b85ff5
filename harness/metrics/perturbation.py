"""Perturbation size: per-sample PSNR and summaries of L-inf, L2 and PSNR."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


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
