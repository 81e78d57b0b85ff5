"""Small geometry and mask helpers of the synthetic faces: similarity transforms, soft masks,
smooth noise fields."""

from __future__ import annotations

import cv2
import numpy as np


# -- small geometry helpers -------------------------------------------------------------------
def similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity transform (2x3) mapping points ``src`` onto ``dst``."""
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    ms, md = src.mean(0), dst.mean(0)
    s, d = src - ms, dst - md
    denom = (s**2).sum()
    a = (s * d).sum() / denom
    b = (s[:, 0] * d[:, 1] - s[:, 1] * d[:, 0]).sum() / denom
    rot = np.array([[a, -b], [b, a]])
    return np.hstack([rot, (md - rot @ ms)[:, None]])


def compose(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """2x3 affine ``outer`` after ``inner``."""
    o = np.vstack([outer, [0.0, 0.0, 1.0]])
    i = np.vstack([inner, [0.0, 0.0, 1.0]])
    return (o @ i)[:2]


def apply(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    pts = np.asarray(pts, dtype=np.float64)
    return pts @ m[:, :2].T + m[:, 2]


def ellipse_mask(
    shape: tuple[int, int],
    center: tuple[float, float],
    axes: tuple[float, float],
    angle_deg: float = 0.0,
    feather: float = 0.0,
) -> np.ndarray:
    """Float32 mask in [0, 1] of an ellipse, edges blurred by a Gaussian of sigma ``feather``."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    t = np.deg2rad(angle_deg)
    dx, dy = xx - center[0], yy - center[1]
    u = (dx * np.cos(t) + dy * np.sin(t)) / max(axes[0], 1e-3)
    v = (-dx * np.sin(t) + dy * np.cos(t)) / max(axes[1], 1e-3)
    mask = ((u * u + v * v) <= 1.0).astype(np.float32)
    if feather > 0:
        mask = cv2.GaussianBlur(mask, (0, 0), feather)
    return mask


def _poly_mask(shape: tuple[int, int], pts: list[tuple[float, float]], feather: float) -> np.ndarray:
    mask = np.zeros(shape, np.float32)
    cv2.fillPoly(mask, [np.round(np.asarray(pts) * 4).astype(np.int32)], 1.0, cv2.LINE_AA, shift=2)
    return cv2.GaussianBlur(mask, (0, 0), feather) if feather > 0 else mask


def _skin_likelihood(rgb: np.ndarray) -> np.ndarray:
    """Soft skin mask from the YCrCb chroma (classic Cr/Cb box, smoothed)."""
    ycc = cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb)
    cr, cb = ycc[..., 1] * 255, ycc[..., 2] * 255
    m = ((cr > 135) & (cr < 180) & (cb > 80) & (cb < 130)).astype(np.float32)
    return cv2.GaussianBlur(m, (0, 0), 2.0)


def _smooth_field(rng: np.random.Generator, shape: tuple[int, int], cells: int) -> np.ndarray:
    """Low-frequency noise in about [-1, 1] (random grid upsampled bicubically)."""
    grid = rng.uniform(-1, 1, size=(cells + 1, cells + 1)).astype(np.float32)
    return cv2.resize(grid, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC)
