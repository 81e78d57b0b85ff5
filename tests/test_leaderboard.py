"""The leaderboard: columns, worst case, mean drop, sorting, flags, intervals, formats, determinism.

Result files are written here as ``harness run`` writes them (``_run_member``): metrics computed by
``harness.metrics.summarize`` from per-video scores, with the ``.videos.csv`` records beside them.
The browser test of the HTML page (tests/test_leaderboard_browser.py) uses the same builders.
"""

from __future__ import annotations

import csv
import io
import json
import math
import shutil
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import REPO_ROOT

from harness.leaderboard import (
    figure_plans,
    format_ci,
    leaderboard_rows,
    load_entries,
    load_records,
    load_results,
    masking_flags,
    render,
    render_csv,
    render_html,
    render_markdown,
    standard_columns,
    write_leaderboards,
)
from harness.suites import strength_tag

# The standard suite as (attack, strength setting, value, norm, uses_gradients, black_box).
STANDARD: list[tuple[str, str, float, str | None, bool, bool]] = [
    *(("fgsm", "eps", k / 255, "linf", True, False) for k in (1, 2, 4, 8)),
    *(("pgd", "eps", k / 255, "linf", True, False) for k in (1, 2, 4, 8)),
    ("pgdl2", "eps", 0.5, "l2", True, False),
    ("apgd", "eps", 4 / 255, "linf", True, False),
    ("square", "eps", 4 / 255, "linf", False, True),
    *(("jpeg", "quality", q, None, False, False) for q in (90, 75, 50, 30)),
    *(("h264", "crf", c, None, False, False) for c in (23, 30, 40)),
    ("blur", "sigma", 1.0, None, False, False),
    ("noise", "sigma", 0.05, None, False, False),
    ("resize", "scale", 0.5, None, False, False),
]
STANDARD_KEYS = [f"{a}@{strength_tag(p, v)}" for a, p, v, *_ in STANDARD]


def _severity(attack: str, param: str, value: float) -> float:
    """How hard a member pushes scores toward the wrong class (0: not at all), before robustness."""
    if param == "eps":
        scale = {"fgsm": 0.45, "pgd": 1.0, "apgd": 1.05, "square": 0.7, "pgdl2": 0.8, "cw": 0.9}.get(
            attack, 0.8
        )
        return scale * (value * 255 / 8 if value < 0.1 else value)
    if param == "quality":
        return 0.35 * (100 - value) / 70
    if param == "crf":
        return 0.5 * (value - 18) / 22
    return 0.3


def write_result(
    results_dir: Path,
    detector: str,
    dataset: str,
    attack: str,
    param: str,
    value: float,
    norm: str | None = None,
    uses_gradients: bool = False,
    black_box: bool = False,
    *,
    separation: float = 1.4,
    robustness: float = 0.5,
    masked: bool = False,
    n_videos: int = 40,
    checkpoint_sha256: str = "ab" * 32,
    created: str = "2025-01-02T03:04:05+0000",
    records: bool = True,
) -> Path:
    """One result JSON (and its per-video records) as the runner writes it, from simulated scores."""
    rng = np.random.default_rng(zlib.crc32(f"{detector}/{dataset}".encode()))
    labels = np.arange(n_videos) % 2
    sign = 2 * labels - 1
    z = sign * separation + rng.normal(0, 1.0, n_videos)
    member_rng = np.random.default_rng(zlib.crc32(f"{detector}/{dataset}/{attack}/{value}".encode()))
    push = _severity(attack, param, value) * (1 - robustness) * 4
    if masked and uses_gradients:
        push *= 0.05  # masked gradients: white-box attacks barely move the scores
    z_adv = z - sign * push + member_rng.normal(0, 0.4, n_videos)
    clean, adv = 1 / (1 + np.exp(-z)), 1 / (1 + np.exp(-z_adv))
    return write_scores(
        results_dir,
        detector,
        dataset,
        attack,
        param,
        value,
        norm,
        uses_gradients,
        black_box,
        labels=labels,
        clean=clean,
        adv=adv,
        checkpoint_sha256=checkpoint_sha256,
        created=created,
        records=records,
    )


def write_scores(
    results_dir: Path,
    detector: str,
    dataset: str,
    attack: str,
    param: str,
    value: float,
    norm: str | None = None,
    uses_gradients: bool = False,
    black_box: bool = False,
    *,
    labels: np.ndarray,
    clean: np.ndarray,
    adv: np.ndarray,
    checkpoint_sha256: str = "ab" * 32,
    created: str = "2025-01-02T03:04:05+0000",
    records: bool = True,
    **extra: Any,
) -> Path:
    """One result JSON (and its per-video records) as the runner writes it, from given per-video
    labels (1 = fake) and scores; ``extra`` keys go into the result (``attack_config``, ...)."""
    from harness import metrics

    n_videos = len(labels)
    clean, adv = np.round(np.asarray(clean, float), 6), np.round(np.asarray(adv, float), 6)
    summary = metrics.summarize(labels, clean, adv, threshold=0.5, n_boot=200, seed=0)
    tag = strength_tag(param, value)
    result = {
        "schema_version": 1,
        "detector": detector,
        "dataset": dataset,
        "attack": attack,
        "suite": "standard",
        "budget": value if norm else None,
        "strength_param": param,
        "strength": value,
        "budget_tag": tag,
        "norm": norm,
        "uses_gradients": uses_gradients,
        "black_box": black_box,
        "split": "test",
        "aggregate": "mean",
        "metrics": {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in summary.items()},
        "checkpoint": f"/ckpt/{detector}.pt",
        "checkpoint_sha256": checkpoint_sha256,
        "seed": 0,
        "created": created,
        **extra,
    }
    path = results_dir / dataset / detector / f"{attack}-{tag}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2))
    if records:
        with path.with_suffix(".videos.csv").open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["video_id", "label", "clean_score", "adv_score"])
            for i in range(n_videos):
                w.writerow([f"v{i:03d}", int(labels[i]), f"{clean[i]:.6f}", f"{adv[i]:.6f}"])
    return path


def write_suite(
    results_dir: Path, detector: str, dataset: str = "synthetic", skip: tuple[str, ...] = (), **kw: Any
) -> None:
    """Results for every standard member (except ``skip`` keys) of one detector."""
    for (attack, param, value, norm, grad, bb), key in zip(STANDARD, STANDARD_KEYS, strict=True):
        if key not in skip:
            write_result(results_dir, detector, dataset, attack, param, value, norm, grad, bb, **kw)


def write_entry(
    results_dir: Path, name: str, dataset: str, flags: list[dict[str, str]], meta: dict[str, str]
) -> Path:
    """A submission entry as ``harness submit`` writes it."""
    path = results_dir / dataset / name / "entry.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    entry = {
        "kind": "entry",
        "name": name,
        "dataset": dataset,
        "meta": meta,
        "flags": flags,
        "suite": "standard",
    }
    path.write_text(json.dumps(entry, indent=2))
    return path


def build_board(results_dir: Path) -> list[str]:
    """A realistic results folder: several detectors and datasets, complete and partial, one
    gradient-masking submission; returns the names of its leaderboard rows."""
    write_suite(results_dir, "xception", robustness=0.55)
    write_suite(results_dir, "meso4", separation=1.8, robustness=0.15)
    write_suite(results_dir, "efficientnet_b4", "celebdf", skip=tuple(STANDARD_KEYS[11:]), robustness=0.7)
    write_suite(results_dir, "masked-net", robustness=0.6, masked=True)
    write_entry(
        results_dir,
        "masked-net",
        "synthetic",
        [{"code": "gradient-free", "message": "declared not differentiable by its authors"}],
        {"authors": "A. Researcher", "paper": "Robust by obscurity (2025)"},
    )
    for k in (1, 8):  # an ad-hoc run: PGD at two budgets, plus an attack outside the suite
        write_result(results_dir, "cnn", "synthetic", "pgd", "eps", k / 255, "linf", True, robustness=0.4)
    write_result(results_dir, "cnn", "synthetic", "cw", "eps", 0.5, "l2", True, robustness=0.4)
    return ["cnn", "efficientnet_b4", "masked-net", "meso4", "xception"]


def hand_result(detector: str, key: str, adv: float, clean: float = 0.9, **extra: Any) -> dict[str, Any]:
    """A minimal in-memory result (no files) with the given AUROCs."""
    attack, tag = key.split("@")
    m = {
        "auroc_clean": clean,
        "auroc_adv": adv,
        "auroc_clean_ci": [clean - 0.05, clean + 0.03],
        "auroc_adv_ci": [adv - 0.1, adv + 0.1],
        "n_videos": 50,
    }
    return {
        "schema_version": 1,
        "detector": detector,
        "dataset": "synthetic",
        "attack": attack,
        "budget_tag": tag,
        "metrics": m,
        **extra,
    }


def elements(html: str, tag: str) -> list[tuple[dict[str, str], str]]:
    """Every ``tag`` element of a page: its attributes and its text (nested elements' included),
    so that assertions do not depend on attribute order, entity spelling or layout."""
    from html.parser import HTMLParser

    found: list[tuple[dict[str, str], list[str]]] = []
    open_: list[int] = []

    class Parser(HTMLParser):
        def handle_starttag(self, name: str, attrs: list[tuple[str, str | None]]) -> None:
            if name == tag:
                found.append(({k: v or "" for k, v in attrs}, []))
                open_.append(len(found) - 1)

        def handle_endtag(self, name: str) -> None:
            if name == tag and open_:
                open_.pop()

        def handle_data(self, data: str) -> None:
            for i in open_:
                found[i][1].append(data)

    Parser(convert_charrefs=True).feed(html)
    return [(attrs, "".join(text)) for attrs, text in found]


@pytest.fixture(scope="module")
def board(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The results folder of :func:`build_board`, built once for the tests that only read it."""
    results_dir = tmp_path_factory.mktemp("board") / "results"
    build_board(results_dir)
    return results_dir


# -- table building ---------------------------------------------------------------------------------
def test_the_standard_suite_fixes_the_column_order() -> None:
    assert standard_columns() == STANDARD_KEYS


def test_columns_standard_members_in_suite_order_then_others_sorted_absent_omitted() -> None:
    std = ["fgsm@eps4of255", "pgd@eps1of255", "pgd@eps4of255", "jpeg@quality50", "blur@sigma1"]
    results = [
        hand_result("a", "pgd@eps4of255", 0.5),
        hand_result("a", "zoom@x2", 0.7),
        hand_result("b", "jpeg@quality50", 0.8),
        hand_result("b", "cw@eps0p5", 0.6),
        hand_result("b", "fgsm@eps4of255", 0.7),
    ]
    columns, rows = leaderboard_rows(results, standard=std)
    assert columns == ["fgsm@eps4of255", "pgd@eps4of255", "jpeg@quality50", "cw@eps0p5", "zoom@x2"]
    assert [r["detector"] for r in rows] == ["b", "a"]


def test_worst_case_and_mean_drop_over_the_standard_members_present() -> None:
    std = ["pgd@eps4of255", "jpeg@quality50", "blur@sigma1"]
    results = [
        hand_result("a", "pgd@eps4of255", 0.40),
        hand_result("a", "jpeg@quality50", 0.80),
        hand_result("a", "cw@eps0p5", 0.10),  # outside the suite: shown, not judged
    ]
    _, [row] = leaderboard_rows(results, standard=std)
    assert row["worst"] == pytest.approx(0.40) and row["worst_member"] == "pgd@eps4of255"
    assert row["mean_drop"] == pytest.approx(0.9 - (0.40 + 0.80) / 2)
    assert row["judged"] == ["pgd@eps4of255", "jpeg@quality50"]
    assert row["worst_ci"] == pytest.approx((0.30, 0.50)), "without records: the worst member's interval"
    assert row["mean_drop_ci"] is None and row["cw@eps0p5"] == pytest.approx(0.10)
    # a row with no standard member at all is judged over everything it has
    _, [adhoc] = leaderboard_rows(
        [hand_result("c", "cw@eps0p5", 0.3), hand_result("c", "zoom@x2", 0.6)], standard=std
    )
    assert adhoc["worst"] == pytest.approx(0.3) and adhoc["mean_drop"] == pytest.approx(0.9 - 0.45)


def test_rows_sorted_by_worst_case_best_first_missing_last_and_latest_result_wins() -> None:
    std = ["pgd@eps4of255"]
    results = [
        hand_result("low", "pgd@eps4of255", 0.3),
        hand_result("high", "pgd@eps4of255", 0.2, created="2025-01-01T00:00:00"),
        hand_result("high", "pgd@eps4of255", 0.8, created="2025-02-01T00:00:00"),  # a re-run: the latest
        hand_result("none", "pgd@eps4of255", math.nan),
        hand_result("mid", "pgd@eps4of255", 0.5),
    ]
    _, rows = leaderboard_rows(results, standard=std)
    assert [r["detector"] for r in rows] == ["high", "mid", "low", "none"]
    assert rows[0]["worst"] == pytest.approx(0.8)
    md = render_markdown(*leaderboard_rows(results, standard=std))
    assert md.index("| 1 | high |") < md.index("| 2 | mid |") < md.index("| 4 | none |")


def test_gradient_masking_flag_when_black_box_beats_every_white_box_attack() -> None:
    def res(key: str, adv: float, budget: float, grad: bool, bb: bool, norm: str = "linf") -> dict[str, Any]:
        return hand_result("m", key, adv, budget=budget, norm=norm, uses_gradients=grad, black_box=bb)

    white = [
        res("pgd@eps4of255", 0.80, 4 / 255, True, False),
        res("apgd@eps4of255", 0.78, 4 / 255, True, False),
    ]
    weaker = [
        res("pgd@eps2of255", 0.30, 2 / 255, True, False),
        res("pgdl2@eps0p5", 0.20, 0.5, True, False, "l2"),
    ]
    square = res("square@eps4of255", 0.60, 4 / 255, False, True)
    [flag] = masking_flags([*white, *weaker, square])
    assert flag["code"] == "gradient-masking"
    assert "square@eps4of255" in flag["message"] and "apgd@eps4of255" in flag["message"]
    assert "pgd@eps2of255" not in flag["message"], "a smaller budget or another norm is no reference"
    assert masking_flags([*white, res("square@eps4of255", 0.75, 4 / 255, False, True)]) == [], (
        "within the margin"
    )
    assert masking_flags([*weaker, square]) == [], "no white-box attack at the same or a larger budget"
    # a stronger white-box attack at a larger budget also clears it
    assert masking_flags([*white, res("pgd@eps8of255", 0.55, 8 / 255, True, False), square]) == []


def test_flags_entry_gradient_masking_incomplete_shown_everywhere(board: Path) -> None:
    results_dir = board
    out = render(results_dir)
    _, rows = leaderboard_rows(load_results(results_dir), load_entries(results_dir), records=None)
    by_name = {r["detector"]: r for r in rows}
    assert set(by_name) == {"xception", "meso4", "efficientnet_b4", "masked-net", "cnn"}
    codes = {name: [f["code"] for f in r["flags"]] for name, r in by_name.items()}
    assert codes["masked-net"] == ["gradient-free", "gradient-masking"], "entry flags first, then derived"
    assert codes["xception"] == [] and codes["meso4"] == []
    assert codes["efficientnet_b4"] == ["incomplete"] and codes["cnn"] == ["incomplete"]
    eff = next(f for f in by_name["efficientnet_b4"]["flags"] if f["code"] == "incomplete")
    assert eff["label"] == "incomplete: 11/21 standard members"
    assert "missing: jpeg, h264, blur@sigma1, noise@sigma0p05, resize@scale0p5" in eff["message"]
    cnn = by_name["cnn"]["flags"][0]
    assert cnn["label"] == "incomplete: 2/21 standard members"
    assert "fgsm, pgd@eps2of255/eps4of255, pgdl2@eps0p5" in cnn["message"]
    assert by_name["masked-net"]["entry"] == {
        "authors": "A. Researcher",
        "paper": "Robust by obscurity (2025)",
    }
    for text in (out.markdown, out.csv, out.html):
        assert "gradient-free" in text and "gradient-masking" in text and "incomplete: 11/21" in text
    assert "A. Researcher" in out.html


def test_mixed_checkpoints_are_flagged(tmp_path: Path) -> None:
    write_result(
        tmp_path, "cnn", "synthetic", "pgd", "eps", 4 / 255, "linf", True, checkpoint_sha256="11" * 32
    )
    write_result(tmp_path, "cnn", "synthetic", "jpeg", "quality", 50, checkpoint_sha256="22" * 32)
    _, [row] = leaderboard_rows(load_results(tmp_path), standard=["pgd@eps4of255", "jpeg@quality50"])
    assert [f["code"] for f in row["flags"]] == ["mixed-checkpoints"]


# -- sanity flags -----------------------------------------------------------------------------------
E2, E4, E8 = 2 / 255, 4 / 255, 8 / 255


def white(key: str, adv: float, budget: float, steps: int | None = None, **kw: Any) -> dict[str, Any]:
    """A white-box result without records (intervals: attacked +-0.1, clean -0.05/+0.03)."""
    extra = {"attack_config": {"steps": steps}} if steps is not None else {}
    kw.setdefault("norm", "linf")
    return hand_result("s", key, adv, budget=budget, uses_gradients=True, black_box=False, **extra, **kw)


def flags_of(results: list[dict[str, Any]], records: Any = None) -> dict[str, str]:
    """Flag code -> message of the one row these results make (no suite: no `incomplete`)."""
    _, [row] = leaderboard_rows(results, standard=[], records=records)
    return {f["code"]: f["message"] for f in row["flags"]}


def _simulated(
    n: int = 40, seed: int = 3, separation: float = 1.4
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels (1 = fake), clean logits and the sign that pushes each video toward its right class."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    sign = 2 * labels - 1
    return labels, sign * separation + rng.normal(0, 1.0, n), sign


def _sig(z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-z))


def test_apgd_weaker_than_pgd_is_flagged_beyond_the_interval() -> None:
    pgd = white("pgd@eps4of255", 0.40, E4, 10)
    flags = flags_of([pgd, white("apgd@eps4of255", 0.80, E4, 50)])
    assert list(flags) == ["apgd-weaker-than-pgd"], "not also more-steps-weaker: one flag per finding"
    assert "apgd@eps4of255 0.800 is above pgd@eps4of255 0.400" in flags["apgd-weaker-than-pgd"]
    assert "do not overlap" in flags["apgd-weaker-than-pgd"]
    assert flags_of([pgd, white("apgd@eps4of255", 0.40, E4, 50)]) == {}, "identical numbers"
    assert flags_of([pgd, white("apgd@eps4of255", 0.55, E4, 50)]) == {}, "within the intervals"
    assert flags_of([pgd, white("apgd@eps4of255", 0.20, E4, 50)]) == {}, "APGD stronger: as it should be"
    other = white("apgd@eps8of255", 0.80, E8, 50)
    assert flags_of([pgd, other]) == {}, "another budget is no reference"
    assert flags_of([white("pgdl2@eps0p5", 0.40, 0.5, 10, norm="l2"), white("apgd@eps0p5", 0.8, 0.5)]) == {}


def write_linf(results_dir: Path, attack: str, eps: float, steps: int | None, **scores: Any) -> Path:
    """A white-box L-inf result of detector ``s`` from given ``labels``, ``clean``, ``adv`` scores."""
    config = {"attack_config": {"steps": steps}} if steps else {}
    return write_scores(results_dir, "s", "synthetic", attack, "eps", eps, "linf", True, **config, **scores)


def test_apgd_weaker_than_pgd_uses_the_paired_bootstrap_of_the_records(tmp_path: Path) -> None:
    labels, z, sign = _simulated()
    write_linf(tmp_path, "pgd", E4, 10, labels=labels, clean=_sig(z), adv=_sig(z - 1.4 * sign))
    write_linf(tmp_path, "apgd", E4, 50, labels=labels, clean=_sig(z), adv=_sig(z - 0.9 * sign))
    results = load_results(tmp_path)
    m = {r["attack"]: r["metrics"] for r in results}
    assert m["apgd"]["auroc_adv_ci"][0] < m["pgd"]["auroc_adv_ci"][1], "the two intervals overlap"
    flags = flags_of(results, load_records(results))
    assert list(flags) == ["apgd-weaker-than-pgd"] and "paired 95% interval" in flags["apgd-weaker-than-pgd"]
    assert flags_of(results) == {}, "without records: the intervals overlap, no flag"
    # the same scores (APGD delivering exactly what PGD did) never raise it
    write_linf(tmp_path, "apgd", E4, 50, labels=labels, clean=_sig(z), adv=_sig(z - 1.4 * sign))
    results = load_results(tmp_path)
    assert flags_of(results, load_records(results)) == {}


def test_attack_helps_detector_is_flagged_for_white_box_attacks_beyond_the_interval() -> None:
    flags = flags_of([white("pgd@eps4of255", 0.99, E4, 10, clean=0.70)])
    assert list(flags) == ["attack-helps-detector"]
    assert "pgd@eps4of255 0.990 is above clean 0.700" in flags["attack-helps-detector"]
    assert flags_of([white("pgd@eps4of255", 0.90, E4, 10, clean=0.90)]) == {}, "identical numbers"
    assert flags_of([white("pgd@eps4of255", 0.78, E4, 10, clean=0.70)]) == {}, "within the intervals"
    bb = hand_result("s", "square@eps4of255", 0.99, clean=0.7, norm="linf", budget=E4, black_box=True)
    jpeg = hand_result("s", "jpeg@quality90", 0.99, clean=0.7)
    assert flags_of([bb, jpeg]) == {}, "only white-box attacks"
    # the runner's paired clean-minus-attacked interval decides when the result has one
    paired = white("pgd@eps4of255", 0.99, E4, 10, clean=0.70)
    paired["metrics"]["auroc_drop_ci"] = [-0.35, 0.01]
    assert flags_of([paired]) == {}
    paired["metrics"]["auroc_drop_ci"] = [-0.35, -0.05]
    assert (
        "paired 95% interval of the difference [+0.050, +0.350]"
        in flags_of([paired])["attack-helps-detector"]
    )


def test_attack_helps_detector_from_the_records_when_no_drop_interval(tmp_path: Path) -> None:
    labels, z, sign = _simulated(separation=0.3)  # a weak detector, so that there is room above it
    path = write_linf(tmp_path, "fgsm", E4, None, labels=labels, clean=_sig(z), adv=_sig(z + 1.5 * sign))
    result = json.loads(path.read_text())
    del result["metrics"]["auroc_drop_ci"]
    path.write_text(json.dumps(result))
    results = load_results(tmp_path)
    flags = flags_of(results, load_records(results))
    assert list(flags) == ["attack-helps-detector"] and "paired" in flags["attack-helps-detector"]


def test_more_steps_weaker_is_flagged_at_the_same_norm_and_budget() -> None:
    fgsm = white("fgsm@eps4of255", 0.30, E4)  # no attack_config: FGSM counts one step
    flags = flags_of([fgsm, white("mifgsm@eps4of255", 0.80, E4, 10)])
    assert list(flags) == ["more-steps-weaker"]
    assert (
        "mifgsm@eps4of255 0.800 is above fgsm@eps4of255 0.300 (10 steps vs 1)" in flags["more-steps-weaker"]
    )
    assert flags_of([fgsm, white("mifgsm@eps4of255", 0.30, E4, 10)]) == {}, "identical numbers"
    assert flags_of([fgsm, white("mifgsm@eps4of255", 0.45, E4, 10)]) == {}, "within the intervals"
    assert flags_of([fgsm, white("mifgsm@eps4of255", 0.10, E4, 10)]) == {}, "more steps, stronger"
    assert flags_of([fgsm, white("mifgsm@eps8of255", 0.80, E8, 10)]) == {}, "another budget"
    assert flags_of([white("pgd@eps4of255", 0.3, E4, 10), white("mifgsm@eps4of255", 0.8, E4, 10)]) == {}, (
        "the same number of steps"
    )
    assert flags_of([white("cw@eps4of255", 0.8, E4), fgsm]) == {}, "unknown steps are not compared"


def test_non_monotone_budget_is_flagged_for_the_same_attack() -> None:
    flags = flags_of([white("pgd@eps2of255", 0.30, E2, 10), white("pgd@eps8of255", 0.80, E8, 10)])
    assert list(flags) == ["non-monotone-budget"]
    assert "pgd@eps8of255 0.800 (larger budget) is above pgd@eps2of255 0.300" in flags["non-monotone-budget"]
    square = [
        hand_result("s", f"square@eps{k}of255", adv, norm="linf", budget=k / 255, black_box=True)
        for k, adv in ((2, 0.3), (8, 0.8))
    ]
    assert list(flags_of(square)) == ["non-monotone-budget"], "black-box attacks too"
    ok = [white("pgd@eps2of255", 0.80, E2, 10), white("pgd@eps8of255", 0.30, E8, 10)]
    assert flags_of(ok) == {}, "larger budget, stronger"
    assert flags_of([white("pgd@eps2of255", 0.5, E2, 10), white("pgd@eps8of255", 0.5, E8, 10)]) == {}
    assert flags_of([white("pgd@eps2of255", 0.5, E2, 10), white("pgd@eps8of255", 0.6, E8, 10)]) == {}
    assert flags_of([white("pgd@eps2of255", 0.3, E2, 10), white("pgd@eps8of255", 0.8, E8, 5)]) == {}, (
        "other steps: not the same attack"
    )
    jpeg = [hand_result("s", f"jpeg@quality{q}", adv) for q, adv in ((90, 0.3), (30, 0.8))]
    assert flags_of(jpeg) == {}, "no norm budget"


def test_unperturbed_samples_and_zero_gradients_are_flagged_when_reported() -> None:
    pgd = white("pgd@eps1of255", 0.5, 1 / 255, 10, quantized=True)
    pgd["metrics"].update(n_attacked=12, n_unperturbed=3, unperturbed_fraction=0.25, zero_grad_fraction=0.5)
    flags = flags_of([pgd])
    assert list(flags) == ["unperturbed-samples", "zero-gradients"]
    assert (
        "pgd@eps1of255: 25.0% of the attacked samples (3/12) were delivered exactly unchanged"
        in flags["unperturbed-samples"]
    )
    assert "rounded to 8 bits" in flags["unperturbed-samples"]
    assert "pgd@eps1of255: 50.0% of the attacked samples had an input gradient" in flags["zero-gradients"]
    for value in (0.0, None):
        clean = white("pgd@eps1of255", 0.5, 1 / 255, 10)
        clean["metrics"].update(unperturbed_fraction=value, zero_grad_fraction=value)
        assert flags_of([clean]) == {}
    assert flags_of([white("pgd@eps1of255", 0.5, 1 / 255, 10)]) == {}, "results without the keys"
    jpeg = hand_result("s", "jpeg@quality90", 0.8)
    jpeg["metrics"].update(unperturbed_fraction=0.5, zero_grad_fraction=None)
    assert flags_of([jpeg]) == {}, "only gradient attacks"


def test_sanity_flags_are_shown_with_their_help(tmp_path: Path) -> None:
    results = [white("pgd@eps4of255", 0.40, E4, 10), white("apgd@eps4of255", 0.80, E4, 50)]
    columns, rows = leaderboard_rows(results, standard=[])
    html, md, text = render_html(columns, rows), render_markdown(columns, rows), render_csv(columns, rows)
    assert '<span class="flag apgd-weaker-than-pgd" title="apgd@eps4of255 0.800 is above' in html
    assert "apgd-weaker-than-pgd: apgd@eps4of255 0.800 is above" in md and "apgd-weaker-than-pgd: " in text
    for code in (
        "gradient-masking",
        "apgd-weaker-than-pgd",
        "attack-helps-detector",
        "more-steps-weaker",
        "non-monotone-budget",
        "unperturbed-samples",
        "zero-gradients",
    ):
        assert f'<dt><span class="flag {code}">{code}</span></dt>' in html
    assert html.count("beyond the interval: the paired 95% bootstrap interval") == 4


def test_entry_json_is_not_a_result_and_an_entry_without_results_still_shows(tmp_path: Path) -> None:
    write_entry(tmp_path, "pending", "synthetic", [{"code": "review", "message": "awaiting review"}], {})
    assert load_results(tmp_path) == []
    columns, rows = leaderboard_rows(
        load_results(tmp_path), load_entries(tmp_path), standard=["pgd@eps4of255"]
    )
    assert columns == [] and [r["detector"] for r in rows] == ["pending"]
    assert [f["code"] for f in rows[0]["flags"]] == ["review", "incomplete"]
    assert "| 1 | pending | synthetic | n/a | n/a |" in render_markdown(columns, rows)


# -- intervals and formats --------------------------------------------------------------------------
def test_ci_formatting() -> None:
    assert format_ci(0.91234, (0.8512, 0.9649)) == "0.912 [0.85, 0.96]"
    assert format_ci(0.91234, None) == "0.912"
    assert format_ci(math.nan, (0.1, 0.2)) == "n/a"
    results = [hand_result("a", "pgd@eps4of255", 0.5, clean=0.9)]
    results[0]["metrics"]["auroc_clean_ci"] = [None, None]  # undefined interval (JSON null)
    columns, rows = leaderboard_rows(results, standard=["pgd@eps4of255"])
    md = render_markdown(columns, rows)
    assert "| 1 | a | synthetic | 0.900 | 0.500 [0.40, 0.60] | pgd@eps4of255 | n/a | 0.400 |" in md
    line = list(csv.DictReader(io.StringIO(render_csv(columns, rows))))[0]
    assert line["auroc_clean"] == "0.9000" and line["auroc_clean_lo"] == "" and line["auroc_clean_hi"] == ""
    assert (line["pgd@eps4of255"], line["pgd@eps4of255_lo"], line["pgd@eps4of255_hi"]) == (
        "0.5000",
        "0.4000",
        "0.6000",
    )
    assert line["worst_case_member"] == "pgd@eps4of255" and line["mean_drop"] == "0.4000"


def test_worst_case_and_mean_drop_intervals_come_from_the_per_video_records(tmp_path: Path) -> None:
    write_suite(tmp_path, "xception", robustness=0.5)
    results = load_results(tmp_path)
    _, [row] = leaderboard_rows(results, standard=STANDARD_KEYS, records=load_records(results))
    lo, hi = row["worst_ci"]
    assert lo <= row["worst"] <= hi and hi - lo < 0.5
    assert row["worst_ci"] != tuple(row["ci"][row["worst_member"]]), "bootstrapped over the minimum"
    lo, hi = row["mean_drop_ci"]
    assert lo <= row["mean_drop"] <= hi
    # records that do not line up (another split) give no interval rather than a wrong one
    rec = next(tmp_path.rglob("blur-sigma1.videos.csv"))
    rec.write_text("\n".join(rec.read_text().splitlines()[:-2]) + "\n")
    results = load_results(tmp_path)
    _, [row] = leaderboard_rows(results, standard=STANDARD_KEYS, records=load_records(results))
    assert row["mean_drop_ci"] is None and row["worst_ci"] == row["ci"][row["worst_member"]]


def test_ensemble_is_the_per_video_worst_case_over_the_white_box_members(tmp_path: Path) -> None:
    from harness import metrics

    write_suite(tmp_path, "xception", robustness=0.5)
    write_result(tmp_path, "xception", "synthetic", "cw", "eps", 0.5, "l2", True, robustness=0.0)
    results = load_results(tmp_path)
    records = load_records(results)
    _, [row] = leaderboard_rows(results, standard=STANDARD_KEYS, records=records)
    white = [k for (_, _, _, _, grad, bb), k in zip(STANDARD, STANDARD_KEYS, strict=True) if grad and not bb]
    assert row["ensemble_members"] == white, "white-box standard members only: not square, jpeg, or cw"
    members = [records[str(row["results"][c]["_path"])] for c in white]
    advs = np.stack([m.adv for m in members])
    labels = members[0].labels
    worst = np.where(labels == 1, advs.min(axis=0), advs.max(axis=0))
    assert row["ensemble"] == pytest.approx(metrics.auroc(labels, worst))
    for c, m in zip(white, members, strict=True):  # by construction, below every member
        assert row["ensemble"] <= row[c] + 1e-12 and row["ensemble"] <= metrics.auroc(labels, m.adv) + 1e-12
    assert row["ensemble"] < min(row[c] for c in white), "members fool different videos"
    lo, hi = row["ensemble_ci"]
    assert lo <= row["ensemble"] <= hi and hi - lo < 0.5


def test_ensemble_counts_each_video_at_its_worst_and_needs_every_members_records(tmp_path: Path) -> None:
    n = 40
    labels = np.arange(n) % 2
    clean = np.where(labels == 1, 0.9, 0.1) + np.arange(n) * 1e-4
    fool_fakes = np.where((labels == 1) & (np.arange(n) < n // 2), 0.05, clean)  # half the fakes
    fool_reals = np.where((labels == 0) & (np.arange(n) < n // 2), 0.95, clean)  # half the reals
    common = dict(labels=labels, clean=clean)
    write_scores(tmp_path, "d", "synthetic", "pgd", "eps", E4, "linf", True, adv=fool_fakes, **common)
    write_scores(tmp_path, "d", "synthetic", "fgsm", "eps", E4, "linf", True, adv=fool_reals, **common)
    write_scores(
        tmp_path, "d", "synthetic", "square", "eps", E4, "linf", False, True, adv=1 - clean, **common
    )
    write_scores(tmp_path, "d", "synthetic", "jpeg", "quality", 50, adv=1 - clean, **common)
    std = ["fgsm@eps4of255", "pgd@eps4of255", "square@eps4of255", "jpeg@quality50"]
    results = load_results(tmp_path)
    columns, [row] = leaderboard_rows(results, standard=std, records=load_records(results))
    assert row["pgd@eps4of255"] == pytest.approx(0.5) and row["fgsm@eps4of255"] == pytest.approx(0.5)
    assert row["ensemble_members"] == ["fgsm@eps4of255", "pgd@eps4of255"]
    assert row["ensemble"] == pytest.approx(0.25), "a fooled fake or a fooled real spoils every pair it is in"
    assert row["worst"] == pytest.approx(0.0) and row["worst_member"] == "square@eps4of255"
    lo, hi = row["ensemble_ci"]
    line = next(csv.DictReader(io.StringIO(render_csv(columns, [row]))))
    assert (line["ensemble"], line["ensemble_lo"], line["ensemble_hi"]) == (
        "0.2500",
        f"{lo:.4f}",
        f"{hi:.4f}",
    )
    assert f"| square@eps4of255 | 0.250 [{lo:.2f}, {hi:.2f}] |" in render_markdown(columns, [row])
    html = render_html(columns, [row])
    [head] = [a for a, text in elements(html, "th") if text == "ensembleAUROC"]  # not one per budget
    assert head["data-type"] == "num" and head["class"] == "num"
    assert head["title"].startswith("AutoAttack's per-video worst case")
    [cell] = [a for a, _ in elements(html, "td") if a.get("title", "").startswith("per-video worst case")]
    assert cell["title"] == "per-video worst case over fgsm@eps4of255, pgd@eps4of255"
    assert cell["class"] == "num" and cell["data-v"] == "0.250000"
    # one white-box member without records: no ensemble rather than a too kind one
    next(tmp_path.rglob("fgsm-eps4of255.videos.csv")).unlink()
    results = load_results(tmp_path)
    columns, [row] = leaderboard_rows(results, standard=std, records=load_records(results))
    assert math.isnan(row["ensemble"]) and row["ensemble_ci"] is None
    line = next(csv.DictReader(io.StringIO(render_csv(columns, [row]))))
    assert line["ensemble"] == line["ensemble_lo"] == line["ensemble_hi"] == ""
    assert "| square@eps4of255 | n/a |" in render_markdown(columns, [row])
    [cell] = [
        (a, text)
        for a, text in elements(render_html(columns, [row]), "td")
        if a.get("title", "").startswith("needs")
    ]
    assert cell == (
        {
            "class": "num na",
            "data-v": "",
            "title": "needs the per-video records of every white-box member: fgsm@eps4of255, pgd@eps4of255",
        },
        "n/a",
    )
    # a row without white-box members has none either
    _, [row] = leaderboard_rows([hand_result("j", "jpeg@quality50", 0.6)], standard=std)
    assert row["ensemble_members"] == [] and math.isnan(row["ensemble"])


def test_csv_has_one_line_per_row_with_flags(board: Path) -> None:
    out = render(board)
    lines = list(csv.DictReader(io.StringIO(out.csv)))
    _, rows = leaderboard_rows(load_results(board), load_entries(board))
    assert [r["detector"] for r in lines] == [r["detector"] for r in rows] and len(lines) == 5
    masked = next(r for r in lines if r["detector"] == "masked-net")
    assert masked["flags"].startswith(
        "gradient-free: declared not differentiable by its authors | gradient-masking: "
    )
    assert float(masked["worst_case_lo"]) <= float(masked["worst_case"]) <= float(masked["worst_case_hi"])
    header = out.csv.splitlines()[0].split(",")
    assert header[:5] == ["detector", "dataset", "auroc_clean", "auroc_clean_lo", "auroc_clean_hi"]
    members = [h for h in header if "@" in h and not h.endswith(("_lo", "_hi"))]
    budgets = [f"ensemble@eps{k}of255" for k in (1, 2, 4, 8)]  # the ensemble per L-inf budget
    assert members == [*STANDARD_KEYS, "cw@eps0p5", *budgets]


def test_unreadable_result_files_are_reported_not_fatal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    results_dir = tmp_path / "results"
    write_result(results_dir, "cnn", "synthetic", "pgd", "eps", 4 / 255, "linf", True)
    bad = results_dir / "synthetic" / "cnn" / "fgsm-eps4of255.json"
    bad.write_text('{"schema_version": 1, "metri')
    (results_dir / "synthetic" / "cnn" / "jpeg-quality50.json").write_text(
        '{"schema_version": 1, "metrics": {}}'
    )
    (results_dir / "synthetic" / "cnn" / "pgd-eps4of255.videos.csv").write_text("video_id,label\nv1,x\n")
    errors: list[str] = []
    assert [r["attack"] for r in load_results(results_dir, errors)] == ["pgd"]
    out = render(results_dir)
    err = capsys.readouterr().err
    assert "skipping unreadable file synthetic/cnn/fgsm-eps4of255.json (JSONDecodeError" in err
    assert "skipping malformed result synthetic/cnn/jpeg-quality50.json" in err
    assert "skipping unreadable records synthetic/cnn/pgd-eps4of255.videos.csv" in err
    assert "| 1 | cnn | synthetic |" in out.markdown and "## Skipped files" in out.markdown
    assert "synthetic/cnn/fgsm-eps4of255.json" in out.html and str(tmp_path) not in out.html + out.markdown
    assert out.figures == {}, "no usable records and no curve: no figure"


def test_figure_plans_roc_members_and_strength_curves(board: Path) -> None:
    results = load_results(board)
    records = load_records(results)
    _, rows = leaderboard_rows(results, load_entries(board), STANDARD_KEYS, records)
    plans = figure_plans(rows, records)
    full = plans["synthetic/xception"]
    assert full.path == "figures/synthetic__xception.png"
    assert [kind for _, _, kind in full.roc][:2] == ["clean", "adv"] and "ε 4/255" in full.roc[1][0]
    assert [p.xlabel for p in full.curves] == ["eps (L-inf, in 1/255)", "quality", "crf"]
    assert [a for a, _ in full.curves[0].lines] == ["fgsm", "pgd"]
    assert full.curves[1].invert and not full.curves[2].invert
    assert [x for x, *_ in full.curves[0].lines[1][1]] == pytest.approx([1, 2, 4, 8])
    cnn = plans["synthetic/cnn"]  # no pgd@4/255: its worst member instead; one curve (pgd at 1 and 8)
    assert [kind for _, _, kind in cnn.roc] == ["clean", "adv"] and cnn.roc[1][1].endswith(
        "pgd-eps8of255.json"
    )
    assert [p.xlabel for p in cnn.curves] == ["eps (L-inf, in 1/255)"]
    assert full.size_px == (4 * 340, 300)


# -- outputs ----------------------------------------------------------------------------------------
def test_write_leaderboards_writes_page_tables_and_figures_deterministically(
    board: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    results_dir = board
    first = write_leaderboards(results_dir, tmp_path / "a")
    elsewhere = tmp_path / "copy" / "results"  # where the results lie does not matter either
    shutil.copytree(board, elsewhere)
    second = write_leaderboards(elsewhere, tmp_path / "b")
    names = [p.relative_to(tmp_path / "a").as_posix() for p in first]
    assert names[:3] == ["leaderboard.md", "leaderboard.csv", "index.html"]
    assert names[3:] == [
        "figures/celebdf__efficientnet_b4.png",
        "figures/synthetic__cnn.png",
        "figures/synthetic__masked-net.png",
        "figures/synthetic__meso4.png",
        "figures/synthetic__xception.png",
    ]
    for a, b in zip(first, second, strict=True):
        assert a.read_bytes() == b.read_bytes(), f"{a.name} differs between two renders"
    png = (tmp_path / "a" / names[3]).read_bytes()
    assert png.startswith(b"\x89PNG") and b"Software" not in png and b"tIME" not in png
    html = (tmp_path / "a" / "index.html").read_text()
    for name in names[3:]:
        assert f'src="{name}"' in html
    assert "http://" not in html and "https://" not in html and '<link rel="stylesheet"' not in html
    # a figure no longer referred to is removed; nothing else in the folder is touched
    (tmp_path / "a" / "figures" / "old__gone.png").write_bytes(b"x")
    (tmp_path / "a" / "README.md").write_text("keep")
    write_leaderboards(results_dir, tmp_path / "a")
    assert not (tmp_path / "a" / "figures" / "old__gone.png").exists()
    assert (tmp_path / "a" / "README.md").read_text() == "keep"
    # figures drawn from the same inputs are current and not drawn again; a damaged one is
    import harness.leaderboard.write as writer

    drawn: list[str] = []
    real = writer.draw_figure
    monkeypatch.setattr(writer, "draw_figure", lambda plan, rec: drawn.append(plan.path) or real(plan, rec))
    write_leaderboards(results_dir, tmp_path / "a")
    assert drawn == []
    (tmp_path / "a" / names[4]).write_bytes(b"damaged")
    write_leaderboards(results_dir, tmp_path / "a")
    assert (
        drawn == [names[4]]
        and (tmp_path / "a" / names[4]).read_bytes() == (tmp_path / "b" / names[4]).read_bytes()
    )


def test_empty_results_give_an_empty_leaderboard(tmp_path: Path) -> None:
    out = render(tmp_path / "absent")
    assert "No results yet" in out.markdown and "No results yet" in out.html
    assert out.csv.splitlines() == [
        "detector,dataset,auroc_clean,auroc_clean_lo,auroc_clean_hi,worst_case,worst_case_lo,worst_case_hi,"
        "worst_case_member,ensemble,ensemble_lo,ensemble_hi,mean_drop,mean_drop_lo,mean_drop_hi,n_videos,"
        "checkpoint_sha256,flags"
    ]
    assert "<tbody>\n</tbody>" in out.html


def test_html_table_cells_carry_sort_values_and_flags(board: Path) -> None:
    html = render(board).html
    assert html.count('<tr data-rank="') == 5
    assert 'aria-sort="descending"' in html and html.count(' aria-sort="') == 1
    assert '<span class="flag gradient-masking" title="square@eps4of255 (black-box) AUROC' in html
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    columns, rows = leaderboard_rows([hand_result("a", "pgd@eps4of255", 0.5)], standard=["pgd@eps4of255"])
    cells = elements(render_html(columns, rows), "td")
    half = [(a, text) for a, text in cells if a.get("data-v") == "0.500000"]
    assert len(half) == 2, "worst case and the pgd column"
    for a, text in half:  # value, interval and colour
        assert a["style"] == "background:hsl(0 65% 90%)" and text == "0.500[0.40, 0.60]"
    assert half[0][0]["title"] == "worst member: pgd@eps4of255" and half[1][0]["class"] == "sep num"
    [clean] = [(a, text) for a, text in cells if a.get("data-v") == "0.900000"]
    assert clean == (
        {"class": "num", "data-v": "0.900000", "style": "background:hsl(96 65% 90%)"},
        "0.900[0.85, 0.93]",
    )


def test_committed_leaderboard_is_current() -> None:
    """``leaderboards/`` is generated: it must equal what the committed ``results/`` renders to
    (``harness leaderboard`` regenerates it)."""
    out = render(REPO_ROOT / "results")
    board = REPO_ROOT / "leaderboards"
    for name, text in (
        ("leaderboard.md", out.markdown),
        ("leaderboard.csv", out.csv),
        ("index.html", out.html),
    ):
        assert (board / name).read_text() == text, f"leaderboards/{name} is stale: run `harness leaderboard`"
    for plan in out.figures.values():
        assert (board / plan.path).is_file(), (
            f"leaderboards/{plan.path} is missing: run `harness leaderboard`"
        )
