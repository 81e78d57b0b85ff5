"""JPEG re-compression: every frame encoded as a JPEG at ``quality`` and decoded back.

A perturbation, not an optimized attack: no gradients, no budget (``norm = None``). It models
the re-compression a face crop meets when shared online, which erases the high-frequency traces
many detectors rely on. Pixels are quantized to uint8 first (as any stored image is).

Two codecs (``backend``):

* ``libjpeg`` (the default): OpenCV's libjpeg-turbo codec (``cv2.imencode`` / ``cv2.imdecode``,
  4:2:0 chroma subsampling, the IJG quality scale: byte-identical to the CPU path of
  ``torchvision.io.encode_jpeg`` / ``decode_jpeg``) on the CPU, whatever the input's device. The
  default because its result does not depend on the device or the GPU model: the same input
  gives the same bytes on every machine, so results and baselines made anywhere compare. The
  cost is one host round trip of the frames per call (not per frame).
* ``nvjpeg``: NVIDIA's nvJPEG through torchvision (``encode_jpeg`` / ``decode_jpeg`` on lists
  of CUDA uint8 tensors, the whole batch in one call each). The pixels never leave the GPU;
  only the compressed bytes (a few KB a frame) go to the host and back, because torchvision's
  nvJPEG decoder reads its input from host memory. nvJPEG's quantization tables, colour
  conversion and rounding differ from libjpeg's, so the output is close to (a few grey levels
  from) the ``libjpeg`` output but not equal, and may differ between GPU models and driver
  versions: use it for speed, not for numbers that are compared with runs made elsewhere. It
  needs CUDA input (a CPU batch is an error, not a silent fallback).

Default ``quality = 75`` (libjpeg's and PIL's default). Its straight-through / EOT
differentiable version would be a separate, named attack.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from harness.attacks import register_attack
from harness.attacks._base import Attack, AttackConfig, AttackModel, require

BACKENDS = ("libjpeg", "nvjpeg")


@dataclass(frozen=True)
class JPEGConfig(AttackConfig):
    quality: int = 75  # 1..100
    # libjpeg (CPU, same numbers on every device) | nvjpeg (CUDA input only, close but not equal)
    backend: str = "libjpeg"

    def __post_init__(self) -> None:
        super().__post_init__()
        require(1 <= self.quality <= 100, f"quality must be in 1..100, got {self.quality}")
        require(self.backend in BACKENDS, f"backend must be one of {BACKENDS}, got {self.backend!r}")


def jpeg_roundtrip(frame: np.ndarray, quality: int) -> np.ndarray:
    """Encode one ``(H, W, 3)`` uint8 RGB frame as JPEG at ``quality`` and decode it."""
    import cv2

    ok, buf = cv2.imencode(
        ".jpg", np.ascontiguousarray(frame[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, quality]
    )
    if not ok:
        raise RuntimeError(f"jpeg: OpenCV could not encode a {frame.shape} frame")
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1]


def nvjpeg_roundtrip(frames: Tensor, quality: int) -> Tensor:
    """Encode ``(N, 3, H, W)`` uint8 CUDA frames as JPEGs at ``quality`` with nvJPEG and decode them.

    Batched: one ``encode_jpeg`` and one ``decode_jpeg`` call on lists. The result is on the
    input's device; only the compressed bytes cross to the host (in one copy).
    """
    if not frames.is_cuda:
        raise ValueError(
            f"jpeg: backend 'nvjpeg' needs CUDA input, got a batch on {frames.device}: run on a CUDA "
            "device or use the CPU codec with --set attack.backend=libjpeg"
        )
    from torchvision.io import ImageReadMode, decode_jpeg, encode_jpeg

    with warnings.catch_warnings():  # torchvision 0.29 deprecates its image codecs (torchcodec)
        warnings.simplefilter("ignore", DeprecationWarning)
        encoded = encode_jpeg(list(frames.contiguous()), quality=quality)
        sizes = [int(e.numel()) for e in encoded]
        host = torch.cat(encoded).cpu().split(sizes)  # nvJPEG decodes from host memory
        decoded = decode_jpeg(list(host), mode=ImageReadMode.RGB, device=frames.device)
    return torch.stack(decoded)


def jpeg_frames(frames: Tensor, quality: int, backend: str = "libjpeg") -> Tensor:
    """``(N, 3, H, W)`` [0,1] frames -> their JPEG round trip at ``quality`` (8-bit values as
    [0,1] floats of the input's dtype, on its device): libjpeg on the host, or nvJPEG on CUDA."""
    if backend == "nvjpeg":
        out = nvjpeg_roundtrip(quantize_uint8(frames), quality)
    else:
        host = to_uint8(frames).permute(0, 2, 3, 1).numpy()  # (N, H, W, 3)
        coded = np.stack([jpeg_roundtrip(frame, quality) for frame in host])
        out = torch.from_numpy(coded).permute(0, 3, 1, 2)
    return out.to(device=frames.device, dtype=frames.dtype).div_(255)


def quantize_uint8(frames: Tensor) -> Tensor:
    """``[0,1]`` float -> uint8 (rounded), on the input's device."""
    return frames.detach().mul(255).round_().clamp_(0, 255).to(torch.uint8)


def to_uint8(frames: Tensor) -> Tensor:
    """``[0,1]`` float -> uint8 on the CPU (rounded)."""
    return quantize_uint8(frames).cpu()


@register_attack
class JPEG(Attack):
    """JPEG re-compression at a quality (perturbation, no gradient)."""

    Config = JPEGConfig
    strength = "quality"

    def run(self, model: AttackModel, x: Tensor, y: Tensor) -> Tensor:
        frames = model.frames(x).flatten(0, 1)  # (n*T, 3, H, W)
        return jpeg_frames(frames, self.config.quality, self.config.backend).reshape(x.shape)
