"""The CNN-LSTM clip detector: options, and attackability in eval mode."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from harness.detectors import create_detector


def test_default_is_resnext50_with_one_lstm_layer() -> None:
    model = create_detector("cnn_lstm", hidden_size=16)
    assert model.spec.kind == "clip" and model.spec.frames_per_clip == 20
    assert model.spec.input_size == (112, 112)
    assert type(model.trunk).__name__ == "ResNet" and model.trunk.num_features == 2048
    assert model.lstm.num_layers == 1 and not model.lstm.bidirectional


def test_xception_bilstm_variant_reuses_the_zoo_trunk_and_its_normalization() -> None:
    model = create_detector(
        "cnn_lstm", backbone="xception", bidirectional=True, hidden_size=8, input_size=64, frames_per_clip=2
    )
    assert model.lstm.bidirectional and model.head[-1].in_features == 16
    assert model.spec.mean == (0.5, 0.5, 0.5)
    assert "Xception" in model.spec.reference or "xception" in model.spec.reference
    assert model(torch.rand(1, 2, 3, 64, 64)).shape == (1, 2)


def test_any_clip_length_is_accepted() -> None:
    model = create_detector("cnn_lstm", backbone="cnn", input_size=32, hidden_size=8, frames_per_clip=4)
    for t in (1, 4, 7):
        assert model(torch.rand(2, t, 3, 32, 32)).shape == (2, 2)


def test_unknown_backbone_lists_the_choices() -> None:
    with pytest.raises(ValueError, match="xception"):
        create_detector("cnn_lstm", backbone="not_a_model")


def _eval_gradient(device: str) -> None:
    model = create_detector(
        "cnn_lstm", backbone="cnn", input_size=32, hidden_size=8, frames_per_clip=3, dropout=0.5
    ).to(device)
    model.eval()
    x = torch.rand(2, 3, 3, 32, 32, device=device, requires_grad=True)
    logits = model(x)
    (grad,) = torch.autograd.grad(F.cross_entropy(logits, torch.tensor([0, 1], device=device)), x)
    assert grad.abs().sum() > 0
    assert not model.training
    with torch.no_grad():  # dropout really is off: the attacked function is the evaluated one
        torch.testing.assert_close(model(x), logits.detach(), atol=1e-5, rtol=1e-5)


def test_input_gradients_flow_in_eval_mode_on_cpu() -> None:
    _eval_gradient("cpu")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_input_gradients_flow_in_eval_mode_on_cuda_despite_cudnn() -> None:
    _eval_gradient("cuda")
