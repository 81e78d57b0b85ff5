"""The single-logit wrap and the wrapper for a researcher's own model."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from harness.detectors import create_detector
from harness.detectors._base import wrap_model


def test_single_logit_is_padded_so_softmax_equals_sigmoid() -> None:
    model = create_detector("cnn", input_size=32)
    x = torch.rand(4, 3, 32, 32)
    with torch.no_grad():
        out = model(x)
        z = model.logits((x - model.mean) / model.std)
    assert z.shape == (4, 1)
    assert torch.equal(out[:, 0], torch.zeros(4))
    assert torch.allclose(out.softmax(1)[:, 1], torch.sigmoid(z[:, 0]), atol=1e-6)


def test_padded_logit_gives_cross_entropy_a_real_gradient() -> None:
    # With one raw logit, cross-entropy over a single class is constant: zero gradient.
    model = create_detector("cnn", input_size=32)
    x = torch.rand(2, 3, 32, 32, requires_grad=True)
    raw = model.logits((x - model.mean) / model.std)
    (g_raw,) = torch.autograd.grad(F.cross_entropy(raw, torch.zeros(2, dtype=torch.long)), x)
    assert g_raw.abs().sum() == 0
    (g,) = torch.autograd.grad(F.cross_entropy(model(x), torch.ones(2, dtype=torch.long)), x)
    assert g.abs().sum() > 0


def test_wrap_model_puts_any_module_behind_the_contract() -> None:
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
    det = wrap_model(net, name="mine", input_size=24, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    x = torch.rand(3, 3, 24, 24)
    assert det(x).shape == (3, 2)
    assert torch.allclose(det(x), net((x - 0.5) / 0.25))
    with pytest.raises(ValueError):
        det(x * 4)


def test_head_returning_the_wrong_shape_is_caught() -> None:
    det = wrap_model(nn.Flatten(), name="bad", input_size=4)
    with pytest.raises(RuntimeError, match="not \\(N,1\\|2\\)"):
        det(torch.rand(2, 3, 4, 4))
