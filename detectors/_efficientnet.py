"""EfficientNet (Tan & Le, ICML 2019) frame detectors from timm, at each variant's paper resolution.

EfficientNets were the backbone of the top DFDC entries (Seferbekov's B7 at 380px; B4 in
Bonettini et al., ICPR 2020). Each variant has its own file (``efficientnet_b1.py``, ...: file
name = registry key) and builds through :func:`efficientnet`.
"""

from __future__ import annotations

import os

from harness.detectors._base import IMAGENET_MEAN, IMAGENET_STD, FrameDetector
from harness.detectors._timm import timm_frame_detector

_REFERENCE = "Tan & Le, EfficientNet, ICML 2019; Bonettini et al., ICPR 2020 (deepfakes); timm {}"


def efficientnet(
    variant: str,
    input_size: int | tuple[int, int],
    num_logits: int,
    dropout: float,
    backbone_weights: str | os.PathLike[str] | None,
) -> FrameDetector:
    """The timm model ``variant`` (e.g. ``"efficientnet_b4"``) with a linear real/fake head."""
    return timm_frame_detector(
        model_name=variant,
        input_size=input_size,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        reference=_REFERENCE.format(variant),
        num_logits=num_logits,
        dropout=dropout,
        backbone_weights=backbone_weights,
        cam_layer="bn2",  # conv_head + batch norm + SiLU: the map global pooling reads
    )
