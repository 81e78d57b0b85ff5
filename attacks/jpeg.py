"""JPEG re-compression: every frame encoded as a JPEG at ``quality`` and decoded back.

A perturbation, not an optimized attack: no gradients, no budget (``norm = None``). It models
the re-compression a face crop meets when shared online, which erases the high-frequency traces
many detectors rely on. Pixels are quantized to uint8 first (as any stored image is).

Implementation: OpenCV's libjpeg-turbo codec (``cv2.imencode`` / ``cv2.imdecode``, 4:2:0
chroma subsampling, the IJG quality scale: byte-identical to ``torchvision.io.encode_jpeg`` /
``decode_jpeg``, whose image codecs torchvision 0.29 deprecates) on the CPU, whatever the
input's device: the result then does not depend on the device (nvJPEG's quantization and colour
conversion differ from libjpeg's), and the cost is one host round trip per call, not per frame.
Default ``quality = 75`` (libjpeg's and PIL's default). Its straight-through / EOT
differentiable version would be a separate, named attack.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from harness.attacks import register_attack
from harness.attacks._base import Attack, AttackConfig, AttackModel, require


@dataclass(frozen=True)
class JPEGConfig(AttackConfig):
    quality: int = 75

    def __post_init__(self) -> None:
        super().__post_init__()
        require(1 <= self.quality <= 100, f"quality must be in 1..100, got {self.quality}")


def jpeg_roundtrip(frame: np.ndarray, quality: int) -> np.ndarray:
    """Encode one ``(H, W, 3)`` uint8 RGB frame as JPEG at ``quality`` and decode it."""
    import cv2

    ok, buf = cv2.imencode(
        ".jpg", np.ascontiguousarray(frame[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, quality]
    )
    if not ok:
        raise RuntimeError(f"jpeg: OpenCV could not encode a {frame.shape} frame")
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1]


def to_uint8(frames: Tensor) -> Tensor:
    """``[0,1]`` float -> uint8 on the CPU (rounded)."""
    return frames.detach().mul(255).round_().clamp_(0, 255).to("cpu", torch.uint8)


@register_attack("jpeg")
class JPEG(Attack):
    """JPEG re-compression at a quality (perturbation, no gradient)."""

    name = "jpeg"
    Config = JPEGConfig
    strength = "quality"

    def run(self, model: AttackModel, x: Tensor, y: Tensor) -> Tensor:
        frames = to_uint8(model.frames(x).flatten(0, 1)).permute(0, 2, 3, 1).numpy()  # (n*T, H, W, 3)
        out = np.stack([jpeg_roundtrip(frame, self.config.quality) for frame in frames])
        out_t = torch.from_numpy(out).permute(0, 3, 1, 2)
        return out_t.to(device=x.device, dtype=x.dtype).div_(255).reshape(x.shape)
