"""Proof that the attacks converged, and the ensemble per L-inf budget.

The convergence check (``harness.runner.convergence``) runs on the tiny embedded benchmark with the
session's tiny cnn: a deliberately weak PGD (one step of a twentieth of a grey level) is caught by APGD
with restarts and flagged ``not-converged``; a PGD that already reached the floor is not. The
per-budget ensemble is checked against a hand computation on result files written as the runner
writes them (the builders of tests/test_leaderboard.py).
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_leaderboard import elements, hand_result, write_scores

from harness import workflow
from harness.config import build_config
from harness.data import DataConfig
from harness.leaderboard import draw_figure, leaderboard_rows, load_records, load_results, render
from harness.runner import Interrupted, RunConfig
from harness.runner.convergence import APGD_RESTARTS, STEPS_FACTOR, plan, robust_checkpoint, wanted
from harness.suites import SuiteMember, load_suite

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors: one torch thread is fastest

E2, E4, E8 = 2 / 255, 4 / 255, 8 / 255
WEAK = [
    "attack_options.eps=4/255",
    "attack_options.steps=1",
    "attack_options.alpha=0.0002",
    "attack_options.random_start=false",
]


def _config(tiny: tuple[DataConfig, Path], out: Path, sets: Sequence[str], **cli: Any) -> RunConfig:
    """A PGD run of the tiny cnn on the tiny benchmark with the convergence check, under ``out``."""
    data, ckpt = tiny
    base = {
        "detector": "cnn",
        "checkpoint": str(ckpt),
        "attack": "pgd",
        "data": vars(data) | {"faces": vars(data.faces)},
        "results_dir": str(out / "results"),
        "leaderboard_dir": str(out / "lb"),
        "n_boot": 200,
        "batch_size": 8,
        "workers": 0,
        "convergence": True,
        "split": "all",  # 16 videos (the test split's 4 are too few for a bootstrap interval)
        "frames_per_video": 2,
    }
    return build_config(RunConfig, cli=base | cli, sets=list(sets))


def _steady(block: dict[str, Any]) -> dict[str, Any]:
    """A convergence block without its timings (what must not depend on how the run went)."""
    return {
        **block,
        "checks": [{k: v for k, v in c.items() if k != "attack_seconds"} for c in block["checks"]],
    }


# -- which members are checked, and how ----------------------------------------------------------------
def test_checks_are_5x_steps_and_apgd_with_restarts_at_the_same_budget() -> None:
    config = RunConfig(convergence=True)
    pgd = plan(config, SuiteMember("pgd", {"eps": E4, "steps": 10}), {})
    assert [c.name for c in pgd] == ["steps", "apgd"]
    assert pgd[0].member.options == {"eps": E4, "steps": 10 * STEPS_FACTOR, "convergence": False}
    assert pgd[0].member.key == "pgd@eps4of255", "the same attack at the same budget"
    assert pgd[1].member.options == {
        "eps": E4,
        "steps": 50,
        "n_restarts": APGD_RESTARTS,
        "convergence": False,
    }
    fgsm = plan(config, SuiteMember("fgsm", {"eps": E4}), {})
    assert [c.name for c in fgsm] == ["apgd"], "FGSM has no steps to multiply"
    assert fgsm[0].member.options == {"eps": E4, "steps": 5, "n_restarts": 3, "convergence": False}
    apgd = plan(config, SuiteMember("apgd", {"eps": E4, "steps": 50}), {})
    assert apgd[0].member.options["steps"] == 250
    assert apgd[1].member.options == {"eps": E4, "steps": 50, "n_restarts": 3, "convergence": False}
    assert apgd[1].member == pgd[1].member, "the same check: one stage for both members of a run"
    l2 = plan(config, SuiteMember("pgdl2", {"eps": 0.5, "steps": 10}), {})
    assert [c.name for c in l2] == ["steps"], "APGD here is L-inf only"
    for member in (
        SuiteMember("jpeg", {"quality": 50}),  # no gradients
        SuiteMember("square", {"eps": E4}),  # black-box
        SuiteMember("pgd", {"eps": E4, "post": "jpeg:75"}),  # a codec between attack and detector
        SuiteMember("pgd", {"eps": E4, "scope": "video"}),  # one perturbation per video
    ):
        assert plan(config, member, {}) == [], member
    with pytest.raises(ValueError, match="white-box members only"):
        plan(RunConfig(), SuiteMember("jpeg", {"quality": 50, "convergence": True}), {})


def test_robust_checkpoints_get_the_check_unless_turned_off() -> None:
    adversarial = {"adversarial": {"method": "pgd", "eps": E4}}
    pgd = SuiteMember("pgd", {"eps": E4})
    assert robust_checkpoint(adversarial) and robust_checkpoint({"noise_sigma": 0.25})
    assert not robust_checkpoint({}) and not robust_checkpoint({"noise_sigma": 0.0})
    assert wanted(RunConfig(), pgd, adversarial) and wanted(RunConfig(), pgd, {"noise_sigma": 0.25})
    assert not wanted(RunConfig(), pgd, {}), "standard models: off unless asked"
    assert not wanted(RunConfig(convergence=False), pgd, adversarial), "--set convergence=false"
    assert wanted(RunConfig(convergence=True), pgd, {})
    own = SuiteMember("pgd", {"eps": E4, "convergence": True})
    assert wanted(RunConfig(convergence=False), own, {}), "a suite member's own setting first"


def test_a_suite_member_may_ask_for_the_check(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("name: s\nmembers:\n  - attack: pgd\n    eps: [2/255, 4/255]\n    convergence: true\n")
    suite = load_suite(str(path))
    assert [m.key for m in suite.members] == ["pgd@eps2of255", "pgd@eps4of255"], "the tag is unchanged"
    assert all(m.options["convergence"] is True for m in suite.members)
    path.write_text("name: s\nmembers:\n  - attack: pgd\n    convergence: maybe\n")
    with pytest.raises(ValueError, match="convergence must be true or false"):
        load_suite(str(path))


# -- the check on the tiny benchmark --------------------------------------------------------------------
def test_a_weak_attack_is_not_converged_and_its_row_is_flagged(
    tiny: tuple[DataConfig, Path], tmp_path: Path
) -> None:
    (run,) = workflow.run(_config(tiny, tmp_path, WEAK), progress=False, leaderboard=False)
    block = json.loads(run.path.read_text())["convergence"]
    assert block["member"]["auroc"] == run.result["metrics"]["auroc_adv"]
    assert block["member"]["auroc_ci"] == run.result["metrics"]["auroc_adv_ci"], "the same resamples"
    steps, apgd = block["checks"]
    assert (steps["steps"], steps["attack_config"]["alpha"]) == (5, 0.0002), "5x the steps, all else equal"
    assert (apgd["attack"], apgd["restarts"], apgd["total_steps"]) == ("apgd", 3, 15)
    assert apgd["auroc"] < block["member"]["auroc"] - 0.3 and apgd["drop_ci"][0] > 0 and apgd["lowers"]
    assert block["converged"] is False
    columns = next(csv.reader(run.path.with_suffix(".videos.csv").open()))
    assert columns[-2:] == ["adv_score_steps", "adv_score_apgd"]

    out = render(tmp_path / "results")
    [row] = [line for line in csv.DictReader(io.StringIO(out.csv))]
    assert "not-converged: pgd@eps4of255" in row["flags"]
    assert "apgd with 3 restarts of 5 steps" in row["flags"] and "paired 95% interval" in row["flags"]
    assert "not-converged" in out.markdown and 'class="flag not-converged"' in out.html
    [plan_] = out.figures.values()
    [(label, points)] = plan_.steps.lines
    assert label == "ε 4/255" and [p[0] for p in points] == [1, 5, 15], "steps of member and checks"
    assert points[-1][1] == pytest.approx(apgd["auroc"])
    assert plan_.panels == 2 and draw_figure(plan_, out.records).startswith(b"\x89PNG"), "ROC + steps"


def test_an_attack_at_its_floor_is_converged_and_not_flagged(
    tiny: tuple[DataConfig, Path], tmp_path: Path
) -> None:
    sets = ["attack_options.eps=32/255", "attack_options.steps=2"]
    (run,) = workflow.run(_config(tiny, tmp_path, sets), progress=False, leaderboard=False)
    block = run.result["convergence"]
    assert block["member"]["auroc"] == 0.0, "the attack already fools every pair"
    assert block["converged"] is True and not any(c["lowers"] for c in block["checks"])
    assert "not-converged" not in render(tmp_path / "results").csv


def test_a_convergence_check_killed_midway_resumes_with_the_same_numbers(
    tiny: tuple[DataConfig, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import harness.runner.context as context

    sets = ["attack_options.eps=4/255", "attack_options.steps=2"]
    (whole,) = workflow.run(_config(tiny, tmp_path / "whole", sets), progress=False, leaderboard=False)
    batches = whole.result["execution"]["batches"]  # split all: no validation batches
    kill_after = 3 * batches + 1  # clean, member and one batch into the second stronger attack
    calls: list[str] = []

    def counting() -> None:
        calls.append("batch")

    def kill() -> None:
        calls.append("batch")
        if len(calls) > kill_after:
            raise KeyboardInterrupt

    calls.clear()
    monkeypatch.setattr(context, "fault_point", kill)
    with pytest.raises(Interrupted, match="run the same command to resume"):
        workflow.run(_config(tiny, tmp_path / "killed", sets), progress=False, leaderboard=False)
    assert not list((tmp_path / "killed" / "results").rglob("*.json")), "no result from the killed run"

    calls.clear()
    monkeypatch.setattr(context, "fault_point", counting)
    (resumed,) = workflow.run(_config(tiny, tmp_path / "killed", sets), progress=False, leaderboard=False)
    assert len(calls) == batches - 1, "only the batches not in the resume logs are computed"
    assert resumed.result["execution"]["batches_resumed_here"] == kill_after
    assert _steady(resumed.result["convergence"]) == _steady(whole.result["convergence"])
    assert (
        resumed.path.with_suffix(".videos.csv").read_text()
        == whole.path.with_suffix(".videos.csv").read_text()
    )
    assert not (tmp_path / "killed" / "results" / ".partial").exists(), "resume logs go once the run is done"


# -- the leaderboard's reading of stored checks ---------------------------------------------------------
def _checked(adv: float, check: float, drop_ci: list[float]) -> dict[str, Any]:
    block = {
        "member": {"auroc": adv, "steps": 10, "restarts": 1, "total_steps": 10},
        "checks": [
            {
                "name": "steps",
                "attack": "pgd",
                "steps": 50,
                "restarts": 1,
                "total_steps": 50,
                "auroc": check,
                "auroc_ci": [check - 0.1, check + 0.1],
                "drop_ci": drop_ci,
            }
        ],
    }
    return hand_result(
        "s", "pgd@eps4of255", adv, budget=E4, norm="linf", uses_gradients=True, black_box=False,
        attack_config={"steps": 10}, convergence=block,
    )  # fmt: skip


def test_not_converged_follows_the_paired_interval_of_the_drop() -> None:
    def flags(result: dict[str, Any]) -> dict[str, str]:
        _, [row] = leaderboard_rows([result], standard=[])
        return {f["code"]: f["message"] for f in row["flags"]}

    message = flags(_checked(0.80, 0.70, [0.02, 0.18]))["not-converged"]
    assert message == (
        "pgd@eps4of255 0.800 is above pgd with 50 steps 0.700: "
        "paired 95% interval of the difference [+0.020, +0.180]"
    )
    assert flags(_checked(0.80, 0.70, [-0.01, 0.18])) == {}, "the interval holds 0: within the noise"
    assert flags(_checked(0.80, 0.80, [0.0, 0.0])) == {}, "equal numbers"
    assert flags(_checked(0.70, 0.80, [-0.18, -0.02])) == {}, "stronger is higher: more-steps-weaker's case"


# -- the ensemble per L-inf budget ----------------------------------------------------------------------
def test_ensemble_per_linf_budget_is_the_per_video_worst_case_at_that_budget(tmp_path: Path) -> None:
    labels = np.array([0, 1, 0, 1, 0, 1, 0, 1])  # reals 0.1-0.4, fakes 0.6-0.9
    clean = np.array([0.1, 0.6, 0.2, 0.7, 0.3, 0.8, 0.4, 0.9])
    pgd4 = np.where(np.arange(8) == 1, 0.05, clean)  # one fake below every real
    fgsm4 = np.where(np.arange(8) == 0, 0.95, clean)  # one real above every fake
    pgd8 = np.where(np.isin(np.arange(8), (1, 3)), 0.05, clean)  # two fakes below every real
    common = {"labels": labels, "clean": clean}

    def linf(attack: str, eps: float, adv: np.ndarray, **kw: Any) -> None:
        write_scores(tmp_path, "d", "synthetic", attack, "eps", eps, "linf", True, adv=adv, **common, **kw)

    linf("pgd", E4, pgd4)
    linf("fgsm", E4, fgsm4)
    linf("pgd", E8, pgd8)
    linf("pgd", E2, clean)
    linf("fgsm", E2, clean, records=False)  # no per-video records: no ensemble at 2/255
    write_scores(
        tmp_path, "d", "synthetic", "square", "eps", E4, "linf", False, True, adv=1 - clean, **common
    )
    write_scores(tmp_path, "d", "synthetic", "pgdl2", "eps", 0.5, "l2", True, adv=1 - clean, **common)
    write_scores(tmp_path, "j", "synthetic", "jpeg", "quality", 50, adv=clean, **common)
    results = load_results(tmp_path)
    standard = sorted({f"{r['attack']}@{r['budget_tag']}" for r in results})
    columns, rows = leaderboard_rows(results, standard=standard, records=load_records(results))
    row = next(r for r in rows if r["detector"] == "d")
    ens = row["budget_ensembles"]
    assert sorted(ens) == ["ensemble@eps2of255", "ensemble@eps4of255", "ensemble@eps8of255"], "L-inf only"
    # by hand at 4/255: fakes (0.05, 0.7, 0.8, 0.9) vs reals (0.95, 0.2, 0.3, 0.4): 9 of 16 pairs
    assert ens["ensemble@eps4of255"]["value"] == pytest.approx(9 / 16)
    assert ens["ensemble@eps4of255"]["members"] == ["fgsm@eps4of255", "pgd@eps4of255"], "white-box only"
    assert row["pgd@eps4of255"] == row["fgsm@eps4of255"] == pytest.approx(12 / 16)
    assert ens["ensemble@eps8of255"]["value"] == pytest.approx(8 / 16), "one member: its own AUROC"
    lo, hi = ens["ensemble@eps4of255"]["ci"]
    assert lo <= 9 / 16 <= hi
    assert math.isnan(ens["ensemble@eps2of255"]["value"]) and ens["ensemble@eps2of255"]["ci"] is None
    assert next(r for r in rows if r["detector"] == "j")["budget_ensembles"] == {}

    out = render(tmp_path, standard)
    lines = {line["detector"]: line for line in csv.DictReader(io.StringIO(out.csv))}
    header = out.csv.splitlines()[0].split(",")
    start = header.index("ensemble@eps2of255")
    assert header[start : start + 9] == [
        f"ensemble@{tag}{end}"
        for tag in ("eps2of255", "eps4of255", "eps8of255")
        for end in ("", "_lo", "_hi")
    ], "smallest budget first, each with its interval"
    assert lines["d"]["ensemble@eps4of255"] == "0.5625" and lines["d"]["ensemble@eps8of255"] == "0.5000"
    assert lines["d"]["ensemble@eps2of255"] == "" and lines["j"]["ensemble@eps4of255"] == ""
    assert "ensemble ε 4/255" in out.markdown and f"0.562 [{lo:.2f}, {hi:.2f}]" in out.markdown
    heads = [a for a, text in elements(out.html, "th") if a.get("title", "").startswith("ensemble@eps4of255")]
    assert len(heads) == 1 and heads[0]["data-type"] == "num"
    [cell] = [a for a, _ in elements(out.html, "td") if a.get("title", "").startswith("at ε 4/255")]
    assert cell["title"] == "at ε 4/255: per-video worst case over fgsm@eps4of255, pgd@eps4of255"
    assert cell["data-v"] == "0.562500"
    [na] = [(a, t) for a, t in elements(out.html, "td") if a.get("title", "").startswith("at ε 2/255")]
    assert na[1] == "n/a" and "needs the per-video records" in na[0]["title"]
