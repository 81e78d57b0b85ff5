"""The surrogate a source is attacked through: the source detector behind a differentiable copy
of the harness's crop resize, so the attack runs at the stored crop size.

Detectors read different input sizes (the demo cnn 64 px, the demo Meso-4 128 px, Xception
299 px), but every target must see the same adversarial image. The attack therefore runs on the
crop as stored in the face cache (``faces.crop_size``, 256 px by default), through
:func:`resize_matrix`: OpenCV's ``INTER_AREA`` (shrinking, an antialiased box filter) or
``INTER_LINEAR`` (growing) written as a linear map, so the attack follows the gradient of exactly
the resize its examples will go through. :func:`through_resize` wraps this as a harness detector
whose input is the crop-size image, so the attack's budget check and its 8-bit rounding inside
the budget apply at the stored resolution.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn


def resize_matrix(n_in: int, n_out: int) -> Tensor:
    """``(n_out, n_in)`` weights of OpenCV's uint8 crop resize along one axis, as a linear map.

    Shrinking: ``INTER_AREA``, each output pixel the mean of the input pixels its box covers
    (fractional coverage at the box edges), an antialiased box filter; growing: ``INTER_LINEAR``
    with half-pixel centres and clamped edges. ``A @ x @ B.T`` is then differentiable and equals
    :func:`~harness.faces.resize_crops` on the same image up to its 8-bit rounding (and
    OpenCV's fixed-point weights when growing): measured within 0.5/255 shrinking 256 px crops to
    32-224 px, 0.8/255 growing them to 299 and 380 px.
    """
    m = torch.zeros(n_out, n_in, dtype=torch.float64)
    scale = n_in / n_out
    if n_out <= n_in:
        for i in range(n_out):
            a, b = i * scale, (i + 1) * scale
            for j in range(math.floor(a), min(n_in, math.ceil(b))):
                m[i, j] = (min(b, j + 1) - max(a, j)) / scale
        return m
    for i in range(n_out):
        f = (i + 0.5) * scale - 0.5
        s = math.floor(f)
        f -= s
        if s < 0:
            s, f = 0, 0.0
        if s >= n_in - 1:
            s, f = n_in - 1, 0.0
        m[i, s] += 1 - f
        if f > 0:
            m[i, s + 1] += f
    return m


class _ResizeInto(nn.Module):
    """The source detector behind :func:`resize_matrix` resizes of its ``(N,3,H,W)`` input."""

    def __init__(self, source: nn.Module, size: tuple[int, int]) -> None:
        super().__init__()
        self.source = source
        self.size = tuple(int(v) for v in size)
        self._maps: dict[tuple[Any, ...], tuple[Tensor, Tensor]] = {}

    def _map(self, x: Tensor) -> tuple[Tensor, Tensor]:
        key = (*x.shape[-2:], x.device, x.dtype)
        if key not in self._maps:
            h, w = x.shape[-2:]
            rows = resize_matrix(h, self.size[0]).to(x.device, x.dtype)
            cols = resize_matrix(w, self.size[1]).to(x.device, x.dtype)
            self._maps[key] = (rows, cols.T.contiguous())
        return self._maps[key]

    def forward(self, x: Tensor) -> Tensor:
        if tuple(x.shape[-2:]) != self.size:
            rows, cols_t = self._map(x)
            x = (rows @ x @ cols_t).clamp(0.0, 1.0)
        with self.source.range_check(False):  # the wrapper checked its input; the resize keeps [0,1]
            return self.source(x)


def through_resize(source: Any, crop_size: tuple[int, int]) -> Any:
    """``source`` behind the detector contract at ``crop_size``: the attack's input is the stored
    crop, resized inside (differentiably) to the source's input size.

    Normalization stays in the source (the wrapper's is the identity); the source's own [0,1]
    check is off inside (the wrapper checks its input, and the resize keeps values in [0,1]).
    """
    from harness.detectors import wrap_model

    spec = source.spec
    h, w = (int(v) for v in crop_size)
    return wrap_model(
        _ResizeInto(source, spec.input_size),
        name=f"{spec.name}@{h}x{w}",
        input_size=(h, w),
        reference=f"{spec.name} through a differentiable resize from {h}x{w} to "
        f"{spec.input_size[0]}x{spec.input_size[1]} (harness transfer)",
    ).eval()


__all__ = ["resize_matrix", "through_resize"]
