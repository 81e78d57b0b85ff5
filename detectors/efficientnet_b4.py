"""EfficientNet-B4 (Tan & Le, ICML 2019; timm) at its paper resolution, 380x380: see
:mod:`harness.detectors._efficientnet`.
"""

from __future__ import annotations

import os

from harness.detectors import register_detector
from harness.detectors._base import FrameDetector
from harness.detectors._efficientnet import efficientnet


@register_detector
def efficientnet_b4(
    *,
    input_size: int | tuple[int, int] = (380, 380),
    num_logits: int = 2,
    dropout: float = 0.4,
    backbone_weights: str | os.PathLike[str] | None = None,
) -> FrameDetector:
    """EfficientNet-B4, 380x380; ``backbone_weights`` is a local timm state dict."""
    return efficientnet("efficientnet_b4", input_size, num_logits, dropout, backbone_weights)
