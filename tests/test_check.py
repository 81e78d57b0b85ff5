"""``harness check``: the pure comparison rule, the JUnit XML, baselines, and the CLI end to end."""

from __future__ import annotations

import copy
import dataclasses
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import torch

from harness.attacks._base import Attack, AttackConfig, AttackModel, project_linf
from harness.check import (
    CLEAN_REGRESSION,
    COLLAPSED,
    ERROR,
    IMPROVED,
    MISSING,
    NEW,
    PASS,
    REGRESSION,
    UNDEFINED,
    WEAKENED,
    WITHIN_CI,
    CheckConfig,
    PerturbationRule,
    check,
    check_compatible,
    compare,
    junit_xml,
    load_baseline,
    render_table,
    snapshot,
    write_baseline,
)
from harness.cli import main
from harness.runner import RunConfig

FGSM, JPEG = "fgsm@eps4of255", "jpeg@quality50"


def _member(adv: float | None, ci: list[float] | None, **config: Any) -> dict[str, Any]:
    return {
        "auroc_adv": adv,
        "auroc_adv_ci": ci,
        "auroc_clean": 0.95,
        "auroc_clean_ci": [0.9, 1.0],
        "attack_config": {"eps": 4 / 255, "seed": 0, **config},
    }


def _snap(**members: dict[str, Any]) -> dict[str, Any]:
    """A hand-made baseline/snapshot: clean 0.95 [0.90, 1.00], FGSM 0.40, JPEG 0.90 by default."""
    members = members or {FGSM: _member(0.40, [0.35, 0.45]), JPEG: _member(0.90, [0.85, 0.95])}
    return {
        "schema_version": 1,
        "detector": "cnn",
        "dataset": "synthetic",
        "suite": "mini",
        "suite_members": list(members),
        "split_manifest_hash": "ab" * 32,
        "checkpoint_sha256": "cd" * 32,
        "clean": {"auroc_clean": 0.95, "auroc_clean_ci": [0.90, 1.0], "n_videos": 40},
        "members": members,
    }


def _by_key(diffs: list[Any]) -> dict[str, Any]:
    return {d.key: d for d in diffs}


def test_identical_runs_pass() -> None:
    diffs = compare(_snap(), _snap(), 0.02)
    assert [d.key for d in diffs] == ["clean", FGSM, JPEG]
    assert all(d.status == PASS and not d.failed for d in diffs)
    assert diffs[1].delta == 0.0


def test_small_changes_within_the_tolerance_pass() -> None:
    current = _snap(**{FGSM: _member(0.385, [0.1, 0.2]), JPEG: _member(0.915, [0.1, 0.2])})
    assert {d.status for d in compare(_snap(), current, 0.02)} == {PASS}


def test_a_drop_beyond_tolerance_and_ci_is_a_regression() -> None:
    current = _snap(**{FGSM: _member(0.30, [0.25, 0.35]), JPEG: _member(0.90, [0.85, 0.95])})
    d = _by_key(compare(_snap(), current, 0.02))[FGSM]
    assert d.status == REGRESSION and d.failed
    assert d.delta == pytest.approx(-0.10)
    assert "0.4000 -> 0.3000" in d.message and "[0.250, 0.350]" in d.message


def test_a_drop_beyond_tolerance_but_inside_the_ci_passes_flagged() -> None:
    current = _snap(**{FGSM: _member(0.30, [0.20, 0.45]), JPEG: _member(0.90, [0.85, 0.95])})
    d = _by_key(compare(_snap(), current, 0.02))[FGSM]
    assert d.status == WITHIN_CI and not d.failed
    assert "inside this run's 95% CI" in d.message


def test_an_attack_that_got_weaker_fails() -> None:
    current = _snap(**{FGSM: _member(0.60, [0.55, 0.65]), JPEG: _member(0.90, [0.85, 0.95])})
    d = _by_key(compare(_snap(), current, 0.02))[FGSM]
    assert d.status == WEAKENED and d.failed
    assert "got weaker" in d.message and "--update-baseline" in d.message


def test_clean_auroc_regression_fails_and_improvement_passes() -> None:
    worse = _snap()
    worse["clean"] = {"auroc_clean": 0.80, "auroc_clean_ci": [0.75, 0.85]}
    d = compare(_snap(), worse, 0.02)[0]
    assert (d.key, d.status, d.failed) == ("clean", CLEAN_REGRESSION, True)
    better = _snap()
    base = _snap()
    base["clean"] = {"auroc_clean": 0.80, "auroc_clean_ci": [0.75, 0.85]}
    d = compare(base, better, 0.02)[0]
    assert (d.status, d.failed) == (IMPROVED, False)


def test_missing_member_fails_and_new_member_is_a_note() -> None:
    current = _snap(**{FGSM: _member(0.40, [0.35, 0.45]), "blur@sigma1": _member(0.7, [0.6, 0.8])})
    diffs = _by_key(compare(_snap(), current, 0.02))
    assert diffs[JPEG].status == MISSING and diffs[JPEG].failed
    assert "--update-baseline" in diffs[JPEG].message
    new = diffs["blur@sigma1"]
    assert new.status == NEW and not new.failed and not new.errored and new.current == 0.7


def test_a_member_that_failed_to_run_is_an_error() -> None:
    current = _snap(**{FGSM: _member(0.40, [0.35, 0.45])})
    current["failed_members"] = {JPEG: "codec exploded"}
    d = _by_key(compare(_snap(), current, 0.02))[JPEG]
    assert d.status == ERROR and d.errored and not d.failed and "codec exploded" in d.message


def test_without_a_ci_the_tolerance_alone_decides() -> None:
    current = _snap(**{FGSM: _member(0.37, None), JPEG: _member(0.915, None)})
    diffs = _by_key(compare(_snap(), current, 0.02))
    assert diffs[FGSM].status == REGRESSION and "tolerance alone" in diffs[FGSM].message
    assert diffs[JPEG].status == PASS
    assert diffs[FGSM].ci is None


def test_undefined_auroc_in_the_run_fails() -> None:
    current = _snap(**{FGSM: _member(None, None), JPEG: _member(0.90, [0.85, 0.95])})
    assert _by_key(compare(_snap(), current, 0.02))[FGSM].status == UNDEFINED


def test_changed_attack_settings_are_noted() -> None:
    current = _snap(**{FGSM: _member(0.40, [0.35, 0.45], steps=10), JPEG: _member(0.90, [0.85, 0.95])})
    d = _by_key(compare(_snap(), current, 0.02))[FGSM]
    assert d.status == PASS and d.notes and "steps None -> 10" in d.notes[0]


def test_a_negative_tolerance_is_refused() -> None:
    with pytest.raises(ValueError, match="tolerance"):
        compare(_snap(), _snap(), -0.1)
    with pytest.raises(ValueError, match="tolerance"):
        CheckConfig(baseline="b.json", tolerance=-1)


def test_table_shows_statuses_numbers_and_the_rule() -> None:
    current = _snap(**{FGSM: _member(0.30, [0.25, 0.35]), JPEG: _member(0.96, [0.80, 0.99])})
    table = render_table(compare(_snap(), current, 0.02), 0.02)
    assert "REGRESSION" in table and WITHIN_CI in table
    assert "0.4000" in table and "0.3000" in table and "-0.1000" in table
    assert "FAILED: 1 of 3" in table
    assert "95% bootstrap CI" in table.splitlines()[-1] and "0.02" in table.splitlines()[-1]


def test_junit_xml_parses_with_the_counts_ci_systems_read() -> None:
    current = _snap(**{FGSM: _member(0.30, [0.25, 0.35]), "blur@sigma1": _member(0.7, [0.6, 0.8])})
    current["failed_members"] = {JPEG: "codec exploded"}
    diffs = compare(_snap(), current, 0.02)
    root = ET.fromstring(junit_xml(diffs, name="harness check cnn", times={FGSM: 1.5}, seconds=3.25))
    assert root.tag == "testsuites"
    (suite,) = root.findall("testsuite")
    attrs = {k: suite.get(k) for k in ("name", "tests", "failures", "errors", "skipped", "time")}
    assert attrs == {
        "name": "harness check cnn",
        "tests": "4",
        "failures": "1",
        "errors": "1",
        "skipped": "1",
        "time": "3.250",
    }
    assert suite.get("timestamp") and suite.get("hostname")
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert list(cases) == ["clean", FGSM, JPEG, "blur@sigma1"]
    failure = cases[FGSM].find("failure")
    assert failure is not None and "0.4000 -> 0.3000" in failure.get("message", "")
    assert cases[FGSM].get("time") == "1.500"
    assert cases[JPEG].find("error") is not None
    assert cases["blur@sigma1"].find("skipped") is not None
    assert cases["clean"].find("failure") is None and cases["clean"].find("system-out") is not None


@pytest.mark.parametrize(
    ("identity", "differs"),
    [
        ({"detector": "xception", "dataset": "synthetic", "suite": "mini"}, "detector"),
        ({"detector": "cnn", "dataset": "celebdf", "suite": "mini"}, "dataset"),
        ({"detector": "cnn", "dataset": "synthetic", "suite": "smoke"}, "suite"),
    ],
)
def test_a_baseline_of_another_run_is_a_clear_error(identity: dict[str, str], differs: str) -> None:
    with pytest.raises(ValueError) as info:
        check_compatible(_snap(), **identity)
    message = str(info.value)
    assert f"{differs} differ" in message and "--update-baseline" in message
    assert f"{differs} {_snap()[differs]!r}" in message and f"{differs} {identity[differs]!r}" in message


def test_a_baseline_on_other_test_videos_is_refused() -> None:
    check_compatible(
        _snap(), detector="cnn", dataset="synthetic", suite="mini", split_manifest_hash="ab" * 32
    )
    with pytest.raises(ValueError, match="split manifest abababababab.*test videos differ"):
        check_compatible(
            _snap(), detector="cnn", dataset="synthetic", suite="mini", split_manifest_hash="ef" * 32
        )


def test_baseline_files_round_trip_sorted_and_errors_name_the_fix(tmp_path: Path) -> None:
    path = write_baseline(tmp_path / "sub" / "b.json", _snap())
    text = path.read_text()
    assert json.loads(text) == _snap() and text.endswith("\n")
    assert list(json.loads(text)) == sorted(_snap())
    assert load_baseline(path) == _snap()
    with pytest.raises(FileNotFoundError, match="--update-baseline"):
        load_baseline(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**_snap(), "schema_version": 99}))
    with pytest.raises(ValueError, match="schema_version 99"):
        load_baseline(bad)


def test_a_mismatched_baseline_stops_before_any_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import harness.runner
    import harness.workflow

    def boom(*a: Any, **k: Any) -> None:
        raise AssertionError("nothing may run")

    monkeypatch.setattr(harness.workflow, "run", boom)
    monkeypatch.setattr(harness.runner, "evaluate", boom)
    baseline = write_baseline(tmp_path / "b.json", {**_snap(), "suite": "smoke"})
    config = CheckConfig(baseline=str(baseline), run=RunConfig(detector="xception", suite="smoke"))
    with pytest.raises(ValueError, match="detector 'cnn'.*detector 'xception'"):
        check(config, progress=False)
    rc = main(["check", "--detector", "xception", "--baseline", str(tmp_path / "missing.json")])
    assert rc == 2


def test_a_failing_members_reason_comes_from_the_suite_errors_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reasons are ``SuiteError.failures`` as the runner held them, not cut from its message
    (one reason here names another failing member, which message parsing would split apart)."""
    import harness.workflow
    from harness.runner import MemberFailure, RunResult, SuiteError

    suite = tmp_path / "mini.yaml"
    suite.write_text(
        "name: mini\nmembers:\n  - attack: fgsm\n    eps: 4/255\n  - attack: jpeg\n    quality: 50\n"
        "  - attack: blur\n"
    )
    finished = {
        "attack": "fgsm",
        "budget_tag": "eps4of255",
        "norm": "linf",
        "detector": "cnn",
        "dataset": "synthetic",
        "split_manifest_hash": "ab" * 32,
        "checkpoint_sha256": "cd" * 32,
        "attack_config": {"eps": 4 / 255, "seed": 0},
        "metrics": {
            "auroc_adv": 0.40,
            "auroc_adv_ci": [0.35, 0.45],
            "auroc_clean": 0.95,
            "auroc_clean_ci": [0.90, 1.0],
            "n_videos": 40,
        },
    }
    jpeg_reason = "codec exploded; blur@sigma1: shares the codec"
    failures = [
        MemberFailure(JPEG, "RuntimeError", jpeg_reason),
        MemberFailure("blur@sigma1", "ValueError", "kernel too large"),
    ]
    seen: dict[str, Any] = {}

    def run(config: RunConfig, progress: bool = True, **kw: Any) -> Any:
        seen.update(config=config, **kw)
        raise SuiteError(failures, [RunResult(finished)], 3)

    monkeypatch.setattr(harness.workflow, "run", run)
    baseline = write_baseline(tmp_path / "b.json", _snap())
    junit = tmp_path / "junit.xml"
    config = CheckConfig(
        baseline=str(baseline),
        run=RunConfig(detector="cnn", suite=str(suite)),
        results_dir=str(tmp_path / "runs"),
        junit=str(junit),
    )
    report = check(config, progress=False)

    assert report.current["failed_members"] == {JPEG: jpeg_reason, "blur@sigma1": "kernel too large"}
    diffs = _by_key(list(report.diffs))
    assert diffs[FGSM].status == PASS
    assert (
        diffs[JPEG].status == ERROR and diffs[JPEG].message == f"the attack failed in this run: {jpeg_reason}"
    )
    blur = diffs["blur@sigma1"]
    assert (
        blur.status == ERROR and blur.message == "new member; its attack failed in this run: kernel too large"
    )
    assert not report.passed and report.results == ()
    assert _junit(junit).get("errors") == "2"
    # The check runs the whole workflow into its own folder, with a leaderboard of its own results.
    assert seen["leaderboard"] is True
    assert seen["config"].results_dir == str(tmp_path / "runs")
    assert seen["config"].leaderboard_dir == str(tmp_path / "runs" / "leaderboards")


# ---------------------------------------------------------------------------------------------
# End to end: the CLI on the tiny benchmark with a two-member suite.


def _argv(tiny: tuple[Any, Path], tmp_path: Path, *extra: str) -> list[str]:
    data, ckpt = tiny
    suite = tmp_path / "mini.yaml"
    if not suite.is_file():
        suite.write_text(
            "name: mini\nmembers:\n  - attack: fgsm\n    eps: 4/255\n  - attack: jpeg\n    quality: 50\n"
        )
    return [
        "check",
        "--detector",
        "cnn",
        "--checkpoint",
        str(ckpt),
        "--suite",
        str(suite),
        "--cache-dir",
        str(data.cache_dir),
        "--set",
        "dataset.size=tiny",
        "--set",
        "faces.detector=haar",
        "--set",
        "faces.num_frames=8",
        "--set",
        "n_boot=200",
        "--set",
        "split=all",  # the tiny test split has 2 videos: all 12 give AUROCs with intervals
        "--results-dir",
        str(tmp_path / "runs"),
        "--baseline",
        str(tmp_path / "baseline.json"),
        "-q",
        "--fresh",  # tests swap attack code in memory, which no run key can see
        *extra,
    ]


def _junit(path: Path) -> ET.Element:
    suite = ET.parse(path).getroot().find("testsuite")
    assert suite is not None
    return suite


def test_check_end_to_end(tiny: tuple[Any, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    baseline_path = tmp_path / "baseline.json"
    junit = tmp_path / "out" / "junit.xml"

    # 1. --update-baseline writes it (and nothing is judged).
    assert main(_argv(tiny, tmp_path, "--update-baseline")) == 0
    assert "baseline written" in capsys.readouterr().out
    baseline = json.loads(baseline_path.read_text())
    assert (
        baseline["detector"] == "cnn" and baseline["dataset"] == "synthetic" and baseline["suite"] == "mini"
    )
    assert baseline["suite_members"] == [FGSM, JPEG] and set(baseline["members"]) == {FGSM, JPEG}
    for key in ("split_manifest_hash", "checkpoint_sha256", "code_version", "created", "tolerance"):
        assert baseline[key]
    assert set(baseline["members"][FGSM]) == {
        "auroc_adv",
        "auroc_adv_ci",
        "auroc_clean",
        "auroc_clean_ci",
        "attack_config",
        "perturbation",
    }
    assert baseline["members"][FGSM]["perturbation"]["norm"] == "linf"
    assert baseline["members"][JPEG]["perturbation"]["norm"] is None
    # The check's results and leaderboard stay in its own folder.
    assert (tmp_path / "runs" / "synthetic" / "cnn" / "fgsm-eps4of255.json").is_file()
    assert (tmp_path / "runs" / "leaderboards" / "leaderboard.md").is_file()

    # 2. The same run against it passes and writes JUnit.
    assert main(_argv(tiny, tmp_path, "--junit", str(junit))) == 0
    out = capsys.readouterr().out
    assert "passed: 3 checks" in out and "rule:" in out
    suite = _junit(junit)
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("3", "0", "0")

    # 3. The detector "used to be more robust": baseline far above this run's CI -> regression.
    fgsm = baseline["members"][FGSM]
    lo, hi = fgsm["auroc_adv_ci"] or [fgsm["auroc_adv"], fgsm["auroc_adv"]]
    assert hi < 0.9, f"the tiny cnn should be broken by FGSM at 4/255: {fgsm}"
    tampered = copy.deepcopy(baseline)
    tampered["members"][FGSM].update(
        auroc_adv=min(1.0, hi + 0.1), auroc_adv_ci=[hi + 0.09, min(1.0, hi + 0.11)]
    )
    write_baseline(baseline_path, tampered)
    assert main(_argv(tiny, tmp_path, "--junit", str(junit))) == 1
    assert "REGRESSION" in capsys.readouterr().out
    suite = _junit(junit)
    assert suite.get("failures") == "1"
    failure = suite.find(f"testcase[@name='{FGSM}']/failure")
    assert failure is not None and failure.get("type") == REGRESSION

    # 4. Lowered a lot: this run's attacked AUROC is far above the baseline -> the attack weakened.
    jpeg = baseline["members"][JPEG]
    jlo = (jpeg["auroc_adv_ci"] or [jpeg["auroc_adv"]])[0]
    assert jlo > 0.2, f"JPEG q50 should leave the tiny cnn working: {jpeg}"
    tampered = copy.deepcopy(baseline)
    tampered["members"][JPEG]["auroc_adv"] = max(0.0, jlo - 0.2)
    write_baseline(baseline_path, tampered)
    assert main(_argv(tiny, tmp_path, "--junit", str(junit))) == 1
    assert "ATTACK WEAKENED" in capsys.readouterr().out
    failure = _junit(junit).find(f"testcase[@name='{JPEG}']/failure")
    assert failure is not None and failure.get("type") == WEAKENED

    # 5. --update-baseline over it on purpose: exit 0, says what changed, restores this run's numbers.
    assert main(_argv(tiny, tmp_path, "--update-baseline")) == 0
    out = capsys.readouterr().out
    assert "what changed against the previous baseline" in out and "attack weakened" in out
    assert f"changed (beyond the tolerance, new, missing or other settings): 1 of 3 values ({JPEG})" in out
    assert json.loads(baseline_path.read_text())["members"] == baseline["members"]

    # 6. A baseline of another detector is refused with one clear line (exit 2).
    write_baseline(baseline_path, {**baseline, "detector": "xception"})
    assert main(_argv(tiny, tmp_path)) == 2
    err = capsys.readouterr().err
    assert "detector 'xception'" in err and "detector 'cnn'" in err and "--update-baseline" in err


def test_a_member_that_fails_to_run_keeps_the_old_baseline(
    tiny: tuple[Any, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from harness.attacks.blur import Blur

    def broken(self: Any, model: Any, x: Any, y: Any) -> Any:
        raise RuntimeError("codec exploded")

    monkeypatch.setattr(Blur, "run", broken)
    (tmp_path / "mini.yaml").write_text(
        "name: mini\nmembers:\n  - attack: blur\n  - attack: jpeg\n    quality: 50\n"
    )
    old = write_baseline(tmp_path / "baseline.json", _snap())
    assert main(_argv(tiny, tmp_path, "--update-baseline")) == 1
    out = capsys.readouterr().out
    assert "baseline NOT written" in out and "blur@sigma1" in out and "codec exploded" in out
    assert json.loads(old.read_text()) == _snap()


# ---------------------------------------------------------------------------------------------
# The perturbation rule: an attack that silently stopped working fails even when its AUROC does not.


def _stats(
    linf: float | None = 4 / 255, l2: float | None = 0.6, norm: str | None = "linf", **more: Any
) -> dict[str, Any]:
    """A member's perturbation statistics as :func:`harness.check.snapshot` stores them."""
    out: dict[str, Any] = {"norm": norm, "linf_mean": linf, "l2_mean": l2, "psnr_mean": 40.0}
    out.update(more)
    return out


def _with_stats(snap: dict[str, Any], key: str, **stats: Any) -> dict[str, Any]:
    snap["members"][key]["perturbation"] = _stats(**stats)
    return snap


def test_a_collapsed_perturbation_fails_even_inside_a_wide_ci() -> None:
    baseline = _with_stats(_snap(), FGSM, unperturbed_fraction=0.0, n_attacked=40, n_unperturbed=0)
    # The attacked AUROC moved beyond the tolerance but stayed inside a wide interval: today a pass.
    current = _snap(**{FGSM: _member(0.46, [0.20, 0.70]), JPEG: _member(0.90, [0.85, 0.95])})
    current = _with_stats(
        current, FGSM, linf=0.0, l2=0.0, unperturbed_fraction=1.0, n_attacked=40, n_unperturbed=40
    )
    diffs = _by_key(compare(baseline, current, 0.02))
    d = diffs[FGSM]
    assert d.status == COLLAPSED and d.failed
    assert "perturbation collapsed" in d.message
    assert "linf_mean 0.015686 -> 0" in d.message and "l2_mean 0.6 -> 0" in d.message
    assert "unperturbed fraction 0.000 -> 1.000" in d.message and "40 of 40" in d.message
    assert "0.4000 -> 0.4600" in d.message and "inside this run's 95% CI" in d.message  # the AUROC part
    assert diffs[JPEG].status == PASS and diffs["clean"].status == PASS
    table = render_table(list(diffs.values()), 0.02)
    assert "PERTURBATION COLLAPSED" in table and f"{FGSM}: perturbation collapsed" in table
    assert "perturbation collapsed" in table.splitlines()[-1]
    failure = ET.fromstring(junit_xml(list(diffs.values()))).find(
        f"testsuite/testcase[@name='{FGSM}']/failure"
    )
    assert (
        failure is not None and failure.get("type") == COLLAPSED and "linf_mean" in failure.get("message", "")
    )
    # The thresholds are settings: a looser size ratio and fraction tolerance let this pass.
    loose = PerturbationRule(size_ratio=0.0, fraction_tolerance=1.0)
    assert _by_key(compare(baseline, current, 0.02, loose))[FGSM].status == WITHIN_CI


@pytest.mark.parametrize(
    ("base", "cur", "status", "says"),
    [
        ({"linf": 4 / 255, "l2": 0.6}, {"linf": 3.5 / 255, "l2": 0.5}, PASS, ""),
        ({"linf": 4 / 255, "l2": 0.6}, {"linf": 4 / 255, "l2": 0.2}, COLLAPSED, "l2_mean 0.6 -> 0.2"),
        ({"unperturbed_fraction": 0.05}, {"unperturbed_fraction": 0.1}, PASS, ""),
        (
            {"unperturbed_fraction": 0.05},
            {"unperturbed_fraction": 0.3},
            COLLAPSED,
            "unperturbed fraction 0.050",
        ),
        (
            {"n_attacked": 20, "n_unperturbed": 0},
            {"n_attacked": 20, "n_unperturbed": 10},
            COLLAPSED,
            "0.000 -> 0.500",
        ),
        ({"zero_grad_fraction": 0.0}, {"zero_grad_fraction": 0.05}, PASS, ""),
        (
            {"zero_grad_fraction": 0.0},
            {"zero_grad_fraction": 0.8},
            COLLAPSED,
            "zero-gradient fraction 0.000 -> 0.800",
        ),
        ({"zero_grad_fraction": None}, {"zero_grad_fraction": 0.8}, PASS, ""),
        ({"linf": 0.0, "l2": 0.0}, {"linf": 0.0, "l2": 0.0}, PASS, ""),  # nothing to collapse from
        ({"linf": 4 / 255}, {"linf": None}, PASS, ""),
    ],
)
def test_each_perturbation_statistic_is_judged(
    base: dict[str, Any], cur: dict[str, Any], status: str, says: str
) -> None:
    baseline = _with_stats(_snap(), FGSM, **base)
    current = _with_stats(_snap(), FGSM, **cur)
    d = _by_key(compare(baseline, current, 0.02))[FGSM]
    assert d.status == status, d.message
    assert says in d.message
    if status == PASS:
        assert "attacked AUROC 0.4000 -> 0.4000" in d.message
    # Only the new stats are judged: an identical AUROC does not save the member.
    assert d.failed == (status == COLLAPSED)


@pytest.mark.parametrize(
    ("cur", "says"),
    [
        ({"l2": 0.0, "psnr_mean": None, "psnr_n_inf": 40}, "psnr_mean 30.00 dB -> inf"),
        ({"l2": 0.9, "psnr_mean": 37.0}, "psnr_mean 30.00 -> 37.00 dB"),
        ({"l2": 0.4, "psnr_mean": 33.0}, "l2_mean 1.2 -> 0.4"),
    ],
)
def test_a_perturbation_without_a_budget_is_judged_by_l2_and_psnr(cur: dict[str, Any], says: str) -> None:
    baseline = _with_stats(_snap(), JPEG, norm=None, linf=0.1, l2=1.2, psnr_mean=30.0, psnr_n_inf=0)
    current = _with_stats(_snap(), JPEG, norm=None, linf=0.1, **cur)
    d = _by_key(compare(baseline, current, 0.02))[JPEG]
    assert d.status == COLLAPSED and d.failed and says in d.message
    # Its L-inf size is not judged (a perturbation has no budget), small PSNR moves pass.
    current = _with_stats(_snap(), JPEG, norm=None, linf=0.01, l2=1.1, psnr_mean=32.0)
    assert _by_key(compare(baseline, current, 0.02))[JPEG].status == PASS


def test_perturbation_statistics_are_optional_on_both_sides() -> None:
    collapsed = _with_stats(_snap(), FGSM, linf=0.0, l2=0.0, unperturbed_fraction=1.0, zero_grad_fraction=1.0)
    # A baseline written before the statistics: nothing to compare them with, the AUROC decides.
    assert {d.status for d in compare(_snap(), collapsed, 0.02)} == {PASS}
    # A baseline with today's statistics only (no unperturbed / zero-gradient fraction).
    partial = _with_stats(_snap(), FGSM)
    d = _by_key(compare(partial, collapsed, 0.02))[FGSM]
    assert d.status == COLLAPSED and "linf_mean" in d.message and "fraction" not in d.message
    # A change of the 8-bit rounding is noted.
    base = _with_stats(_snap(), FGSM, quantized=False)
    cur = _with_stats(_snap(), FGSM, quantized=True)
    d = _by_key(compare(base, cur, 0.02))[FGSM]
    assert d.status == PASS and any("quantized False -> True" in n for n in d.notes)


def test_snapshot_keeps_the_perturbation_statistics_of_results() -> None:
    result = {
        "attack": "fgsm",
        "budget_tag": "eps4of255",
        "norm": "linf",
        "quantized": True,
        "metrics": {
            "auroc_adv": 0.5,
            "linf_mean": 4 / 255,
            "l2_mean": 0.61,
            "psnr_mean": 41.0,
            "psnr_min": float("inf"),
            "psnr_n_inf": 2,
            "n_attacked": 10,
            "n_unperturbed": 2,
            "unperturbed_fraction": 0.2,
            "zero_grad_fraction": None,
        },
    }
    old = {"attack": "jpeg", "budget_tag": "quality50", "norm": None, "metrics": {"l2_mean": 1.5}}
    snap = snapshot([result, old], suite="mini", suite_members=[FGSM, JPEG], tolerance=0.02)
    stats = snap["members"][FGSM]["perturbation"]
    assert stats["norm"] == "linf" and stats["linf_mean"] == round(4 / 255, 6) and stats["quantized"] is True
    assert (stats["n_attacked"], stats["n_unperturbed"], stats["unperturbed_fraction"]) == (10, 2, 0.2)
    assert stats["psnr_min"] is None and stats["zero_grad_fraction"] is None  # inf / null: JSON-safe
    old_stats = snap["members"][JPEG]["perturbation"]
    assert old_stats["norm"] is None and old_stats["l2_mean"] == 1.5 and old_stats["n_attacked"] is None
    assert json.loads(json.dumps(snap)) == snap


def test_the_committed_baseline_still_loads_and_compares() -> None:
    path = Path(__file__).resolve().parents[1] / "configs" / "baselines" / "cnn-smoke.json"
    baseline = load_baseline(path)
    assert all("perturbation" in m for m in baseline["members"].values()), "recorded with the statistics"
    diffs = compare(baseline, copy.deepcopy(baseline), baseline["tolerance"])
    assert all(not d.failed and not d.errored for d in diffs), "a baseline passes against itself"
    collapsed = copy.deepcopy(baseline)
    for key in collapsed["members"]:
        collapsed["members"][key]["perturbation"] = _stats(linf=0.0, l2=0.0, unperturbed_fraction=1.0)
    assert {d.status for d in compare(baseline, collapsed, baseline["tolerance"])[1:]} == {COLLAPSED}
    # An older baseline without the statistics still compares (the rule is skipped, not failed).
    old = copy.deepcopy(baseline)
    for key in old["members"]:
        del old["members"][key]["perturbation"]
    assert all(not d.failed and not d.errored for d in compare(old, collapsed, baseline["tolerance"]))


def test_perturbation_thresholds_are_validated() -> None:
    with pytest.raises(ValueError, match="size_ratio"):
        PerturbationRule(size_ratio=1.5)
    with pytest.raises(ValueError, match="fraction_tolerance"):
        PerturbationRule(fraction_tolerance=-0.1)
    config = CheckConfig(baseline="b.json", perturbation=PerturbationRule(size_ratio=0.25))
    assert (
        config.perturbation.size_ratio == 0.25
        and CheckConfig(baseline="b.json").perturbation.size_ratio == 0.5
    )


# End to end with a registered attack that silently stops working.

NOOP = "checknoop"
NOOP_KEY = f"{NOOP}@eps4of255"


@dataclasses.dataclass(frozen=True)
class _NoOpConfig(AttackConfig):
    eps: float = 4 / 255


class _NoOp(Attack):
    """A gradient attack that silently stopped working: it returns its input unchanged."""

    name = NOOP
    Config = _NoOpConfig
    norm = "linf"
    uses_gradients = True

    def run(self, model: AttackModel, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return x


def _working(self: _NoOp, model: AttackModel, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """What the attack did while it worked: seeded +-eps noise (hardly moves the tiny cnn's AUROC)."""
    gen = torch.Generator(device=x.device).manual_seed(self.config.seed)
    sign = torch.randint(0, 2, x.shape, generator=gen, device=x.device, dtype=x.dtype) * 2 - 1
    return project_linf(x + self.config.eps * sign, x, self.config.eps)


@pytest.fixture(scope="module")
def noop_check(tiny: tuple[Any, Path], tmp_path_factory: pytest.TempPathFactory) -> Any:
    """``_NoOp`` registered as ``checknoop`` (removed afterwards) and a baseline of it working."""
    from harness.attacks import ATTACKS

    tmp_path = tmp_path_factory.mktemp("noop")
    (tmp_path / "mini.yaml").write_text(f"name: mini\nmembers:\n  - attack: {NOOP}\n    eps: 4/255\n")
    ATTACKS.add(NOOP, _NoOp)
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(_NoOp, "run", _working)
            assert main(_argv(tiny, tmp_path, "--update-baseline")) == 0
        yield tmp_path
    finally:
        if NOOP in ATTACKS:
            ATTACKS.remove(NOOP)


def test_an_unchanged_attack_still_passes(
    noop_check: Path,
    tiny: tuple[Any, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    stats = json.loads((noop_check / "baseline.json").read_text())["members"][NOOP_KEY]["perturbation"]
    assert stats["norm"] == "linf" and stats["linf_mean"] > 3 / 255 and stats["l2_mean"] > 0
    monkeypatch.setattr(_NoOp, "run", _working)
    junit = noop_check / "unchanged.xml"
    assert main(_argv(tiny, noop_check, "--junit", str(junit))) == 0
    assert "passed: 2 checks" in capsys.readouterr().out
    assert _junit(junit).get("failures") == "0"


def test_an_attack_that_stopped_working_fails_the_check(
    noop_check: Path, tiny: tuple[Any, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    junit = noop_check / "noop.xml"
    assert main(_argv(tiny, noop_check, "--junit", str(junit))) == 1
    out = capsys.readouterr().out
    assert "PERTURBATION COLLAPSED" in out and "linf_mean" in out and "-> 0 (below 0.5x" in out
    failure = _junit(junit).find(f"testcase[@name='{NOOP_KEY}']/failure")
    assert failure is not None and failure.get("type") == COLLAPSED
    # The AUROC alone would have passed it: the no-op's AUROC stays within the tolerance or the CI.
    baseline = load_baseline(noop_check / "baseline.json")
    result = json.loads((noop_check / "runs" / "synthetic" / "cnn" / f"{NOOP}-eps4of255.json").read_text())
    assert result["metrics"]["linf_mean"] == 0.0
    current = snapshot([result], suite="mini", suite_members=[NOOP_KEY], tolerance=0.02)
    auroc_only = PerturbationRule(size_ratio=0.0, fraction_tolerance=1.0)
    d = _by_key(compare(baseline, current, 0.02, auroc_only))[NOOP_KEY]
    assert d.status in (PASS, WITHIN_CI), d.message
