"""Cached uint8 crops -> a detector's input: resized crops and float tensors in [0,1]."""

from __future__ import annotations

from typing import Any

import numpy as np


def resize_crops(crops: np.ndarray, input_size: tuple[int, int]) -> np.ndarray:
    """uint8 ``(K,S,S,3)`` crops resized to ``(H, W)`` (area when shrinking, bilinear when growing)."""
    import cv2

    h, w = (int(v) for v in input_size)
    if crops.shape[1:3] == (h, w):
        return crops
    interp = cv2.INTER_AREA if crops.shape[1] > h else cv2.INTER_LINEAR
    return np.stack([cv2.resize(c, (w, h), interpolation=interp) for c in crops])


def crops_to_tensor(crops: np.ndarray, input_size: tuple[int, int]) -> Any:
    """uint8 ``(K,S,S,3)`` crops -> float ``(K,3,H,W)`` in [0,1] at a detector's input size.

    Resizing happens on uint8 images, so training, evaluation and attacks all start from the
    same pixels.
    """
    import torch

    resized = np.ascontiguousarray(resize_crops(crops, input_size))
    return torch.from_numpy(resized).permute(0, 3, 1, 2).float().div_(255.0)
