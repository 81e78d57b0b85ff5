"""ResNet-50 (He et al., CVPR 2016) with a linear real/fake head; 224x224, ImageNet normalization.

timm's ``resnet50`` has the same parameter names as torchvision's, so either library's ImageNet
state dict works as ``backbone_weights``.
"""

from __future__ import annotations

import os

from harness.detectors import register_detector
from harness.detectors._base import IMAGENET_MEAN, IMAGENET_STD, FrameDetector
from harness.detectors._timm import timm_frame_detector


@register_detector
def resnet50(
    *,
    input_size: int | tuple[int, int] = (224, 224),
    num_logits: int = 2,
    dropout: float = 0.0,
    backbone_weights: str | os.PathLike[str] | None = None,
) -> FrameDetector:
    """ResNet-50; ``backbone_weights`` is a local timm or torchvision ResNet-50 state dict."""
    return timm_frame_detector(
        model_name="resnet50",
        input_size=input_size,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        reference="He et al., Deep Residual Learning, CVPR 2016; timm resnet50",
        num_logits=num_logits,
        dropout=dropout,
        backbone_weights=backbone_weights,
        cam_layer="layer4",
    )
