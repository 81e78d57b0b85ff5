"""Xception (Chollet, CVPR 2017) as the FaceForensics++ baseline (Rossler et al., ICCV 2019).

timm's ``legacy_xception`` (the Cadene port the FF++ code used), 299x299 input normalized to
[-1, 1], two logits as in FF++.
"""

from __future__ import annotations

import os

from harness.detectors import register_detector
from harness.detectors._base import FrameDetector
from harness.detectors._timm import timm_frame_detector


@register_detector
def xception(
    *,
    input_size: int | tuple[int, int] = (299, 299),
    num_logits: int = 2,
    dropout: float = 0.0,
    backbone_weights: str | os.PathLike[str] | None = None,
) -> FrameDetector:
    """Xception; ``backbone_weights`` is a local timm ``legacy_xception`` state dict."""
    return timm_frame_detector(
        model_name="legacy_xception",
        input_size=input_size,
        mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5),
        reference="Rossler et al., FaceForensics++, ICCV 2019 (XceptionNet baseline); timm legacy_xception",
        num_logits=num_logits,
        dropout=dropout,
        backbone_weights=backbone_weights,
        cam_layer="act4",  # the last conv's rectified output, before global pooling
    )
