"""Suites: loading and validation, and `harness run --suite` end to end (clean scores once)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness import workflow
from harness.config import build_config
from harness.runner import RunConfig, SuiteError
from harness.suites import available_suites, load_suite, strength_tag


def test_shipped_suites_load_and_cover_what_the_leaderboard_judges() -> None:
    assert {"standard", "smoke"} <= set(available_suites())
    keys = [m.key for m in load_suite("standard").members]
    for eps in (1, 2, 4, 8):
        assert f"fgsm@eps{eps}of255" in keys and f"pgd@eps{eps}of255" in keys
    for q in (90, 75, 50, 30):
        assert f"jpeg@quality{q}" in keys
    for crf in (23, 30, 40):
        assert f"h264@crf{crf}" in keys
    attacks = {k.split("@")[0] for k in keys}
    assert {"pgdl2", "apgd", "square", "blur", "noise", "resize"} <= attacks
    assert len(keys) == len(set(keys)) == 21


def test_strength_tags_are_file_name_safe() -> None:
    assert strength_tag("eps", 4 / 255) == "eps4of255"
    assert strength_tag("eps", 0.5) == "eps0p5"
    assert strength_tag("quality", 75) == "quality75"
    assert strength_tag("sigma", 0.05) == "sigma0p05"
    assert strength_tag(None, None) == "default"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("members:\n  - attack: pgdd\n", "Did you mean"),
        ("members:\n  - attack: pgd\n    stepz: 3\n", "stepz"),
        ("members:\n  - attack: pgd\n    steps: [1, 2]\n", "only its strength setting"),
        ("members:\n  - attack: jpeg\n    quality: [50, 50]\n", "repeat"),
        ("members: []\n", "non-empty"),
        ("name: x\nmembrs: []\n", "unknown keys"),
        ("members:\n  - eps: 4/255\n", "needs an 'attack'"),
    ],
)
def test_bad_suites_are_rejected_before_any_work(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(body)
    with pytest.raises(ValueError, match=message):
        load_suite(str(path))


def test_unknown_suite_name_lists_the_shipped_ones() -> None:
    with pytest.raises(ValueError, match="standard"):
        load_suite("standrd")


def _config(tiny: tuple[Any, Path], tmp_path: Path, **cli: Any) -> RunConfig:
    data, ckpt = tiny
    return build_config(
        RunConfig,
        cli={
            "detector": "cnn",
            "checkpoint": str(ckpt),
            "data": vars(data) | {"faces": vars(data.faces)},
            "results_dir": str(tmp_path / "results"),
            "leaderboard_dir": str(tmp_path / "lb"),
            "n_boot": 100,
            **cli,
        },
    )


def test_a_suite_run_scores_clean_once_and_writes_one_result_per_member(
    tiny: tuple[Any, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from harness.runner import compute, member

    suite = tmp_path / "mini.yaml"
    suite.write_text(
        "name: mini\nmembers:\n  - attack: fgsm\n    eps: [2/255, 8/255]\n"
        "  - attack: jpeg\n    quality: 30\n  - attack: noise\n"
    )
    calls = []
    real = member.run_stage

    def counted(ctx: Any, name: str, *a: Any) -> Any:
        calls.append(name)
        return real(ctx, name, *a)

    monkeypatch.setattr(compute, "run_stage", counted)  # the clean stage
    monkeypatch.setattr(member, "run_stage", counted)  # the members' stages
    results = workflow.run(_config(tiny, tmp_path, suite=str(suite)), progress=False)
    assert calls.count("clean") == 1, "validation and test split scored clean once, in one stage"
    assert len(calls) == 1 + len(results), "then one stage per member"
    tags = [(r.result["attack"], r.result["budget_tag"]) for r in results]
    assert tags == [
        ("fgsm", "eps2of255"),
        ("fgsm", "eps8of255"),
        ("jpeg", "quality30"),
        ("noise", "sigma0p05"),
    ]
    clean = {r.result["metrics"]["auroc_clean"] for r in results}
    assert len(clean) == 1, "every member shares the same clean scores"
    for r in results:
        saved = json.loads(r.path.read_text())
        assert saved["suite"] == "mini" and saved["strength_param"] in ("eps", "quality", "sigma")
    jpeg = next(r for r in results if r.result["attack"] == "jpeg").result
    assert jpeg["strength"] == 30 and jpeg["budget"] is None
    board = (tmp_path / "lb" / "leaderboard.md").read_text()
    assert "jpeg@quality30" in board and "fgsm@eps8of255" in board


def test_a_failing_member_keeps_the_finished_results(
    tiny: tuple[Any, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from harness.attacks.blur import Blur

    def broken(self: Any, model: Any, x: Any, y: Any) -> Any:
        raise RuntimeError("codec exploded")

    monkeypatch.setattr(Blur, "run", broken)
    suite = tmp_path / "two.yaml"
    suite.write_text("members:\n  - attack: blur\n  - attack: jpeg\n    quality: 50\n")
    with pytest.raises(SuiteError, match="blur@sigma1: codec exploded") as info:
        workflow.run(_config(tiny, tmp_path, suite=str(suite)), progress=False)
    assert [r.result["attack"] for r in info.value.results] == ["jpeg"]
    assert (tmp_path / "results" / "synthetic" / "cnn" / "jpeg-quality50.json").is_file()
    assert "jpeg@quality50" in (tmp_path / "lb" / "leaderboard.md").read_text()


def test_attack_settings_do_not_combine_with_a_suite(tiny: tuple[Any, Path], tmp_path: Path) -> None:
    config = _config(tiny, tmp_path, suite="smoke", attack_options={"steps": 3})
    with pytest.raises(ValueError, match="do not combine with --suite"):
        workflow.run(config, progress=False)


def test_a_list_of_any_strength_setting_gives_a_curve(tiny: tuple[Any, Path], tmp_path: Path) -> None:
    config = _config(tiny, tmp_path, attack="jpeg", attack_options={"quality": [90, 20]})
    results = workflow.run(config, progress=False)
    assert [r.result["budget_tag"] for r in results] == ["quality90", "quality20"]


def test_frames_per_video_scores_fewer_crops_per_video(tiny: tuple[Any, Path], tmp_path: Path) -> None:
    full = workflow.run(_config(tiny, tmp_path, attack="noise"), progress=False)[0].result["metrics"]
    few = workflow.run(_config(tiny, tmp_path, attack="noise", frames_per_video=2), progress=False)[0].result
    assert few["metrics"]["n_samples"] == 2 * few["metrics"]["n_videos"] < full["n_samples"]
    assert few["config"]["frames_per_video"] == 2 and few["metrics"]["n_videos"] == full["n_videos"]
