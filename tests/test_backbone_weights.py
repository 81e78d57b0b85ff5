"""backbone_weights=PATH: local timm/torchvision state dicts, never a download."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from harness.checkpoint import CheckpointError
from harness.detectors import create_detector


def test_timm_state_dict_fills_the_trunk_and_ignores_the_classifier(tmp_path: Path) -> None:
    import timm

    source = timm.create_model("resnet50", pretrained=False, num_classes=1000)
    path = tmp_path / "resnet50_imagenet.pth"
    torch.save(source.state_dict(), path)
    model = create_detector("resnet50", input_size=64, backbone_weights=path)
    assert torch.equal(model.trunk.conv1.weight, source.conv1.weight)
    assert torch.equal(model.trunk.layer4[2].bn3.running_var, source.layer4[2].bn3.running_var)


def test_torchvision_state_dicts_fit_resnet50_and_vgg16(tmp_path: Path) -> None:
    from torchvision.models import resnet50, vgg16

    tv_resnet = resnet50(weights=None)
    torch.save({"state_dict": tv_resnet.state_dict()}, tmp_path / "r.pth")  # wrapped, as many repos save
    model = create_detector("resnet50", input_size=64, backbone_weights=tmp_path / "r.pth")
    assert torch.equal(model.trunk.layer1[0].conv2.weight, tv_resnet.layer1[0].conv2.weight)

    tv_vgg = vgg16(weights=None)
    torch.save(tv_vgg.state_dict(), tmp_path / "v.pth")
    model = create_detector("vgg16", input_size=64, backbone_weights=tmp_path / "v.pth")
    assert torch.equal(model.trunk.features[28].weight, tv_vgg.features[28].weight)


def test_weights_of_another_network_are_refused_naming_the_file(tmp_path: Path) -> None:
    import timm

    path = tmp_path / "effnet.pth"
    torch.save(timm.create_model("efficientnet_b1", pretrained=False).state_dict(), path)
    with pytest.raises(CheckpointError, match="effnet.pth.*do not fit timm resnet50"):
        create_detector("resnet50", input_size=64, backbone_weights=path)


def test_backbone_weights_are_not_stored_as_an_option(tmp_path: Path) -> None:
    import timm

    from harness.checkpoint import load_checkpoint, save_checkpoint

    path = tmp_path / "x.pth"
    torch.save(timm.create_model("resnet50", pretrained=False).state_dict(), path)
    model = create_detector("resnet50", input_size=64, backbone_weights=path)
    ckpt = load_checkpoint(save_checkpoint(tmp_path / "m.pt", model))
    assert "backbone_weights" not in ckpt.overrides
    path.unlink()  # the checkpoint alone rebuilds the model
    assert create_detector("resnet50", checkpoint=tmp_path / "m.pt").spec.input_size == (64, 64)
