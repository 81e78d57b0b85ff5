"""EfficientNet-B1/B3/B4 (Tan & Le, ICML 2019) from timm, at each variant's paper resolution.

EfficientNets were the backbone of the top DFDC entries (Seferbekov's B7 at 380px; B4 in
Bonettini et al., ICPR 2020). Three registry keys share this file, as timm's variants do.
"""

from __future__ import annotations

import os

from harness.detectors import register_detector
from harness.detectors._base import IMAGENET_MEAN, IMAGENET_STD, FrameDetector
from harness.detectors._timm import timm_frame_detector

_REFERENCE = "Tan & Le, EfficientNet, ICML 2019; Bonettini et al., ICPR 2020 (deepfakes); timm {}"


def _efficientnet(
    variant: str,
    input_size: int | tuple[int, int],
    num_logits: int,
    dropout: float,
    backbone_weights: str | os.PathLike[str] | None,
) -> FrameDetector:
    return timm_frame_detector(
        name=variant,
        model_name=variant,
        input_size=input_size,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        reference=_REFERENCE.format(variant),
        num_logits=num_logits,
        dropout=dropout,
        backbone_weights=backbone_weights,
    )


@register_detector("efficientnet_b1")
def efficientnet_b1(
    *,
    input_size: int | tuple[int, int] = (240, 240),
    num_logits: int = 2,
    dropout: float = 0.2,
    backbone_weights: str | os.PathLike[str] | None = None,
) -> FrameDetector:
    """EfficientNet-B1, 240x240; ``backbone_weights`` is a local timm state dict."""
    return _efficientnet("efficientnet_b1", input_size, num_logits, dropout, backbone_weights)


@register_detector("efficientnet_b3")
def efficientnet_b3(
    *,
    input_size: int | tuple[int, int] = (300, 300),
    num_logits: int = 2,
    dropout: float = 0.3,
    backbone_weights: str | os.PathLike[str] | None = None,
) -> FrameDetector:
    """EfficientNet-B3, 300x300; ``backbone_weights`` is a local timm state dict."""
    return _efficientnet("efficientnet_b3", input_size, num_logits, dropout, backbone_weights)


@register_detector("efficientnet_b4")
def efficientnet_b4(
    *,
    input_size: int | tuple[int, int] = (380, 380),
    num_logits: int = 2,
    dropout: float = 0.4,
    backbone_weights: str | os.PathLike[str] | None = None,
) -> FrameDetector:
    """EfficientNet-B4, 380x380; ``backbone_weights`` is a local timm state dict."""
    return _efficientnet("efficientnet_b4", input_size, num_logits, dropout, backbone_weights)
