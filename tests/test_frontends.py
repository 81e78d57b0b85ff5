"""Forensic front ends (``front=srm|srm30|ela``): the published kernels, the contract kept,
checkpoints that remember them, ELA against an independent codec call, and ELA's gradients:
masked (and flagged) without BPDA, usable by a white-box attack with it."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from harness.attacks import create_attack, zero_gradient_mask
from harness.checkpoint import CheckpointError, save_checkpoint
from harness.detectors import FRONT_OPTIONS_HELP, create_detector
from harness.detectors._frontends import ELA, SRMFilter, srm3_kernels, srm30_kernels
from harness.leaderboard import sanity_flags

FRONTS = ("srm", "srm30", "ela")


def tiny(front: str, **options: object) -> torch.nn.Module:
    torch.manual_seed(0)
    return create_detector("cnn", input_size=32, front=front, **options)


def pixels(n: int = 4, seed: int = 0, shape: tuple[int, ...] = (3, 32, 32)) -> torch.Tensor:
    """8-bit images as [0,1] floats (what a dataset or an attack delivers)."""
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, *shape), generator=gen).float() / 255


def test_srm_kernels_are_the_published_ones() -> None:
    k = srm3_kernels()
    expected = [
        np.array([[0, 0, 0, 0, 0], [0, -1, 2, -1, 0], [0, 2, -4, 2, 0], [0, -1, 2, -1, 0], [0, 0, 0, 0, 0]])
        / 4,
        np.array(
            [
                [-1, 2, -2, 2, -1],
                [2, -6, 8, -6, 2],
                [-2, 8, -12, 8, -2],
                [2, -6, 8, -6, 2],
                [-1, 2, -2, 2, -1],
            ]
        )
        / 12,
        np.array([[0, 0, 0, 0, 0], [0, 0, 0, 0, 0], [0, 1, -2, 1, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0]]) / 2,
    ]
    assert k.shape == (3, 5, 5)
    for got, want in zip(k, expected, strict=True):
        np.testing.assert_array_equal(got.numpy(), want)
    # RGB-N's layer: output channel k is kernel k applied to R + G + B.
    w = SRMFilter("srm").weight
    assert w.shape == (3, 3, 5, 5) and all(
        torch.equal(w[i, c], k[i].float()) for i in range(3) for c in range(3)
    )


def test_srm30_bank_is_thirty_distinct_zero_sum_high_pass_kernels() -> None:
    k = srm30_kernels()
    assert k.shape == (30, 5, 5)
    assert torch.allclose(k.sum(dim=(1, 2)), torch.zeros(30, dtype=k.dtype), atol=1e-12), (
        "every SRM kernel is high-pass"
    )
    assert len({tuple(v.flatten().tolist()) for v in k}) == 30, "no kernel twice"
    assert all(v[2, 2] < 0 for v in k), "every residual is centred on the pixel it predicts"
    first = torch.zeros(5, 5, dtype=torch.float64)
    first[2, 2], first[2, 3] = -1, 1
    assert any(torch.equal(v, first) for v in k), "1st-order residual x[i,j+1] - x[i,j]"
    third = torch.zeros(5, 5, dtype=torch.float64)
    third[2, 1:5] = torch.tensor([1, -3, 3, -1]) / 3
    assert any(torch.allclose(v, third) for v in k), "3rd-order residual, normalized by 3"
    assert any(torch.allclose(v, srm3_kernels()[1]) for v in k), "SQUARE 5x5 (KV), normalized by 12"


@pytest.mark.parametrize("front", FRONTS)
def test_front_ends_keep_the_contract(front: str) -> None:
    model = tiny(front)
    plain = tiny("none")
    extra = {name for name, _ in model.named_parameters()} - {name for name, _ in plain.named_parameters()}
    # Fixed front ends add no parameter; srm30's learnable 1x1 mix (30 -> 3) is the one exception.
    assert extra == ({"front.mix.weight", "front.mix.bias"} if front == "srm30" else set())
    assert not any(name.startswith("front.") for name in model.state_dict() if "mix" not in name)
    x = pixels()
    z = model(x)
    assert z.shape == (4, 2) and torch.isfinite(z).all()
    assert torch.equal(model(x), z), "deterministic in eval mode"
    assert torch.isfinite(model.front(x)).all() and model.front(x).shape == x.shape
    with pytest.raises(ValueError, match=r"\[0,1\]"):
        model(x * 2)
    with pytest.raises(ValueError, match="32x32"):
        model(torch.rand(1, 3, 16, 16))
    assert model.build_overrides["front"] == front


def test_a_clip_detector_sends_every_frame_through_the_front_end() -> None:
    front = SRMFilter("srm")
    clips = pixels(2, shape=(3, 3, 16, 16))
    out = front(clips)
    assert out.shape == clips.shape
    assert torch.equal(out[1, 2], front(clips[1, 2][None])[0])
    ela = ELA()
    assert torch.equal(ela(clips)[0, 1], ela(clips[0, 1][None])[0])


def test_bad_front_options_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="front must be one of none, srm, srm30, ela"):
        create_detector("cnn", input_size=32, front="sobel")
    with pytest.raises(ValueError, match="front=ela only"):
        create_detector("cnn", input_size=32, front="srm", bpda=True)
    with pytest.raises(ValueError, match="ela_quality"):
        create_detector("cnn", input_size=32, front="ela", ela_quality=0)
    with pytest.raises(TypeError, match="Did you mean 'front'"):
        create_detector("cnn", input_size=32, fornt="srm")


@pytest.mark.parametrize("front", FRONTS)
def test_checkpoint_round_trip_keeps_the_front_end(tmp_path: Path, front: str) -> None:
    model = tiny(front)
    path = save_checkpoint(tmp_path / "cnn.pt", model)
    loaded = create_detector("cnn", checkpoint=path)  # rebuilt from the checkpoint's options
    assert type(loaded.front) is type(model.front) and loaded.build_overrides["front"] == front
    x = pixels()
    assert torch.equal(loaded(x), model(x))
    with pytest.raises(CheckpointError, match="front end"):
        create_detector("cnn", checkpoint=path, front="none")
    other = "srm" if front != "srm" else "ela"
    with pytest.raises(CheckpointError, match="front end"):
        create_detector("cnn", checkpoint=path, front=other)


def test_a_checkpoint_without_front_end_refuses_one(tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path / "cnn.pt", tiny("none"))
    with pytest.raises(CheckpointError, match="front end"):
        create_detector("cnn", checkpoint=path, front="srm")


def test_ela_checkpoint_takes_bpda_but_not_another_quality(tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path / "cnn.pt", tiny("ela"))
    bpda = create_detector("cnn", checkpoint=path, bpda=True)  # gradients only: allowed
    assert bpda.front.bpda and bpda.build_overrides["bpda"] is True
    with pytest.raises(CheckpointError, match="ela_quality"):
        create_detector("cnn", checkpoint=path, ela_quality=75)


def test_results_record_the_front_end_a_checkpoint_brings(tmp_path: Path) -> None:
    """A result's ``detector_options`` come from the built model, so a front end that only the
    checkpoint names (and BPDA switched on at load time) is in the numbers' provenance."""
    from harness.detectors import detector_options

    path = save_checkpoint(tmp_path / "cnn.pt", tiny("ela"))
    assert detector_options(create_detector("cnn", checkpoint=path)) == {
        "input_size": 32,
        "front": "ela",
        "bpda": False,
        "ela_quality": 90,
        "ela_scale": 15.0,
    }
    assert detector_options(create_detector("cnn", checkpoint=path, bpda=True))["bpda"] is True
    assert detector_options(create_detector("cnn", input_size=32)) == {"input_size": 32, "front": "none"}


@pytest.mark.parametrize("quality,scale", [(90, 15.0), (75, 10.0)])
def test_ela_is_the_jpeg_error_level_computed_independently(quality: int, scale: float) -> None:
    x = pixels(3, seed=1)
    out = ELA(quality, scale)(x)
    for i, img in enumerate(x):
        rgb = (img.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        ok, buf = cv2.imencode(".jpg", rgb[:, :, ::-1].copy(), [cv2.IMWRITE_JPEG_QUALITY, quality])
        assert ok
        decoded = cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1].astype(np.float64)
        expected = np.abs(rgb.astype(np.float64) - decoded) / 255 * scale
        np.testing.assert_allclose(out[i].permute(1, 2, 0).numpy(), expected, atol=1e-5)
    assert torch.equal(ELA(quality, scale, bpda=True)(x), out), "BPDA changes the backward pass only"


def test_ela_without_bpda_masks_gradients_and_is_flagged() -> None:
    """No BPDA: the pipeline's true gradient is exactly zero, the attack's self-check says so, the
    attack does nothing, and the leaderboard's zero-gradients flag fires on such a result."""
    model = tiny("ela")
    x, y = pixels(6, seed=2), torch.ones(6, dtype=torch.long)
    assert zero_gradient_mask(model, x, y).all()
    for name, settings in (("fgsm", {"eps": 8 / 255}), ("pgd", {"eps": 8 / 255, "steps": 5})):
        result = create_attack(name, **settings)(model, x, y)
        assert result.zero_grad is not None and result.zero_grad.all(), name
        if name == "fgsm":  # PGD's random start moves it; FGSM's step is sign(0) = 0
            assert torch.equal(result.x_adv, x) and result.unperturbed.all()
    result = {
        "detector": "cnn",
        "dataset": "synthetic",
        "attack": "pgd",
        "budget_tag": "eps8of255",
        "budget": 8 / 255,
        "norm": "linf",
        "uses_gradients": True,
        "black_box": False,
        "metrics": {"zero_grad_fraction": float(result.zero_grad.float().mean())},
    }
    flags = {f["code"]: f["message"] for f in sanity_flags([result])}
    assert (
        "zero-gradients" in flags
        and "100.0% of the attacked samples had an input gradient" in (flags["zero-gradients"])
    )


def test_ela_with_bpda_gives_a_white_box_attack_a_gradient_that_works() -> None:
    model = tiny("ela", bpda=True)
    x, y = pixels(6, seed=2), torch.ones(6, dtype=torch.long)
    assert not zero_gradient_mask(model, x, y).any()
    result = create_attack("pgd", eps=8 / 255, steps=10)(model, x, y)
    assert not result.zero_grad.any() and not result.unperturbed.any()
    with torch.no_grad():
        before = model(x).softmax(1)[:, 1]
        after = model(result.x_adv).softmax(1)[:, 1]
    assert (after < before).float().mean() >= 5 / 6, (before, after)
    assert after.mean() < before.mean() - 0.01, (before, after)


def test_bpda_gradient_is_the_kornia_codec_gradient() -> None:
    """The backward pass is that of |x - kornia_jpeg(x)| * scale, |.|'s sign taken from the real
    difference (from kornia's where the real one is 0)."""
    from kornia.enhance import jpeg_codec_differentiable

    x = pixels(2, seed=3).requires_grad_(True)
    weights = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    (ELA(90, 15.0, bpda=True)(x) * weights).sum().backward()
    ref = x.detach().clone().requires_grad_(True)
    approx = jpeg_codec_differentiable(ref, torch.tensor([90.0]))
    # Reference: d/dx sum(w * s * (x - approx) * scale), s = sign(x8 - J_real) from the real codec.
    from harness.attacks.jpeg import jpeg_roundtrip, to_uint8

    host = to_uint8(x.detach()).permute(0, 2, 3, 1).numpy()
    j_real = (
        torch.from_numpy(np.stack([jpeg_roundtrip(f, 90) for f in host])).permute(0, 3, 1, 2).float() / 255
    )
    d = x.detach() - j_real  # x is on the 8-bit grid: x8 = x
    s = torch.where(d != 0, d.sign(), (x.detach() - approx.detach()).sign())
    (weights * s * (ref - approx) * 15.0).sum().backward()
    assert torch.allclose(x.grad, ref.grad, atol=1e-5)
    assert x.grad.abs().sum() > 0


def test_ls_footer_is_plain_text() -> None:
    assert "front=none|srm|srm30|ela" in FRONT_OPTIONS_HELP and "bpda" in FRONT_OPTIONS_HELP


@pytest.mark.parametrize("recipe,front", [("cnn-srm", "srm"), ("cnn-ela", "ela")])
def test_demo_recipes_build_their_front_end(recipe: str, front: str) -> None:
    from harness.config import build_config
    from harness.train import TrainConfig, demo_recipe_path

    config = build_config(TrainConfig, demo_recipe_path(recipe))
    assert config.detector == "cnn" and config.detector_options["front"] == front
    model = create_detector(config.detector, **config.detector_options)
    assert model.build_overrides["front"] == front and model(pixels(1, shape=(3, 64, 64))).shape == (1, 2)
