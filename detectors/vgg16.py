"""VGG16 (Simonyan & Zisserman, ICLR 2015) convolutional features with the seed's dense head:
global average pool -> 256 -> 128 -> 64 -> 1 (ReLU between, dropout after the first).

The trunk keeps torchvision's parameter names (``features.N.*``), so a local torchvision VGG16
ImageNet state dict works as ``backbone_weights`` (its classifier is ignored).
"""

from __future__ import annotations

import os

from torch import Tensor, nn

from harness.detectors import register_detector
from harness.detectors._base import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    DetectorSpec,
    FrameDetector,
    as_size,
    check_num_logits,
    dense_head,
)
from harness.detectors._weights import load_backbone_weights


class VGG16Trunk(nn.Module):
    """torchvision VGG16 ``features`` + global average pooling -> ``(N, 512)``."""

    def __init__(self) -> None:
        super().__init__()
        from torchvision.models import vgg16 as tv_vgg16

        self.features = tv_vgg16(weights=None).features
        self.pool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x: Tensor) -> Tensor:
        return self.pool(self.features(x)).flatten(1)


@register_detector
def vgg16(
    *,
    input_size: int | tuple[int, int] = (224, 224),
    hidden: tuple[int, ...] = (256, 128, 64),
    dropout: float = 0.5,
    num_logits: int = 1,
    backbone_weights: str | os.PathLike[str] | None = None,
) -> FrameDetector:
    """VGG16 + dense head; ``backbone_weights`` is a local torchvision VGG16 state dict."""
    trunk = VGG16Trunk()
    if backbone_weights is not None:
        load_backbone_weights(trunk, backbone_weights, "torchvision vgg16 (features.*)")
    head = dense_head(512, tuple(hidden), check_num_logits(num_logits), dropout)
    spec = DetectorSpec(
        kind="frame",
        input_size=as_size(input_size),
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        reference="Simonyan & Zisserman, ICLR 2015; seed 004 VGG16 transfer model (GAP-256-128-64-1)",
    )
    detector = FrameDetector(spec, trunk, head, 512)
    detector.cam_layer = "trunk.features.29"  # the ReLU after the last conv (before its max-pool)
    return detector
