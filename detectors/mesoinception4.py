"""MesoInception-4 (Afchar et al., WIFS 2018): two inception blocks with dilated 3x3
convolutions, then Meso-4's tail. 256x256 input.

``create_detector("mesoinception4", checkpoint="mesonet:MesoInception_DF")`` loads the authors'
published weights.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from harness.detectors import register_detector
from harness.detectors._base import as_size
from harness.detectors._meso import (
    KERAS_BN_EPS,
    MesoNet,
    NHWCFlatten,
    conv_block,
    meso_head,
    meso_spec,
    pooled_size,
)


def _conv(cin: int, cout: int, kernel: int, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, padding=dilation * (kernel // 2), dilation=dilation),
        nn.ReLU(inplace=True),
    )


class InceptionLayer(nn.Module):
    """Four branches: 1x1 | 1x1->3x3 | 1x1->3x3 dilated 2 | 1x1->3x3 dilated 3, concatenated.

    Submodules are declared in the Keras model's creation order (the weight importer relies on it).
    """

    def __init__(self, cin: int, a: int, b: int, c: int, d: int) -> None:
        super().__init__()
        self.branch1 = _conv(cin, a, 1)
        self.branch2 = nn.Sequential(_conv(cin, b, 1), _conv(b, b, 3))
        self.branch3 = nn.Sequential(_conv(cin, c, 1), _conv(c, c, 3, dilation=2))
        self.branch4 = nn.Sequential(_conv(cin, d, 1), _conv(d, d, 3, dilation=3))
        self.out_channels = a + b + c + d

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


def _inception_block(cin: int, a: int, b: int, c: int, d: int) -> nn.Sequential:
    layer = InceptionLayer(cin, a, b, c, d)
    return nn.Sequential(
        layer, nn.BatchNorm2d(layer.out_channels, eps=KERAS_BN_EPS), nn.MaxPool2d(2, ceil_mode=True)
    )


@register_detector
def mesoinception4(
    *, input_size: int | tuple[int, int] = (256, 256), dropout: float = 0.5, num_logits: int = 1
) -> MesoNet:
    """MesoInception-4; the published weights need the default 256x256 input."""
    size = as_size(input_size)
    trunk = nn.Sequential(
        _inception_block(3, 1, 4, 4, 2),
        _inception_block(11, 2, 4, 4, 2),
        conv_block(12, 16, 5, 2),
        conv_block(16, 16, 5, 4),
        NHWCFlatten(),
    )
    h, w = pooled_size(size, (2, 2, 2, 4))
    num_features = 16 * h * w
    spec = meso_spec(size)
    return MesoNet(spec, trunk, meso_head(num_features, num_logits, dropout), num_features)
