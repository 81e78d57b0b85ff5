"""Forensic front ends: fixed image transforms a detector applies to its ``[0,1]`` input first.

Every detector takes the option ``front`` (``harness.detectors.create_detector(name,
front=...)``); the front end sits inside the model, before the mean/std normalization, so the
detector contract, the attack budgets (``eps`` in pixel space) and every attack stay unchanged:

* ``none`` (default): no front end.
* ``srm``: the three SRM high-pass kernels of Zhou et al., "Learning Rich Features for Image
  Manipulation Detection" (RGB-N, CVPR 2018), as their noise stream uses them: a fixed 5x5
  convolution, 3 -> 3 channels, output channel ``k`` = kernel ``k`` applied to ``R + G + B``.
* ``srm30``: the 30 basic high-pass kernels of the Spatial Rich Model (Fridrich & Kodovsky,
  "Rich Models for Steganalysis of Digital Images", IEEE TIFS 2012), 5x5 (smaller ones padded),
  each with its SRM normalization, as the first layer of Ye, Ni & Yi (IEEE TIFS 2017) uses them:
  a fixed convolution of ``R + G + B``, 30 channels, then a *learnable* 1x1 convolution to 3
  channels so any trunk takes it (no fixed 30 -> 3 projection is canonical; the trunk learns
  which residuals matter).
* ``ela``: error-level analysis, ``|x - JPEG_q(x)| * scale`` on the 8-bit image (what a forensic
  tool computes), with a real JPEG codec (OpenCV's libjpeg, the one the ``jpeg`` perturbation
  uses); options ``ela_quality`` (default 90) and ``ela_scale`` (default 15).

ELA and gradients. The pipeline (8-bit rounding, JPEG) is piecewise constant in ``x``, so its
true gradient is zero almost everywhere: by default (``bpda=False``) autograd computes exactly
that (the rounding's gradient is zero), a white-box attack sees zero input gradients and the
harness's ``zero_grad`` self-check and the leaderboard's ``zero-gradients`` flag report it as
masked. ``bpda=True`` keeps the forward pass bit-identical and replaces the backward pass by
BPDA (Athalye, Carlini & Wagner, ICML 2018): rounding -> identity, the codec -> kornia's
differentiable JPEG at the same quality. ``bpda`` changes gradients only, so it may be switched
on when loading a checkpoint trained without it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

FRONTS = ("none", "srm", "srm30", "ela")
ELA_QUALITY = 90
ELA_SCALE = 15.0

# -- SRM kernels (data) ----------------------------------------------------------------------------
# Zhou et al. 2018 (RGB-N), their SRM layer: KB 3x3 "square" (/4), KV 5x5 "square" (/12) and the
# second-order horizontal residual (/2), each padded to 5x5.
SRM3_KERNELS = (
    ((0, 0, 0, 0, 0), (0, -1, 2, -1, 0), (0, 2, -4, 2, 0), (0, -1, 2, -1, 0), (0, 0, 0, 0, 0)),
    ((-1, 2, -2, 2, -1), (2, -6, 8, -6, 2), (-2, 8, -12, 8, -2), (2, -6, 8, -6, 2), (-1, 2, -2, 2, -1)),
    ((0, 0, 0, 0, 0), (0, 0, 0, 0, 0), (0, 1, -2, 1, 0), (0, 0, 0, 0, 0), (0, 0, 0, 0, 0)),
)
SRM3_DIVISORS = (4.0, 12.0, 2.0)

# The SRM's 30 basic residual kernels (Fridrich & Kodovsky 2012, Fig. 2), 5x5 centred at (2, 2):
# (base kernel, number of 90-degree rotations, divisor). Directional classes are one base kernel
# and its rotations: 1st order 8 (4 axial + 4 diagonal), 2nd order 4 (2 + 2), 3rd order 8
# (4 + 4), SQUARE 3x3 1, SQUARE 5x5 1, EDGE 3x3 4, EDGE 5x5 4.
_Z = (0, 0, 0, 0, 0)
_FIRST_AXIAL = (_Z, _Z, (0, 0, -1, 1, 0), _Z, _Z)
_FIRST_DIAG = (_Z, (0, 0, 0, 1, 0), (0, 0, -1, 0, 0), _Z, _Z)
_SECOND_AXIAL = (_Z, _Z, (0, 1, -2, 1, 0), _Z, _Z)
_SECOND_DIAG = (_Z, (0, 0, 0, 1, 0), (0, 0, -2, 0, 0), (0, 1, 0, 0, 0), _Z)
_THIRD_AXIAL = (_Z, _Z, (0, 1, -3, 3, -1), _Z, _Z)
_THIRD_DIAG = ((0, 0, 0, 0, -1), (0, 0, 0, 3, 0), (0, 0, -3, 0, 0), (0, 1, 0, 0, 0), _Z)
_SQUARE3 = (_Z, (0, -1, 2, -1, 0), (0, 2, -4, 2, 0), (0, -1, 2, -1, 0), _Z)
_SQUARE5 = SRM3_KERNELS[1]
_EDGE3 = (_Z, (0, -1, 2, -1, 0), (0, 2, -4, 2, 0), _Z, _Z)
_EDGE5 = ((-1, 2, -2, 2, -1), (2, -6, 8, -6, 2), (-2, 8, -12, 8, -2), _Z, _Z)
SRM30_CLASSES = (  # (name, base, rotations, divisor)
    ("1st", _FIRST_AXIAL, 4, 1.0),
    ("1st-diag", _FIRST_DIAG, 4, 1.0),
    ("2nd", _SECOND_AXIAL, 2, 2.0),
    ("2nd-diag", _SECOND_DIAG, 2, 2.0),
    ("3rd", _THIRD_AXIAL, 4, 3.0),
    ("3rd-diag", _THIRD_DIAG, 4, 3.0),
    ("square3x3", _SQUARE3, 1, 4.0),
    ("square5x5", _SQUARE5, 1, 12.0),
    ("edge3x3", _EDGE3, 4, 4.0),
    ("edge5x5", _EDGE5, 4, 12.0),
)


def srm3_kernels() -> Tensor:
    """``(3, 5, 5)`` float64: Zhou et al.'s three SRM kernels with their normalizations."""
    return torch.stack(
        [torch.tensor(k, dtype=torch.float64) / d for k, d in zip(SRM3_KERNELS, SRM3_DIVISORS, strict=True)]
    )


def srm30_kernels() -> Tensor:
    """``(30, 5, 5)`` float64: the SRM's 30 basic high-pass kernels with their normalizations."""
    out = []
    for _, base, rotations, divisor in SRM30_CLASSES:
        k = np.asarray(base, dtype=np.float64) / divisor
        out += [np.rot90(k, r).copy() for r in range(rotations)]
    return torch.from_numpy(np.stack(out))


class _PerFrame(nn.Module):
    """Applies :meth:`frames` to ``(N,3,H,W)`` or, for clip detectors, every frame of ``(N,T,3,H,W)``."""

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim == 5:
            n, t = x.shape[:2]
            y = self.frames(x.flatten(0, 1))
            return y.reshape(n, t, *y.shape[1:])
        return self.frames(x)

    def frames(self, x: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError


class SRMFilter(_PerFrame):
    """Fixed SRM high-pass filter bank on ``R + G + B`` (``srm``: 3 kernels; ``srm30``: 30 kernels
    and a learnable 1x1 convolution to 3 channels)."""

    def __init__(self, bank: str = "srm") -> None:
        super().__init__()
        kernels = srm3_kernels() if bank == "srm" else srm30_kernels()
        # (out, in=3, 5, 5): every input channel gets the same kernel, i.e. the kernel of R+G+B.
        weight = kernels.float().unsqueeze(1).expand(-1, 3, -1, -1).contiguous()
        self.register_buffer("weight", weight, persistent=False)  # fixed: not a parameter
        self.bank = bank
        self.mix = nn.Conv2d(30, 3, 1) if bank == "srm30" else None

    def frames(self, x: Tensor) -> Tensor:
        y = F.conv2d(x, self.weight.to(x.dtype), padding=2)
        return self.mix(y) if self.mix is not None else y

    def extra_repr(self) -> str:
        return f"bank={self.bank}, kernels={self.weight.shape[0]}"


class ELA(_PerFrame):
    """Error-level analysis ``|x8 - JPEG_q(x8)| * scale`` (``x8``: ``x`` rounded to 8 bits).

    ``bpda=False``: the true (zero) gradient. ``bpda=True``: same forward values, BPDA backward
    (rounding -> identity, codec -> kornia's differentiable JPEG at ``quality``).
    """

    def __init__(self, quality: int = ELA_QUALITY, scale: float = ELA_SCALE, bpda: bool = False) -> None:
        super().__init__()
        if not 1 <= int(quality) <= 100:
            raise ValueError(f"ela_quality must be in 1..100, got {quality}")
        if not float(scale) > 0:
            raise ValueError(f"ela_scale must be > 0, got {scale}")
        self.quality = int(quality)
        self.scale = float(scale)
        self.bpda = bool(bpda)

    def frames(self, x: Tensor) -> Tensor:
        from harness.codecs import jpeg_frames

        x8 = torch.round(x * 255) / 255  # d round / dx = 0: the honest gradient of the pipeline
        jpeg = jpeg_frames(x, self.quality)  # the `jpeg` perturbation's libjpeg round trip
        ela = (x8 - jpeg).abs() * self.scale
        if not self.bpda:
            return ela
        # BPDA: forward stays `ela` exactly; backward is that of the approximation below. The codec
        # cannot be approximated by the identity (straight-through): d(x - J(x))/dx would be
        # I - I = 0, no gradient at all; kornia's differentiable JPEG keeps what the codec removes.
        from kornia.enhance import jpeg_codec_differentiable

        quality = torch.tensor([float(self.quality)], device=x.device, dtype=x.dtype)
        approx = jpeg_codec_differentiable(x, quality)  # no clamp: its gradient is 0 at 0 and 1
        # d|d|/dd = sign of the real difference; where it is 0 (the kink), the approximation's sign.
        diff = x8 - jpeg
        sign = torch.where(diff != 0, diff.sign(), (x - approx).detach().sign()).detach()
        surrogate = sign * (x - approx) * self.scale  # rounding -> identity, codec -> kornia's
        return ela.detach() + (surrogate - surrogate.detach())

    def extra_repr(self) -> str:
        return f"quality={self.quality}, scale={self.scale:g}, bpda={self.bpda}"


def front_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """The front-end options of a detector's options, normalized (defaults filled in), checked."""
    front = str(options.get("front", "none") or "none").lower()
    if front not in FRONTS:
        raise ValueError(f"front must be one of {', '.join(FRONTS)}, got {options.get('front')!r}")
    ela_only = [k for k in ("bpda", "ela_quality", "ela_scale") if k in options]
    if front != "ela" and ela_only:
        raise ValueError(f"{', '.join(ela_only)} apply to front=ela only (front={front})")
    out: dict[str, Any] = {"front": front}
    if front == "ela":
        out.update(
            bpda=_as_bool(options.get("bpda", False)),
            ela_quality=int(options.get("ela_quality", ELA_QUALITY)),
            ela_scale=float(options.get("ela_scale", ELA_SCALE)),
        )
    return out


def architecture(options: Mapping[str, Any]) -> dict[str, Any]:
    """What a checkpoint must match: the front-end options less ``bpda`` (gradients only)."""
    out = front_options(options)
    out.pop("bpda", None)
    return out


def build_front(options: Mapping[str, Any]) -> nn.Module | None:
    """The front-end module for a detector's options (``None`` for ``front=none``)."""
    opts = front_options(options)
    if opts["front"] == "none":
        return None
    if opts["front"] == "ela":
        return ELA(opts["ela_quality"], opts["ela_scale"], opts["bpda"])
    return SRMFilter(opts["front"])


def _as_bool(value: Any) -> bool:
    if isinstance(value, str):
        if value.lower() in ("true", "1", "yes", "on"):
            return True
        if value.lower() in ("false", "0", "no", "off"):
            return False
        raise ValueError(f"bpda must be true or false, got {value!r}")
    return bool(value)
