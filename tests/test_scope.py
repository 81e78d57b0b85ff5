"""attack.scope=video: one perturbation per video, shared by all its samples and frames."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor

from harness.attacks import create_attack
from harness.config import ConfigError
from tests.tiny import clips, faces, matched_clip_detector, trained_detector

EPS = 4 / 255
STEP = 1 / 255


def videos(n_videos: int = 4, per_video: int = 3, seed: int = 3) -> tuple[Tensor, Tensor, list[str]]:
    """Frames of ``n_videos`` videos (``per_video`` frames each, one label per video: real, fake,
    real, ...) and their video ids. Values in about [0.2, 0.8]: [0,1] never clips a 4/255 delta."""
    x, y = faces(2 * n_videos * per_video, seed=seed)
    reals, fakes = x[y == 0], x[y == 1]
    xs, ys, ids = [], [], []
    for v in range(n_videos):
        pool = reals if v % 2 == 0 else fakes
        k = v // 2
        xs.append(pool[k * per_video : (k + 1) * per_video])
        ys += [v % 2] * per_video
        ids += [f"video{v}"] * per_video
    return torch.cat(xs), torch.tensor(ys), ids


def frame_deltas(x_adv: Tensor, x: Tensor) -> Tensor:
    """``(frames, 3, H, W)`` deltas, clips unrolled to frames."""
    return (x_adv - x).reshape(-1, *x.shape[-3:])


def test_every_sample_of_a_video_gets_the_same_delta_and_videos_get_different_ones(
    one_thread: None,
) -> None:
    det = trained_detector()
    x, y, ids = videos()
    for quantize, tol in ((False, 1e-6), (True, STEP + 1e-6)):
        attack = create_attack("pgd", eps=EPS, steps=5, scope="video", quantize=quantize)
        result = attack(det, x, y, groups=ids)
        d = frame_deltas(result.x_adv, x).view(4, 3, -1)  # (video, frame, pixels)
        spread = (d - d[:, :1]).abs().amax()
        assert float(spread) <= tol, f"quantize={quantize}: frames of a video differ by {float(spread)}"
        assert float(d.abs().amax()) > EPS / 2, "the attack did perturb"
        for a in range(4):
            for b in range(a + 1, 4):
                assert not torch.allclose(d[a, 0], d[b, 0]), f"videos {a} and {b} share a delta"
    # on the 8-bit grid, with x on it and no clipping, the rounded delta is identical per frame
    assert float(spread) <= 1e-6
    # the ids may come in any order and as an integer tensor
    perm = torch.tensor([0, 3, 6, 9, 1, 4, 7, 10, 2, 5, 8, 11])
    codes = torch.tensor([int(v[-1]) for v in ids])[perm]
    out = create_attack("fgsm", scope="video", quantize=False)(det, x[perm], y[perm], groups=codes)
    d = frame_deltas(out.x_adv, x[perm])  # video 0 is at 0, 4 and 8 now
    assert torch.allclose(d[0], d[4], atol=1e-6) and torch.allclose(d[0], d[8], atol=1e-6)
    assert not torch.allclose(d[0], d[1])


def test_the_budget_holds_per_sample_linf_and_per_video_l2(one_thread: None) -> None:
    det = trained_detector()
    x, y, ids = videos()
    result = create_attack("pgd", eps=EPS, steps=5, scope="video")(det, x, y, groups=ids)
    assert float(result.linf.max()) <= EPS + 1e-6
    assert torch.equal(result.attacked, torch.ones(len(x), dtype=torch.bool))
    # L2: the one shared image has norm <= eps (the budget is per video, not per frame)
    for quantize in (False, True):
        l2 = create_attack("pgdl2", eps=0.5, steps=5, scope="video", quantize=quantize)
        out = l2(det, x, y, groups=ids)
        norms = frame_deltas(out.x_adv, x).flatten(1).norm(dim=1).view(4, 3)
        assert float(norms.max()) <= 0.5 + 1e-4
        assert float(norms.min()) > 0.25, "the budget is used"
        if not quantize:  # one shared delta: the same norm on every frame
            assert float((norms - norms[:, :1]).abs().max()) < 1e-5
    # target=fake attacks the fake videos only, the real ones come back bit-identical
    fakes = create_attack("pgd", eps=EPS, steps=3, scope="video", target="fake")(det, x, y, groups=ids)
    assert torch.equal(fakes.attacked, y == 1)
    assert torch.equal(fakes.x_adv[y == 0], x[y == 0])
    assert float(fakes.linf[y == 1].min()) > 0


def test_clip_detectors_share_one_image_over_every_frame_of_every_clip(one_thread: None) -> None:
    det = matched_clip_detector(frames=3)
    x, y = clips(8, frames=3, seed=2)
    order = torch.argsort(y, stable=True)  # reals, then fakes: two videos of two clips per label
    x, y = x[order], y[order]
    ids = ["r0", "r0", "r1", "r1", "f0", "f0", "f1", "f1"]
    before = torch.softmax(det(x), 1)[:, 1]
    result = create_attack("pgd", eps=EPS, steps=5, scope="video", quantize=False)(det, x, y, groups=ids)
    assert result.x_adv.shape == x.shape
    d = frame_deltas(result.x_adv, x).view(4, 6, -1)  # (video, 2 clips x 3 frames, pixels)
    assert float((d - d[:, :1]).abs().max()) <= 1e-6
    assert float(result.linf.max()) <= EPS + 1e-6
    assert result.queries == 5 * len(x), "queries count per-sample (per-clip) forwards"
    after = torch.softmax(det(result.x_adv), 1)[:, 1]
    assert bool((after[y == 1] < before[y == 1]).all()) and bool((after[y == 0] > before[y == 0]).all())
    # pgdl2: per frame within the video's budget, so a 3-frame clip within sqrt(3) * eps
    out = create_attack("pgdl2", eps=0.5, steps=5, scope="video")(det, x, y, groups=ids)
    assert float(frame_deltas(out.x_adv, x).flatten(1).norm(dim=1).max()) <= 0.5 + 1e-4


def test_pgd_eot_transforms_the_videos_perturbed_frames(one_thread: None) -> None:
    det = trained_detector()
    x, y, ids = videos(n_videos=2)
    attack = create_attack("pgd_eot", eps=EPS, steps=2, eot_samples=2, scope="video")
    seen: list[Tensor] = []
    transform = attack.transform

    def spy(v: Tensor, gen: torch.Generator) -> Tensor:
        seen.append(v.detach().clone())
        return transform(v, gen)

    attack.transform = spy  # type: ignore[method-assign]
    result = attack(det, x, y, groups=ids)
    assert len(seen) == 2 * 2 * 2  # videos x steps x eot_samples
    for v in seen:  # the video's frames with the shared delta, not the grey virtual image
        assert v.shape == (3, *x.shape[1:])
        assert float(torch.minimum((v - x[:3]).abs().amax(), (v - x[3:]).abs().amax())) <= EPS + 1e-6
    assert result.queries == 2 * 2 * len(x)
    assert float(result.linf.max()) <= EPS + 1e-6


def test_missing_groups_universal_and_unbudgeted_attacks_fail_clearly() -> None:
    det = trained_detector()
    x, y, ids = videos(n_videos=2)
    pgd = create_attack("pgd", steps=1, scope="video")
    with pytest.raises(ValueError, match="attack.scope=video.*groups="):
        pgd(det, x, y)
    with pytest.raises(ValueError, match="groups must name the video of each of the 6 samples"):
        pgd(det, x, y, groups=ids[:4])
    with pytest.raises(ValueError, match="labelled real and fake"):
        pgd(det, x, y, groups=["one"] * len(x))
    with pytest.raises(TypeError, match="groups"):
        pgd(det, x, y, groups=torch.zeros(len(x)))
    with pytest.raises(ValueError, match="uap: attack.scope=video is not supported.*universal"):
        create_attack("uap", scope="video")
    for name in ("jpeg", "h264", "blur", "noise", "resize"):
        with pytest.raises(ValueError, match=f"{name}: attack.scope=video is not supported.*no norm"):
            create_attack(name, scope="video")
    with pytest.raises((ValueError, ConfigError), match="scope must be one of"):
        create_attack("pgd", scope="clip")


def test_scope_sample_is_bit_identical_to_no_scope(one_thread: None) -> None:
    det = trained_detector()
    x, y, ids = videos()
    for name, settings in (("pgd", {"steps": 3}), ("pgd_eot", {"steps": 2, "eot_samples": 2})):
        plain = create_attack(name, seed=7, **settings)(det, x, y)
        sample = create_attack(name, seed=7, scope="sample", **settings)(det, x, y, groups=ids)
        assert torch.equal(plain.x_adv, sample.x_adv) and plain.queries == sample.queries
        assert "scope" not in create_attack(name).resolved_config()  # as before scope existed
    assert create_attack("pgd", scope="video").resolved_config()["scope"] == "video"


def test_the_detector_is_unchanged(one_thread: None) -> None:
    det = trained_detector()
    x, y, ids = videos()
    state = {k: v.clone() for k, v in det.state_dict().items()}
    flags = [p.requires_grad for p in det.parameters()]
    with torch.no_grad():
        clean = det(x)
    for name in ("pgd", "pgdl2", "square"):
        settings = {"n_queries": 20} if name == "square" else {"steps": 2}
        create_attack(name, scope="video", **settings)(det, x, y, groups=ids)
    assert all(torch.equal(state[k], v) for k, v in det.state_dict().items())
    assert [p.requires_grad for p in det.parameters()] == flags
    assert all(p.grad is None for p in det.parameters()) and not det.training
    with torch.no_grad():
        assert torch.equal(det(x), clean)


def _run(tiny: Any, tmp_path: Path, **options: Any) -> dict[str, Any]:
    from harness import workflow
    from harness.runner import RunConfig

    data, ckpt = tiny
    config = RunConfig(
        detector="cnn",
        attack="pgd",
        attack_options={"steps": 2, **options},
        checkpoint=str(ckpt),
        data=data,
        batch_size=4,  # videos of 8 crops: each spans two units, which video scope merges
        n_boot=20,
        workers=0,
        results_dir=str(tmp_path / "r"),
        leaderboard_dir=str(tmp_path / "l"),
    )
    return workflow.run(config, progress=False)[0].result


def test_evaluate_with_scope_video_writes_its_own_result(tiny: Any, tmp_path: Path) -> None:
    sample = _run(tiny, tmp_path)
    video = _run(tiny, tmp_path, scope="video")
    assert (sample["scope"], video["scope"]) == ("sample", "video")
    assert sample["budget_tag"] == "eps4of255" and video["budget_tag"] == "eps4of255+video"
    files = sorted(p.name for p in (tmp_path / "r").rglob("*.json"))
    assert files == ["pgd-eps4of255+video.json", "pgd-eps4of255.json"]
    assert video["attack_config"]["scope"] == "video" and "scope" not in sample["attack_config"]
    m, s = video["metrics"], sample["metrics"]
    assert m["n_samples"] == s["n_samples"] and m["n_attacked"] == s["n_attacked"]
    assert m["queries"] == s["queries"] == 2 * s["n_attacked"], "per-sample forwards in both scopes"
    assert m["linf_max"] <= EPS + 1e-6
    # a video is attacked in one piece: its two units of 4 crops become one
    assert video["execution"]["batches"] * 2 == sample["execution"]["batches"]
    header = (tmp_path / "l" / "leaderboard.csv").read_text().splitlines()[0]
    assert "pgd@eps4of255+video" in header
