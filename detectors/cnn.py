"""The seeds' custom CNN: a small from-scratch baseline.

Three blocks of (conv 3x3 with 32/64/128 filters + ReLU + 2x2 max-pool), then flatten (default)
or global average pooling, dense 256 + ReLU, dropout 0.5 and one (fake) logit.
"""

from __future__ import annotations

from torch import nn

from harness.detectors import register_detector
from harness.detectors._base import (
    NO_NORM_MEAN,
    NO_NORM_STD,
    DetectorSpec,
    FrameDetector,
    as_size,
    check_num_logits,
)


@register_detector
def cnn(
    *,
    input_size: int | tuple[int, int] = (128, 128),
    pool: str = "flatten",
    widths: tuple[int, int, int] = (32, 64, 128),
    hidden: int = 256,
    dropout: float = 0.5,
    num_logits: int = 1,
) -> FrameDetector:
    """Custom CNN; ``pool`` is ``"flatten"`` (the seeds') or ``"avg"`` (any input size)."""
    size = as_size(input_size)
    if pool not in ("flatten", "avg"):
        raise ValueError(f"cnn: pool must be 'flatten' or 'avg', got {pool!r}")
    layers: list[nn.Module] = []
    channels = 3
    h, w = size
    for width in widths:
        layers += [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2)]
        channels, h, w = width, h // 2, w // 2
    if h < 1 or w < 1:
        raise ValueError(f"cnn: input_size {size} is too small for {len(widths)} poolings")
    if pool == "avg":
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        num_features = channels
    else:
        layers.append(nn.Flatten())
        num_features = channels * h * w
    head = nn.Sequential(
        nn.Linear(num_features, hidden),
        nn.ReLU(inplace=True),
        nn.Dropout(dropout),
        nn.Linear(hidden, check_num_logits(num_logits)),
    )
    spec = DetectorSpec(
        kind="frame",
        input_size=size,
        mean=NO_NORM_MEAN,
        std=NO_NORM_STD,
        reference="seed 001 custom CNN (Keras Conv2D 32/64/128, Dense 256, Dropout 0.5, sigmoid)",
    )
    detector = FrameDetector(spec, nn.Sequential(*layers), head, num_features)
    detector.cam_layer = f"trunk.{3 * len(widths) - 2}"  # the ReLU after the last conv
    return detector
