"""``harness check``: the pure comparison rule, the JUnit XML, baselines, and the CLI end to end."""

from __future__ import annotations

import copy
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from harness.check import (
    CLEAN_REGRESSION,
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
    check,
    check_compatible,
    compare,
    junit_xml,
    load_baseline,
    render_table,
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

    def boom(*a: Any, **k: Any) -> None:
        raise AssertionError("evaluate must not run")

    monkeypatch.setattr(harness.runner, "evaluate", boom)
    baseline = write_baseline(tmp_path / "b.json", {**_snap(), "suite": "smoke"})
    config = CheckConfig(baseline=str(baseline), run=RunConfig(detector="xception", suite="smoke"))
    with pytest.raises(ValueError, match="detector 'cnn'.*detector 'xception'"):
        check(config, progress=False)
    rc = main(["check", "--detector", "xception", "--baseline", str(tmp_path / "missing.json")])
    assert rc == 2


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
    }
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
