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

from dataclasses import dataclass

from torch import Tensor

from harness.attacks import register_attack
from harness.attacks._base import Attack, AttackConfig, AttackModel, require

# The codec round trips live below both the attacks and the detectors (the ELA front end uses them).
from harness.codecs import JPEG_BACKENDS as BACKENDS
from harness.codecs import jpeg_frames, jpeg_roundtrip, nvjpeg_roundtrip, quantize_uint8, to_uint8

__all__ = [
    "JPEG",
    "JPEGConfig",
    "jpeg_frames",
    "jpeg_roundtrip",
    "nvjpeg_roundtrip",
    "quantize_uint8",
    "to_uint8",
]


@dataclass(frozen=True)
class JPEGConfig(AttackConfig):
    quality: int = 75  # 1..100
    # libjpeg (CPU, same numbers on every device) | nvjpeg (CUDA input only, close but not equal)
    backend: str = "libjpeg"

    def __post_init__(self) -> None:
        super().__post_init__()
        require(1 <= self.quality <= 100, f"quality must be in 1..100, got {self.quality}")
        require(self.backend in BACKENDS, f"backend must be one of {BACKENDS}, got {self.backend!r}")


@register_attack
class JPEG(Attack):
    """JPEG re-compression at a quality (perturbation, no gradient)."""

    Config = JPEGConfig
    strength = "quality"

    def run(self, model: AttackModel, x: Tensor, y: Tensor) -> Tensor:
        frames = model.frames(x).flatten(0, 1)  # (n*T, 3, H, W)
        return jpeg_frames(frames, self.config.quality, self.config.backend).reshape(x.shape)
