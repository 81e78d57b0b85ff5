"""Frame detectors built on a timm backbone: trunk = timm model without classifier, head = linear.

Constructors never load weights: the trunk is built with ``pretrained=False`` and, only when the
user passes ``backbone_weights=PATH``, filled from that local file.
"""

from __future__ import annotations

import os

from torch import nn

from harness.detectors._base import DetectorSpec, FrameDetector, as_size, check_num_logits
from harness.detectors._weights import load_backbone_weights


def timm_trunk(
    model_name: str, backbone_weights: str | os.PathLike[str] | None = None, **kwargs: object
) -> tuple[nn.Module, int]:
    """A timm model returning pooled ``(N, F)`` features; optionally filled from a local file."""
    import timm

    trunk = timm.create_model(model_name, pretrained=False, num_classes=0, **kwargs)
    if backbone_weights is not None:
        load_backbone_weights(trunk, backbone_weights, f"timm {model_name}")
    return trunk, int(trunk.num_features)


def timm_frame_detector(
    *,
    model_name: str,
    input_size: int | tuple[int, int],
    mean: tuple[float, float, float],
    std: tuple[float, float, float],
    reference: str,
    num_logits: int,
    dropout: float,
    backbone_weights: str | os.PathLike[str] | None,
    cam_layer: str | None = None,
) -> FrameDetector:
    """``cam_layer``: the trunk's Grad-CAM layer (default: timm's last feature stage)."""
    trunk, num_features = timm_trunk(model_name, backbone_weights)
    head = nn.Sequential(nn.Dropout(dropout), nn.Linear(num_features, check_num_logits(num_logits)))
    spec = DetectorSpec(kind="frame", input_size=as_size(input_size), mean=mean, std=std, reference=reference)
    detector = FrameDetector(spec, trunk, head, num_features)
    detector.cam_layer = f"trunk.{cam_layer or timm_cam_layer(trunk)}"
    return detector


def timm_cam_layer(trunk: nn.Module) -> str:
    """timm's last feature stage (``feature_info[-1]``), e.g. ``layer4`` for a ResNet."""
    return str(trunk.feature_info[-1]["module"])  # type: ignore[index]
