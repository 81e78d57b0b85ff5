"""PGD with expectation over transformations: its perturbations survive real JPEG re-encoding."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from harness.attacks import create_attack
from harness.config import ConfigError
from tests.tiny import auroc, faces, trained_detector


def test_pgd_eot_perturbations_survive_real_jpeg_where_plain_pgd_is_erased(one_thread: None) -> None:
    det = trained_detector()
    x, y = faces(64, seed=5)
    jpeg = create_attack("jpeg", quality=30)  # OpenCV's real codec, not the differentiable one
    after_clean = auroc(det, jpeg(det, x, y).x_adv, y)
    plain = create_attack("pgd", eps=2 / 255, steps=10, seed=1)(det, x, y).x_adv
    eot = create_attack("pgd_eot", eps=2 / 255, steps=10, eot_samples=4, seed=1)(det, x, y).x_adv
    after_plain = auroc(det, jpeg(det, plain, y).x_adv, y)
    after_eot = auroc(det, jpeg(det, eot, y).x_adv, y)
    # JPEG erases plain PGD (its AUROC returns to the clean-after-JPEG level); EOT's survives.
    assert abs(after_plain - after_clean) < 0.1
    assert after_eot < after_plain - 0.2, (after_clean, after_plain, after_eot)


def test_transforms_are_random_per_sample_differentiable_and_optional(one_thread: None) -> None:
    x, _ = faces(8, seed=2)
    gen = torch.Generator().manual_seed(0)
    off = create_attack("pgd_eot", p=0.0)
    assert torch.equal(off.transform(x, gen), x), "p=0 applies nothing"
    on = create_attack("pgd_eot", transforms=["jpeg"], p=1.0)
    xg = x.clone().requires_grad_(True)
    out = on.transform(xg, gen)
    assert out.shape == x.shape and not torch.equal(out.detach(), x)
    (grad,) = torch.autograd.grad(out.sum(), xg)
    assert grad.abs().sum() > 0, "the differentiable JPEG passes gradients"
    clips = x.reshape(2, 4 * 3, *x.shape[-2:])  # two 4-frame clips, flattened as the base does
    assert on.transform(clips, gen).shape == clips.shape


def test_queries_count_every_transformed_copy(one_thread: None) -> None:
    det = trained_detector()
    x, y = faces(6, seed=1)
    result = create_attack("pgd_eot", steps=3, eot_samples=2)(det, x, y)
    assert result.queries == 3 * 2 * 6
    assert float(result.linf.max()) <= 4 / 255 + 1e-6


@pytest.mark.parametrize(
    "bad",
    [
        {"eot_samples": 0},
        {"transforms": ["jpeg", "sharpen"]},
        {"p": 1.5},
        {"jpeg_quality": [90, 40]},
        {"resize_scale": [0.5, 1.5]},
        {"noise_sigma": -0.1},
    ],
)
def test_bad_settings_are_refused(bad: dict) -> None:
    with pytest.raises((ValueError, ConfigError)):
        create_attack("pgd_eot", **bad)


def _run(tiny: Any, tmp_path: Path, **options: Any) -> dict[str, Any]:
    from harness import workflow
    from harness.runner import RunConfig

    data, ckpt = tiny
    config = RunConfig(
        detector="cnn",
        attack="pgd",
        attack_options={"steps": 3, **options},
        checkpoint=str(ckpt),
        data=data,
        n_boot=20,
        workers=0,
        results_dir=str(tmp_path / "r"),
        leaderboard_dir=str(tmp_path / "l"),
    )
    return workflow.run(config, progress=False)[0].result


def test_the_three_orderings_are_one_axis_of_the_results(tiny: Any, tmp_path: Path) -> None:
    plain = _run(tiny, tmp_path)
    post = _run(tiny, tmp_path, post="jpeg:40")
    pre = _run(tiny, tmp_path, pre="jpeg:40")
    assert (plain["ordering"], post["ordering"], pre["ordering"]) == (
        "attack",
        "attack-then-compress",
        "compress-then-attack",
    )
    assert post["budget_tag"] == "eps4of255+post-jpeg-quality40" and post["post"] == "jpeg:40"
    assert pre["budget_tag"] == "eps4of255+pre-jpeg-quality40" and pre["pre"] == "jpeg:40"
    files = sorted(p.name for p in (tmp_path / "r").rglob("*.json"))
    assert files == [
        "pgd-eps4of255+post-jpeg-quality40.json",
        "pgd-eps4of255+pre-jpeg-quality40.json",
        "pgd-eps4of255.json",
    ]
    # what the detector saw after the codec is further from the clean input than the attack alone
    assert post["metrics"]["psnr_mean"] < plain["metrics"]["psnr_mean"]
    # the attack's own budget is measured on its own perturbation, codec excluded
    assert pre["metrics"]["linf_max"] <= 4 / 255 + 1e-6 and post["metrics"]["linf_max"] <= 4 / 255 + 1e-6
    header = (tmp_path / "l" / "leaderboard.csv").read_text().splitlines()[0]
    assert "pgd@eps4of255+post-jpeg-quality40" in header and "pgd@eps4of255+pre-jpeg-quality40" in header


def test_a_bad_codec_or_two_orderings_fail_before_any_work(tiny: Any, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="codec"):
        _run(tiny, tmp_path, post="png:9")
    with pytest.raises(ValueError, match="choose one ordering"):
        _run(tiny, tmp_path, pre="jpeg:50", post="h264:23")


def test_uap_is_learned_on_the_train_split_and_applied_to_the_test_split(tiny: Any, tmp_path: Path) -> None:
    from harness import workflow
    from harness.data import prepare_dataset
    from harness.runner import RunConfig
    from harness.stream import video_refs

    data, ckpt = tiny
    config = RunConfig(
        detector="cnn",
        attack="uap",
        attack_options={"epochs": 3},
        checkpoint=str(ckpt),
        data=data,
        n_boot=20,
        workers=0,
        results_dir=str(tmp_path / "r"),
        leaderboard_dir=str(tmp_path / "l"),
    )
    (run,) = workflow.run(config, progress=False)
    result = run.result
    train_fakes = [r for r in video_refs(prepare_dataset(data, progress=False), "train") if r.label == 1]
    assert result["split"] == "test" and result["target"] == "fake"
    assert result["attack_fit"]["train_videos"] == len(train_fakes) > 0
    assert result["attack_fit"]["steps"] > 0 and result["metrics"]["linf_max"] <= 8 / 255 + 1e-6
    assert result["metrics"]["auroc_adv"] <= result["metrics"]["auroc_clean"]
    with pytest.raises(ValueError, match="learns on the train split"):
        workflow.run(RunConfig(**{**config.__dict__, "split": "all", "fresh": True}), progress=False)
