"""Image codec round trips shared by the detectors' forensic front ends and the attacks.

Below both packages on purpose: the ELA front end (``harness.detectors``) and the ``jpeg`` and
``h264`` perturbations (``harness.attacks``) use the same 8-bit quantization and the same libjpeg
round trip, and neither package imports the other. See :mod:`harness.attacks.jpeg` for the two
backends (``libjpeg``: the same bytes on every machine; ``nvjpeg``: CUDA, close but not equal).
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from torch import Tensor

JPEG_BACKENDS = ("libjpeg", "nvjpeg")


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


__all__ = ["JPEG_BACKENDS", "jpeg_frames", "jpeg_roundtrip", "nvjpeg_roundtrip", "quantize_uint8", "to_uint8"]
