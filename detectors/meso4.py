"""Meso-4 (Afchar et al., WIFS 2018): four conv blocks and a small dense head, 256x256 input.

``create_detector("meso4", checkpoint="mesonet:Meso4_DF")`` loads the authors' published weights.
"""

from __future__ import annotations

from torch import nn

from harness.detectors import register_detector
from harness.detectors._base import as_size
from harness.detectors._meso import MesoNet, NHWCFlatten, conv_block, meso_head, meso_spec, pooled_size


@register_detector
def meso4(
    *, input_size: int | tuple[int, int] = (256, 256), dropout: float = 0.5, num_logits: int = 1
) -> MesoNet:
    """Meso-4; the published weights need the default 256x256 input."""
    size = as_size(input_size)
    trunk = nn.Sequential(
        conv_block(3, 8, 3, 2),
        conv_block(8, 8, 5, 2),
        conv_block(8, 16, 5, 2),
        conv_block(16, 16, 5, 4),
        NHWCFlatten(),
    )
    h, w = pooled_size(size, (2, 2, 2, 4))
    num_features = 16 * h * w
    return MesoNet(meso_spec(size), trunk, meso_head(num_features, num_logits, dropout), num_features)
