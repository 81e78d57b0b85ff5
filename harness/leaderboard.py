"""Leaderboard tables and page generated from the result JSON files (never edited by hand).

Rows: detector x dataset. Columns: clean AUROC, AUROC under each suite member present (the
``standard`` suite's members first, in suite order, then any others, sorted), the worst case (the
lowest member AUROC) over the standard members present, the ``ensemble`` (AutoAttack's per-video
worst case over the white-box members among them, scored as one AUROC) and the mean drop (clean
minus mean attacked), each with its 95% bootstrap interval. Rows are sorted by worst-case AUROC,
best first, and carry flags: those a ``harness submit`` entry recorded, and those derived here from
the results: ``gradient-masking``, the sanity flags of :func:`sanity_flags`, ``incomplete`` and
``mixed-checkpoints``.

:func:`render` turns a results folder into the Markdown, CSV and HTML texts and the figure plans;
:func:`write_leaderboards` writes them and draws the figures (ROC curves clean vs attacked and
AUROC-versus-strength curves, matplotlib Agg, PNG). Everything is a function of the result files
alone (no timestamps, everything sorted), so a test can check that the committed files are current.
"""

from __future__ import annotations

import csv
import html
import io
import json
import math
import os
import re
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

# A black-box attack this much below every white-box attack of its norm at >= its budget is suspect.
MASKING_MARGIN = 0.05
N_BOOT = 1000  # bootstrap resamples for the worst-case, ensemble, mean-drop and sanity-flag intervals
_TIE = 1e-9  # AUROC differences up to this are equal numbers, never evidence
BOOT_SEED = 0
FIGURES_DIR = "figures"
_PANEL_IN = (3.4, 3.0)  # inches per figure panel
_DPI = 100
_ROC_PREFERRED = "pgd@eps4of255"
_DECREASING = {"quality"}
_NORMS = {"linf": "L-inf", "l2": "L2"}  # strength settings where a lower value is a stronger perturbation


# -- loading ---------------------------------------------------------------------------------------
def _report(errors: list[str] | None, message: str, detail: str = "") -> None:
    """Warn on stderr; the page lists ``message`` only (no absolute paths or volatile details)."""
    print(f"leaderboard: {message}" + (f" ({detail})" if detail else ""), file=sys.stderr)
    if errors is not None:
        errors.append(message)


def _read_json(path: Path, results_dir: Path, errors: list[str] | None, quiet: bool = False) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        if not quiet:
            _report(
                errors, f"skipping unreadable file {_rel(path, results_dir)}", f"{type(exc).__name__}: {exc}"
            )
        return None


def _rel(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


_REQUIRED = ("detector", "dataset", "attack", "budget_tag")


def load_results(results_dir: Path, errors: list[str] | None = None) -> list[dict[str, Any]]:
    """Every result JSON under ``results_dir``, each with its path in ``"_path"``.

    Unreadable or malformed files are reported (stderr, and appended to ``errors``), not fatal:
    one bad file must not hide the whole leaderboard. Submission entries (``entry.json``, no
    ``metrics``), transfer results (``kind: transfer``, see :func:`load_transfer`) and other JSON
    files are ignored.
    """
    out = []
    if not results_dir.is_dir():
        return out
    for path in sorted(results_dir.rglob("*.json")):
        data = _read_json(path, results_dir, errors)
        if not isinstance(data, dict) or data.get("kind") in ("entry", "transfer"):
            continue
        if "schema_version" in data and "metrics" in data:
            missing = [k for k in _REQUIRED if not isinstance(data.get(k), str)]
            if missing or not isinstance(data["metrics"], dict):
                _report(
                    errors,
                    f"skipping malformed result {_rel(path, results_dir)}: missing {missing or 'metrics'}",
                )
                continue
            data["_path"] = str(path)
            out.append(data)
    return out


def load_entries(results_dir: Path, errors: list[str] | None = None) -> list[dict[str, Any]]:
    """Submission entries (``results/<dataset>/<name>/entry.json``, written by ``harness submit``)."""
    out = []
    if not results_dir.is_dir():
        return out
    for path in sorted(results_dir.rglob("entry.json")):
        data = _read_json(path, results_dir, errors, quiet=True)  # load_results reports it
        if isinstance(data, dict) and data.get("kind") == "entry" and isinstance(data.get("name"), str):
            data["_path"] = str(path)
            out.append(data)
        elif data is not None:
            _report(errors, f"skipping malformed entry {_rel(path, results_dir)}")
    return out


_TRANSFER_REQUIRED = ("dataset", "source", "attack", "budget_tag")


def load_transfer(results_dir: Path, errors: list[str] | None = None) -> list[dict[str, Any]]:
    """Transfer results (``results/<dataset>/transfer/*.json``, written by ``harness transfer``),
    each with its path in ``"_path"``; malformed ones are reported and skipped."""
    out = []
    if not results_dir.is_dir():
        return out
    for path in sorted(results_dir.rglob("*.json")):
        data = _read_json(path, results_dir, errors, quiet=True)  # load_results reports it
        if not isinstance(data, dict) or data.get("kind") != "transfer":
            continue
        missing = [k for k in _TRANSFER_REQUIRED if not isinstance(data.get(k), str)]
        targets = data.get("targets")
        if missing or not isinstance(targets, dict) or not all(isinstance(t, dict) for t in targets.values()):
            _report(
                errors,
                f"skipping malformed transfer result {_rel(path, results_dir)}: missing {missing or 'targets'}",
            )
            continue
        data["_path"] = str(path)
        out.append(data)
    return out


@dataclass(frozen=True)
class VideoRecords:
    """Per-video scores of one result (its ``.videos.csv``): ids, labels (1 = fake), scores."""

    ids: tuple[str, ...]
    labels: np.ndarray
    clean: np.ndarray
    adv: np.ndarray


def records_path(result: Mapping[str, Any]) -> Path:
    """``<result>.videos.csv`` beside a result JSON."""
    return Path(result["_path"]).with_suffix(".videos.csv")


def load_records(
    results: Sequence[Mapping[str, Any]], errors: list[str] | None = None
) -> dict[str, VideoRecords]:
    """Per-video records of each result that has readable ones, keyed by the result's ``_path``."""
    out: dict[str, VideoRecords] = {}
    for r in results:
        path = records_path(r)
        if not path.is_file():
            continue
        try:
            with path.open(newline="") as f:
                rows = list(csv.DictReader(f))
            rec = VideoRecords(
                tuple(row["video_id"] for row in rows),
                np.array([int(row["label"]) for row in rows], dtype=np.int64),
                np.array([float(row["clean_score"]) for row in rows], dtype=np.float64),
                np.array([float(row["adv_score"]) for row in rows], dtype=np.float64),
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            _report(
                errors,
                f"skipping unreadable records {'/'.join(path.parts[-3:])}",
                f"{type(exc).__name__}: {exc}",
            )
            continue
        finite = np.isfinite(rec.clean).all() and np.isfinite(rec.adv).all()
        if rows and finite and np.isin(rec.labels, (0, 1)).all():
            out[str(r["_path"])] = rec
    return out


# -- table building (pure) -------------------------------------------------------------------------
def column_key(result: Mapping[str, Any]) -> str:
    """The leaderboard column of a result: ``attack@budget_tag`` (e.g. ``pgd@eps4of255``)."""
    return f"{result['attack']}@{result['budget_tag']}"


def standard_columns() -> list[str]:
    """Column keys of the ``standard`` suite in suite order (empty if it cannot be loaded)."""
    try:
        from harness.suites import load_suite

        return [m.key for m in load_suite("standard").members]
    except Exception as exc:  # the leaderboard must still render, just without suite order
        print(f"leaderboard: standard suite unavailable ({exc}); columns sorted by name", file=sys.stderr)
        return []


def _num(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan


def _ci(value: Any) -> tuple[float, float] | None:
    if isinstance(value, (list, tuple)) and len(value) == 2:
        lo, hi = _num(value[0]), _num(value[1])
        if not (math.isnan(lo) or math.isnan(hi)):
            return (lo, hi)
    return None


def _order(results: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return sorted(results, key=lambda r: (str(r.get("created", "")), str(r.get("_path", ""))))


def _entry_key(entry: Mapping[str, Any]) -> tuple[str, str]:
    dataset = entry.get("dataset") or (Path(entry["_path"]).parent.parent.name if "_path" in entry else "")
    return str(entry["name"]), str(dataset)


def _row_key(result: Mapping[str, Any], entry_dirs: Mapping[str, Mapping[str, Any]]) -> tuple[str, str]:
    """(name, dataset): the entry's when the result lies in a submission entry's folder."""
    entry = entry_dirs.get(str(Path(result["_path"]).parent)) if "_path" in result else None
    if entry is not None:
        return _entry_key(entry)
    return str(result["detector"]), str(result["dataset"])


def _compact_missing(missing: Sequence[str], standard: Sequence[str]) -> str:
    """``fgsm, pgd@eps1of255/eps8of255``: whole attacks by name, partly missing ones by strength."""
    parts = []
    for attack in dict.fromkeys(k.split("@", 1)[0] for k in missing):
        gone = [k.split("@", 1)[1] for k in missing if k.split("@", 1)[0] == attack]
        total = sum(1 for k in standard if k.split("@", 1)[0] == attack)
        parts.append(attack if len(gone) == total and total > 1 else f"{attack}@{'/'.join(gone)}")
    return ", ".join(parts)


def _flag(code: str, message: str, label: str | None = None) -> dict[str, str]:
    return {"code": code, "message": message, "label": label or code}


def masking_flags(results: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """``gradient-masking`` when a black-box attack beats every white-box one it should not beat.

    A white-box attack of the same norm with the same or a larger budget sees everything a
    black-box one sees plus the gradients: if the black-box attack's AUROC is lower by more than
    ``MASKING_MARGIN`` than all of them, the gradients are probably masked (obfuscated), and the
    white-box numbers overstate robustness (Athalye et al., 2018; Carlini et al., 2019).
    """
    notes = []
    for bb in results:
        a, budget = _num(bb["metrics"].get("auroc_adv")), _num(bb.get("budget"))
        if (
            not bb.get("black_box")
            or not bb.get("norm")
            or bb.get("pre")
            or bb.get("post")
            or math.isnan(a)
            or math.isnan(budget)
        ):
            continue
        white = [
            (_num(w["metrics"].get("auroc_adv")), column_key(w))
            for w in results
            if w.get("uses_gradients")
            and w.get("norm") == bb["norm"]
            and _num(w.get("budget")) >= budget - 1e-9
            and not math.isnan(_num(w["metrics"].get("auroc_adv")))
        ]
        if white and a < min(white)[0] - MASKING_MARGIN:
            best, key = min(white)
            names = ", ".join(sorted(k for _, k in white))
            notes.append(
                f"{column_key(bb)} (black-box) AUROC {a:.3f} is more than {MASKING_MARGIN:g} below every "
                f"white-box {_NORMS.get(bb['norm'], bb['norm'])} attack at the same or a larger budget "
                f"({names}; strongest {key} {best:.3f}): the gradients may be masked, so white-box "
                "numbers overstate robustness"
            )
    return [_flag("gradient-masking", "; ".join(notes))] if notes else []


def _aligned(
    base: VideoRecords, members: Sequence[VideoRecords]
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]] | None:
    """Labels, clean scores and each member's attacked scores on the same videos, or None."""
    advs = []
    for rec in members:
        if rec.ids == base.ids:
            if not np.array_equal(rec.labels, base.labels):
                return None
            advs.append(rec.adv)
            continue
        index = {v: i for i, v in enumerate(rec.ids)}
        if len(index) != len(base.ids) or any(v not in index for v in base.ids):
            return None
        idx = np.array([index[v] for v in base.ids])
        if not np.array_equal(rec.labels[idx], base.labels):
            return None
        advs.append(rec.adv[idx])
    return base.labels, base.clean, advs


def _row_intervals(
    base: VideoRecords | None, members: Sequence[VideoRecords | None]
) -> tuple[tuple[float, float] | None, tuple[float, float] | None]:
    """Bootstrap 95% intervals of the worst case and the mean drop over ``members``.

    Every member is scored on the same videos with the same clean scores, so one set of resamples
    (by video) goes through all of them: the interval of the minimum accounts for picking the
    minimum, and the mean drop's interval is paired. ``None`` where the records do not line up.
    """
    if base is None or not members or any(m is None for m in members):
        return None, None
    aligned = _aligned(base, [m for m in members if m is not None])
    if aligned is None or len(set(aligned[0].tolist())) < 2:
        return None, None
    from harness import metrics

    labels, clean, advs = aligned
    boots = metrics.boot_aurocs(labels, [clean, *advs], None, N_BOOT, BOOT_SEED)
    worst = metrics.percentile_ci(boots[:, 1:].min(axis=1), 0.05, 0.1)
    drop = metrics.percentile_ci(boots[:, 0] - boots[:, 1:].mean(axis=1), 0.05, 0.1)
    return _ci(list(worst)), _ci(list(drop))


def is_white_box(result: Mapping[str, Any]) -> bool:
    """A white-box attack delivered straight to the detector: it follows the detector's gradients,
    is not a query-only attack, and no codec stands between it and the detector (``pre``/``post``
    rows are another threat model: they are compared among themselves, not with these)."""
    return (
        result.get("uses_gradients") is True
        and result.get("black_box") is False
        and not result.get("pre")
        and not result.get("post")
        and result.get("threat", "crops") == "crops"
        and result.get("scope", "sample") == "sample"
    )


def _threat_key(result: Mapping[str, Any]) -> tuple[Any, ...]:
    """What must match for two results to be compared as stronger/weaker siblings: the codec
    ordering, the threat model (and its codec) and the scope of the perturbation."""
    threat = result.get("threat", "crops")
    codec = (result.get("threat_config") or {}).get("crf") if threat == "pipeline" else None
    return (result.get("pre"), result.get("post"), threat, codec, result.get("scope", "sample"))


def ensemble_scores(labels: np.ndarray, advs: Sequence[np.ndarray]) -> np.ndarray:
    """AutoAttack's per-sample worst case over several attacks of the same samples: each fake takes
    the lowest attacked score any attack reached, each real the highest (label 1 = fake)."""
    stack = np.stack([np.asarray(a, dtype=np.float64) for a in advs])
    return np.where(np.asarray(labels) == 1, stack.min(axis=0), stack.max(axis=0))


def _row_ensemble(members: Sequence[VideoRecords | None]) -> tuple[float, tuple[float, float] | None]:
    """AUROC of :func:`ensemble_scores` over ``members`` and its bootstrap 95% interval
    (resampled by video, the same resamples as the worst case); ``nan`` without the records of
    every member on the same videos: a partial ensemble would be a wrong, too kind, number."""
    if not members or any(m is None for m in members):
        return math.nan, None
    present = [m for m in members if m is not None]
    aligned = _aligned(present[0], present)
    if aligned is None or len(set(aligned[0].tolist())) < 2:
        return math.nan, None
    from harness import metrics

    labels, _, advs = aligned
    scores = ensemble_scores(labels, advs)
    boots = metrics.boot_aurocs(labels, [scores], None, N_BOOT, BOOT_SEED)
    return metrics.auroc(labels, scores), _ci(list(metrics.percentile_ci(boots[:, 0], 0.05, 0.1)))


# -- sanity flags ------------------------------------------------------------------------------------
def _steps(result: Mapping[str, Any]) -> int | None:
    """Gradient steps of a white-box attack (per restart): ``attack_config.steps``, 1 for FGSM."""
    config = result.get("attack_config")
    steps = config.get("steps") if isinstance(config, Mapping) else None
    if isinstance(steps, int) and not isinstance(steps, bool) and steps > 0:
        return steps
    return 1 if result.get("attack") == "fgsm" else None


def _same_budget(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    x, y = _num(a.get("budget")), _num(b.get("budget"))
    return bool(a.get("norm")) and a.get("norm") == b.get("norm") and abs(x - y) <= 1e-9


def _paired_diff_ci(
    base: VideoRecords, scores_a: np.ndarray, other: VideoRecords | None = None
) -> tuple[float, float] | None:
    """Paired bootstrap 95% interval of AUROC(``scores_a``) minus AUROC(``other.adv``, or
    ``base.clean`` without ``other``), on ``base``'s videos, resampled by video."""
    if other is None:
        labels, second = base.labels, base.clean
    else:
        aligned = _aligned(base, [other])
        if aligned is None:
            return None
        labels, second = aligned[0], aligned[2][0]
    if len(set(labels.tolist())) < 2:
        return None
    from harness import metrics

    boots = metrics.boot_aurocs(labels, [scores_a, second], None, N_BOOT, BOOT_SEED)
    return _ci(list(metrics.percentile_ci(boots[:, 0] - boots[:, 1], 0.05, 0.1)))


def _beyond(
    x: float,
    x_ci: tuple[float, float] | None,
    y: float,
    y_ci: tuple[float, float] | None,
    paired: tuple[float, float] | None,
) -> str | None:
    """Why ``x`` is above ``y`` beyond the interval (or ``None`` when it is not).

    With a paired interval of ``x - y`` (the same videos resampled for both), its low end must be
    above 0; without one, ``x``'s 95% interval must lie entirely above ``y``'s. Equal numbers
    (within ``_TIE``) never are.
    """
    if math.isnan(x) or math.isnan(y) or x <= y + _TIE:
        return None
    if paired is not None:
        if paired[0] > _TIE:
            return f"paired 95% interval of the difference [{paired[0]:+.3f}, {paired[1]:+.3f}]"
        return None
    if x_ci is not None and y_ci is not None and x_ci[0] > y_ci[1] + _TIE:
        return (
            f"95% intervals [{x_ci[0]:.2f}, {x_ci[1]:.2f}] and [{y_ci[0]:.2f}, {y_ci[1]:.2f}] do not overlap"
        )
    return None


def _adv_above(a: Mapping[str, Any], b: Mapping[str, Any], records: Mapping[str, VideoRecords]) -> str | None:
    """Why ``a``'s attacked AUROC is above ``b``'s beyond the interval, or ``None``."""
    x, y = _num(a["metrics"].get("auroc_adv")), _num(b["metrics"].get("auroc_adv"))
    if math.isnan(x) or math.isnan(y) or x <= y + _TIE:
        return None  # the bootstrap below only where it can matter
    ra, rb = records.get(str(a.get("_path"))), records.get(str(b.get("_path")))
    paired = _paired_diff_ci(ra, ra.adv, rb) if ra is not None and rb is not None else None
    return _beyond(x, _ci(a["metrics"].get("auroc_adv_ci")), y, _ci(b["metrics"].get("auroc_adv_ci")), paired)


def _helps(r: Mapping[str, Any], records: Mapping[str, VideoRecords]) -> str | None:
    """Why ``r``'s attacked AUROC is above its clean AUROC beyond the interval, or ``None``: the
    runner's paired ``auroc_drop_ci`` (clean minus attacked) when the result has one, else a paired
    bootstrap of its records, else the two intervals."""
    m = r["metrics"]
    adv, clean = _num(m.get("auroc_adv")), _num(m.get("auroc_clean"))
    if math.isnan(adv) or math.isnan(clean) or adv <= clean + _TIE:
        return None
    drop = _ci(m.get("auroc_drop_ci"))
    rec = records.get(str(r.get("_path")))
    if drop is not None:
        paired: tuple[float, float] | None = (-drop[1], -drop[0])
    else:
        paired = _paired_diff_ci(rec, rec.adv) if rec is not None else None
    return _beyond(adv, _ci(m.get("auroc_adv_ci")), clean, _ci(m.get("auroc_clean_ci")), paired)


def _auc(r: Mapping[str, Any]) -> str:
    return f"{column_key(r)} {_fmt(_num(r['metrics'].get('auroc_adv')))}"


def _fraction_note(r: Mapping[str, Any], key: str, what: str) -> str | None:
    """``pgd@eps4of255: 25% of the attacked samples (3/12) ...`` when ``metrics[key] > 0``."""
    m = r["metrics"]
    frac = _num(m.get(key))
    if math.isnan(frac) or frac <= 0:
        return None
    count = ""
    n, k = m.get("n_attacked"), m.get("n_unperturbed")
    if key == "unperturbed_fraction" and isinstance(n, int) and isinstance(k, int):
        count = f" ({k}/{n})"
    note = f"{column_key(r)}: {frac:.1%} of the attacked samples{count} {what}"
    if key == "unperturbed_fraction" and r.get("quantized") is True:
        note += " (its adversarial frames were rounded to 8 bits: a perturbation under half a grey level vanishes)"
    return note


def sanity_flags(
    results: Sequence[Mapping[str, Any]], records: Mapping[str, VideoRecords] | None = None
) -> list[dict[str, str]]:
    """Flags for results that contradict how attacks must behave, so some number is wrong or weak.

    "Beyond the interval" (every flag here): the 95% paired bootstrap interval of the difference
    (resampled by video from the per-video records of both results, or the runner's
    ``auroc_drop_ci`` against clean) lies entirely above 0; without records, the two 95% intervals
    do not overlap. Equal numbers never raise a flag.

    - ``apgd-weaker-than-pgd``: APGD's attacked AUROC is above PGD's at the same norm and budget.
    - ``attack-helps-detector``: a white-box attack's attacked AUROC is above its clean AUROC.
    - ``more-steps-weaker``: at the same norm and budget, a white-box attack with more gradient
      steps (FGSM: 1; others ``attack_config.steps``) has a higher attacked AUROC than one with
      fewer (APGD vs PGD is left to its own flag).
    - ``non-monotone-budget``: the same attack (same norm and steps) at a larger budget has a
      higher attacked AUROC than at a smaller one.
    - ``unperturbed-samples`` / ``zero-gradients``: a gradient attack reports attacked samples
      delivered exactly unchanged (``metrics.unperturbed_fraction > 0``) or an input gradient
      exactly zero (``metrics.zero_grad_fraction > 0``); missing or null metrics raise nothing.
    """
    records = records or {}
    results = [r for r in results if isinstance(r.get("metrics"), Mapping)]
    white = [r for r in results if is_white_box(r)]
    notes: dict[str, list[str]] = {code: [] for code in _SANITY_CODES}

    def apgd_vs_pgd(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
        return str(a.get("attack", "")).startswith("apgd") and str(b.get("attack", "")).startswith("pgd")

    for a in white:
        for b in white:
            if a is b or not _same_budget(a, b):
                continue
            sa, sb = _steps(a), _steps(b)
            if apgd_vs_pgd(a, b):
                code = "apgd-weaker-than-pgd"
            elif sa is not None and sb is not None and sa > sb:
                code = "more-steps-weaker"
            else:
                continue
            why = _adv_above(a, b, records)
            if why:
                steps = f" ({sa} steps vs {sb})" if code == "more-steps-weaker" else ""
                notes[code].append(f"{_auc(a)} is above {_auc(b)}{steps}: {why}")
        why = _helps(a, records)
        if why:
            clean = _fmt(_num(a["metrics"].get("auroc_clean")))
            notes["attack-helps-detector"].append(f"{_auc(a)} is above clean {clean}: {why}")
    for a in results:
        for b in results:
            if (
                a.get("attack") != b.get("attack")
                or _threat_key(a) != _threat_key(b)
                or a.get("norm") != b.get("norm")
                or not a.get("norm")
                or _steps(a) != _steps(b)
                or not _num(a.get("budget")) > _num(b.get("budget")) + 1e-9
            ):
                continue
            why = _adv_above(a, b, records)
            if why:
                notes["non-monotone-budget"].append(f"{_auc(a)} (larger budget) is above {_auc(b)}: {why}")
    for r in results:
        if r.get("uses_gradients") is not True:
            continue
        for code, key, what in (
            ("unperturbed-samples", "unperturbed_fraction", "were delivered exactly unchanged"),
            ("zero-gradients", "zero_grad_fraction", "had an input gradient of exactly zero"),
        ):
            note = _fraction_note(r, key, what)
            if note:
                notes[code].append(note)
    return [_flag(code, "; ".join(n)) for code, n in notes.items() if n]


def leaderboard_rows(
    results: Sequence[Mapping[str, Any]],
    entries: Sequence[Mapping[str, Any]] = (),
    standard: Sequence[str] | None = None,
    records: Mapping[str, VideoRecords] | None = None,
) -> tuple[list[str], list[dict[str, Any]]]:
    """Columns (standard-suite keys present in suite order, then others sorted) and sorted rows.

    One row per (detector, dataset); a result in the folder of a submission entry belongs to the
    entry's row (named by the entry). Where several results share a column, the latest
    (``created``) wins. Row keys: ``detector``, ``dataset``, ``clean``, ``clean_ci``, one per
    column (AUROC under attack), ``ci`` (column -> interval), ``worst``, ``worst_ci``,
    ``worst_member``, ``mean_drop``, ``mean_drop_ci``, ``judged`` (the columns worst and mean drop
    are taken over: the standard members present, or every column for a row with none),
    ``ensemble``, ``ensemble_ci``, ``ensemble_members`` (the white-box columns among ``judged``;
    ``ensemble`` is ``nan`` unless each of them has per-video records on the same videos),
    ``n_videos``, ``checkpoint_sha256``, ``flags`` (``code``, ``message``, ``label``), ``entry``,
    ``results`` (column -> result). Sorted by worst-case AUROC, best first, rows without one last.
    """
    standard = standard_columns() if standard is None else list(standard)
    records = records or {}
    entry_dirs = {str(Path(e["_path"]).parent): e for e in entries if "_path" in e}
    entry_rows = {_entry_key(e): e for e in entries}
    grouped: dict[tuple[str, str], list[Mapping[str, Any]]] = {k: [] for k in entry_rows}
    for r in _order(results):
        grouped.setdefault(_row_key(r, entry_dirs), []).append(r)

    present = {column_key(r) for r in results}
    columns = [k for k in standard if k in present] + sorted(present - set(standard))
    rows = []
    for (name, dataset), group in grouped.items():
        entry = entry_rows.get((name, dataset))
        rows.append(_build_row(name, dataset, group, entry, columns, standard, records))
    rows.sort(key=lambda r: (math.isnan(r["worst"]), -_nan_to(r["worst"]), r["detector"], r["dataset"]))
    return columns, rows


def _nan_to(v: float, fill: float = 0.0) -> float:
    return fill if math.isnan(v) else v


def _build_row(
    name: str,
    dataset: str,
    group: Sequence[Mapping[str, Any]],
    entry: Mapping[str, Any] | None,
    columns: Sequence[str],
    standard: Sequence[str],
    records: Mapping[str, VideoRecords],
) -> dict[str, Any]:
    by_col: dict[str, Mapping[str, Any]] = {}
    for r in group:  # oldest first: the latest result of a column wins
        by_col[column_key(r)] = r
    latest = group[-1] if group else None
    m = latest["metrics"] if latest else {}
    row: dict[str, Any] = {
        "detector": name,
        "dataset": dataset,
        "clean": _num(m.get("auroc_clean")),
        "clean_ci": _ci(m.get("auroc_clean_ci")),
        "ci": {},
        "n_videos": m.get("n_videos"),
        "checkpoint_sha256": str(latest.get("checkpoint_sha256") or "")[:12] if latest else "",
        "entry": dict(entry.get("meta") or {}) if entry else None,
        "results": {c: by_col[c] for c in columns if c in by_col},
    }
    for c in row["results"]:
        row[c] = _num(by_col[c]["metrics"].get("auroc_adv"))
        row["ci"][c] = _ci(by_col[c]["metrics"].get("auroc_adv_ci"))
    have_std = [c for c in standard if c in row["results"]]
    judged = [c for c in (have_std or list(row["results"])) if not math.isnan(row[c])]
    row["judged"] = judged
    row["worst"], row["worst_ci"], row["worst_member"] = math.nan, None, None
    row["mean_drop"], row["mean_drop_ci"] = math.nan, None
    row["ensemble_members"] = [c for c in judged if is_white_box(row["results"][c])]
    row["ensemble"], row["ensemble_ci"] = _row_ensemble(
        [records.get(str(row["results"][c].get("_path"))) for c in row["ensemble_members"]]
    )
    if judged:
        worst = min(judged, key=lambda c: row[c])  # ties: the first in column order
        row["worst"], row["worst_member"] = row[worst], worst
        row["mean_drop"] = row["clean"] - sum(row[c] for c in judged) / len(judged)
        base = records.get(str(latest["_path"])) if latest and "_path" in latest else None
        members = [records.get(str(row["results"][c].get("_path"))) for c in judged]
        worst_ci, drop_ci = _row_intervals(base, members)
        row["worst_ci"] = worst_ci if worst_ci is not None else row["ci"][worst]
        row["mean_drop_ci"] = drop_ci

    flags = [
        _flag(str(f.get("code", "flag")), str(f.get("message", "")))
        for f in (entry.get("flags") or [] if entry else [])
        if isinstance(f, Mapping)
    ]
    flags += masking_flags(list(row["results"].values()))
    flags += sanity_flags(list(row["results"].values()), records)
    if standard:
        missing = [k for k in standard if k not in row["results"]]
        if missing:
            n, total = len(standard) - len(missing), len(standard)
            flags.append(
                _flag(
                    "incomplete",
                    f"{n}/{total} standard-suite members evaluated; missing: {_compact_missing(missing, standard)}",
                    f"incomplete: {n}/{total} standard members",
                )
            )
    shas = sorted(
        {str(r.get("checkpoint_sha256")) for r in row["results"].values() if r.get("checkpoint_sha256")}
    )
    if len(shas) > 1:
        flags.append(
            _flag(
                "mixed-checkpoints",
                f"the results of this row come from {len(shas)} different checkpoints "
                f"({', '.join(s[:12] for s in shas)}): re-run them with one checkpoint",
            )
        )
    row["flags"] = flags
    return row


_SANITY_CODES = (
    "apgd-weaker-than-pgd",
    "attack-helps-detector",
    "more-steps-weaker",
    "non-monotone-budget",
    "unperturbed-samples",
    "zero-gradients",
)


# -- text formats (pure) ---------------------------------------------------------------------------
def _fmt(v: Any, digits: int = 3) -> str:
    if isinstance(v, float):
        return "n/a" if math.isnan(v) else f"{v:.{digits}f}"
    return "" if v is None else str(v)


def format_ci(value: float, ci: Sequence[float] | None) -> str:
    """``0.912 [0.85, 0.96]``; just the value without an interval; ``n/a`` without a value."""
    if math.isnan(value):
        return "n/a"
    return f"{value:.3f} [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else f"{value:.3f}"


def column_label(results: Sequence[Mapping[str, Any]], key: str) -> tuple[str, str]:
    """(attack, strength) for a column header: ``("pgd", "ε 4/255")``, ``("jpeg", "quality 50")``."""
    attack, _, tag = key.partition("@")
    for r in results:
        if column_key(r) == key:
            return attack, _strength_label(r)
    return attack, tag


def _strength_label(r: Mapping[str, Any]) -> str:
    param, value = r.get("strength_param"), _num(r.get("strength"))
    if param is None or math.isnan(value):
        return "" if r.get("budget_tag") == "default" else str(r.get("budget_tag", ""))
    if param == "eps":
        k = value * 255
        eps = f"{round(k)}/255" if abs(k - round(k)) < 1e-6 else f"{value:g}"
        return f"ε {eps}" + (" (L2)" if r.get("norm") == "l2" else "")
    return f"{param} {value:g}"


_NOTE = (
    "Video-level AUROC on the evaluated split, clean and under each attack; [brackets]: 95% bootstrap "
    "intervals resampled by video. Worst case: the minimum of the member AUROCs, each attack scored on "
    "its own, over the standard-suite members a row has (over all its attacks when it has none). "
    "Ensemble: AutoAttack's per-video worst case over the white-box members among them (gradient "
    "attacks, not black-box): each fake video keeps the lowest score any of them reached, each real "
    "video the highest, and the result is scored as one AUROC, so it is at most every white-box "
    "member's AUROC; n/a unless every white-box member has its per-video records. Mean drop: clean "
    "AUROC minus the mean attacked AUROC over the same members as the worst case. Rows are sorted by "
    "worst-case AUROC."
)
_DISCLAIMER = (
    "Numbers on the embedded `synthetic` benchmark show that the harness works; they say nothing about "
    "how a detector fares on Celeb-DF, DFDC or FaceForensics++."
)
_BEYOND = (
    "beyond the interval: the paired 95% bootstrap interval of the difference (resampled by video "
    "from both results' records, or the result's own clean-minus-attacked interval) lies entirely "
    "above 0, or without records the two 95% intervals do not overlap; equal numbers never count"
)
_FLAG_HELP = {
    "gradient-masking": "a black-box attack beats every white-box attack of its norm at the same or a "
    f"larger budget by more than {MASKING_MARGIN:g} AUROC: gradients are probably masked and the "
    "white-box numbers overstate robustness",
    "apgd-weaker-than-pgd": "APGD's attacked AUROC is above PGD's at the same norm and budget, "
    f"{_BEYOND}: APGD adapts its step size and should be at least as strong, so one of them is broken "
    "or under-run",
    "attack-helps-detector": "a white-box attack's attacked AUROC is above the clean AUROC, "
    f"{_BEYOND}: the attack pushes scores the wrong way (a sign or label bug)",
    "more-steps-weaker": "at the same norm and budget, a white-box attack with more gradient steps "
    "(FGSM counts 1; others their attack_config steps) has a higher attacked AUROC than one with "
    f"fewer, {_BEYOND} (APGD vs PGD has its own flag): the iterative attack is not converging",
    "non-monotone-budget": "the same attack (same norm and steps) at a larger budget has a higher "
    f"attacked AUROC than at a smaller one, {_BEYOND}: a larger budget must not make it weaker",
    "unperturbed-samples": "a gradient attack delivered some attacked samples exactly unchanged "
    "(metrics.unperturbed_fraction > 0): the attack did nothing on them, for example a perturbation "
    "rounded away by 8-bit quantization",
    "zero-gradients": "a gradient attack met an input gradient of exactly zero on some samples "
    "(metrics.zero_grad_fraction > 0): saturated or non-differentiable scores, so the white-box "
    "numbers may overstate robustness",
    "incomplete": "some standard-suite members were not evaluated: the worst case may be too kind",
    "mixed-checkpoints": "the row's results come from different checkpoints",
}


def render_markdown(
    columns: list[str],
    rows: list[dict[str, Any]],
    figures: Mapping[str, str] | None = None,
    skipped: Sequence[str] = (),
    transfer: Sequence[TransferMatrix] = (),
    threats: Any = None,
) -> str:
    """The Markdown leaderboard: a summary table, the per-member table, flags, the pipeline
    threat-model table and the transfer matrices (when there are such results) and figures."""
    from harness.threat_table import render_threat_markdown

    results = [r for row in rows for r in row.get("results", {}).values()]
    lines = [
        "# Leaderboard: clean vs attacked AUROC",
        "",
        "Generated by `harness run` / `harness leaderboard` from the result files; do not edit. "
        "The same table with sorting and figures: [index.html](index.html).",
        "",
        _NOTE,
        _DISCLAIMER,
        "",
    ]
    if not rows:
        lines += ["No results yet: `harness run --suite standard --detector NAME` adds a row.", ""]
    lines += [
        "## Summary",
        "",
        "| # | detector | dataset | clean AUROC | worst-case AUROC | worst member | ensemble AUROC "
        "| mean drop | videos | flags |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for i, r in enumerate(rows, 1):
        cells = [
            str(i),
            _md(r["detector"]),
            _md(r["dataset"]),
            format_ci(r["clean"], r.get("clean_ci")),
            format_ci(r["worst"], r.get("worst_ci")),
            r.get("worst_member") or "",
            format_ci(r.get("ensemble", math.nan), r.get("ensemble_ci")),
            format_ci(r["mean_drop"], r.get("mean_drop_ci")),
            _fmt(r.get("n_videos")),
            _md("; ".join(f["label"] for f in r.get("flags", []))),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    if columns:
        head = [
            "detector",
            "dataset",
            "clean",
            *(" ".join(column_label(results, c)).strip() for c in columns),
        ]
        lines += [
            "",
            "## AUROC under each attack",
            "",
            "| " + " | ".join(head) + " |",
            "|" + "---|" * len(head),
        ]
        for r in rows:
            cells = [
                _md(r["detector"]),
                _md(r["dataset"]),
                format_ci(r["clean"], r.get("clean_ci")),
                *(format_ci(r.get(c, math.nan), r.get("ci", {}).get(c)) if c in r else "" for c in columns),
            ]
            lines.append("| " + " | ".join(cells) + " |")
        lines += ["", "Columns: " + ", ".join(f"`{c}`" for c in columns) + "."]
    flagged = [(r, f) for r in rows for f in r.get("flags", [])]
    if flagged:
        lines += ["", "## Flags", ""]
        lines += [
            f"- **{_md(r['detector'])} / {_md(r['dataset'])}**: {f['code']}: {_md(f['message'])}"
            for r, f in flagged
        ]
    lines += ["", *render_threat_markdown(threats)] if threats is not None else []
    lines += render_transfer_markdown(transfer)
    if figures:
        lines += ["", "## Figures", ""]
        for r in rows:
            fig = figures.get(_row_id(r))
            if fig:
                title = f"{_md(r['detector'])} on {_md(r['dataset'])}"
                lines += [f"### {title}", "", f"![{title}]({fig})", ""]
        lines.pop()
    if skipped:
        lines += ["", "## Skipped files", ""] + [f"- {_md(s)}" for s in skipped]
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_csv(columns: list[str], rows: list[dict[str, Any]]) -> str:
    """One line per row; every interval as ``_lo``/``_hi`` columns; flags as ``code: message``."""

    def num(v: Any) -> str:
        return "" if not isinstance(v, float) or math.isnan(v) else f"{v:.4f}"

    def ci(c: Sequence[float] | None) -> list[str]:
        return [num(c[0]), num(c[1])] if c else ["", ""]

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    head = ["detector", "dataset", "auroc_clean", "auroc_clean_lo", "auroc_clean_hi"]
    for c in columns:
        head += [c, f"{c}_lo", f"{c}_hi"]
    head += ["worst_case", "worst_case_lo", "worst_case_hi", "worst_case_member"]
    head += ["ensemble", "ensemble_lo", "ensemble_hi"]
    head += ["mean_drop", "mean_drop_lo", "mean_drop_hi", "n_videos", "checkpoint_sha256", "flags"]
    w.writerow(head)
    for r in rows:
        line = [r["detector"], r["dataset"], num(r["clean"]), *ci(r.get("clean_ci"))]
        for c in columns:
            line += [num(r.get(c, math.nan)), *ci(r.get("ci", {}).get(c))]
        line += [num(r["worst"]), *ci(r.get("worst_ci")), r.get("worst_member") or ""]
        line += [num(r.get("ensemble", math.nan)), *ci(r.get("ensemble_ci"))]
        line += [num(r["mean_drop"]), *ci(r.get("mean_drop_ci")), _fmt(r.get("n_videos"))]
        line += [
            r.get("checkpoint_sha256", ""),
            " | ".join(f"{f['code']}: {f['message']}" for f in r.get("flags", [])),
        ]
        w.writerow(line)
    return buf.getvalue()


# -- figures (plans are pure; drawing needs matplotlib) --------------------------------------------
@dataclass(frozen=True)
class CurvePanel:
    """AUROC versus strength for the attacks sharing one strength setting (and norm)."""

    xlabel: str
    invert: bool  # lower values are stronger (JPEG quality): stronger to the right
    lines: tuple[tuple[str, tuple[tuple[float, float, float, float], ...]], ...]  # attack, (x, auc, lo, hi)


@dataclass(frozen=True)
class FigurePlan:
    """One PNG per row: ROC curves clean vs attacked, then one AUROC-vs-strength panel per setting."""

    path: str  # relative to the leaderboard folder
    title: str
    clean_auroc: float
    roc: tuple[tuple[str, str, str], ...]  # (legend label, result path, "clean" | "adv")
    curves: tuple[CurvePanel, ...]

    @property
    def panels(self) -> int:
        return (1 if self.roc else 0) + len(self.curves)

    @property
    def size_px(self) -> tuple[int, int]:
        return round(_PANEL_IN[0] * _DPI * self.panels), round(_PANEL_IN[1] * _DPI)


def _row_id(row: Mapping[str, Any]) -> str:
    return f"{row['dataset']}/{row['detector']}"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "x"


def figure_plan(row: Mapping[str, Any], records: Mapping[str, VideoRecords], path: str) -> FigurePlan | None:
    """What to draw for a row (``None`` when there is nothing): pure, so the page can be rendered
    without drawing. ROC: clean, ``pgd@eps4of255`` (or the worst member without it) and the
    worst member; curves: each attack evaluated at several strengths."""
    results: Mapping[str, Mapping[str, Any]] = row.get("results", {})
    with_records = [c for c in results if str(results[c].get("_path")) in records]
    roc: list[tuple[str, str, str]] = []
    picks = [c for c in (_ROC_PREFERRED, row.get("worst_member")) if c in with_records]
    if not picks and with_records:
        picks = [min(with_records, key=lambda c: _nan_to(row[c], 2.0))]
    if picks:
        roc.append((f"clean (AUROC {_fmt(row['clean'])})", str(results[picks[0]]["_path"]), "clean"))
        for c in dict.fromkeys(picks):
            label = " ".join(column_label([results[c]], c)).strip()
            roc.append((f"{label} (AUROC {_fmt(row[c])})", str(results[c]["_path"]), "adv"))
    groups: dict[tuple[str, str], dict[str, list[tuple[float, float, float, float]]]] = {}
    for c, r in results.items():
        param, x = r.get("strength_param"), _num(r.get("strength"))
        if not param or math.isnan(x) or math.isnan(row[c]):
            continue
        norm = str(r.get("norm") or "")
        if param == "eps" and norm == "linf":
            x *= 255
        ci = row["ci"].get(c) or (row[c], row[c])
        groups.setdefault((str(param), norm), {}).setdefault(str(r["attack"]), []).append((x, row[c], *ci))
    panels = []
    for (param, norm), attacks in groups.items():
        lines = tuple((a, tuple(sorted(pts))) for a, pts in attacks.items() if len({p[0] for p in pts}) > 1)
        if lines:
            xlabel = (
                {"linf": "eps (L-inf, in 1/255)", "l2": "eps (L2)"}.get(norm, param)
                if param == "eps"
                else param
            )
            panels.append(CurvePanel(xlabel, param in _DECREASING, lines))
    if not roc and not panels:
        return None
    return FigurePlan(path, f"{row['detector']} on {row['dataset']}", row["clean"], tuple(roc), tuple(panels))


def figure_plans(
    rows: Sequence[Mapping[str, Any]], records: Mapping[str, VideoRecords]
) -> dict[str, FigurePlan]:
    """Row id (``dataset/detector``) -> its figure, with unique file names under ``figures/``."""
    out: dict[str, FigurePlan] = {}
    used: set[str] = set()
    for row in sorted(rows, key=lambda r: (r["dataset"], r["detector"])):
        stem = f"{_slug(row['dataset'])}__{_slug(row['detector'])}"
        name, i = stem, 1
        while name.lower() in used:
            i += 1
            name = f"{stem}-{i}"
        plan = figure_plan(row, records, f"{FIGURES_DIR}/{name}.png")
        if plan is not None:
            used.add(name.lower())
            out[_row_id(row)] = plan
    return out


def figure_key(plan: FigurePlan, records: Mapping[str, VideoRecords]) -> str:
    """A digest of everything a figure is drawn from (plan, records, matplotlib version): a PNG
    that carries it is current and need not be drawn again."""
    import hashlib

    import matplotlib

    roc = [(label, which) for label, _, which in plan.roc]  # the data, not where it lies
    h = hashlib.sha256(
        repr((plan.clean_auroc, roc, plan.curves, plan.size_px, matplotlib.__version__)).encode()
    )
    for _, path, which in plan.roc:
        rec = records[path]
        h.update(rec.labels.tobytes() + (rec.clean if which == "clean" else rec.adv).tobytes())
    return h.hexdigest()[:20]


def draw_figure(plan: FigurePlan, records: Mapping[str, VideoRecords]) -> bytes:
    """The PNG of a plan (Agg, no timestamp or version in the file: same inputs, same bytes);
    its ``Comment`` holds :func:`figure_key`."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from harness.metrics import roc_points

    style = {"font.size": 8, "axes.titlesize": 9, "legend.fontsize": 7}
    with matplotlib.rc_context(style):
        w, h = plan.size_px
        fig = Figure(figsize=(w / _DPI, h / _DPI), dpi=_DPI, layout="constrained")
        FigureCanvasAgg(fig)
        axes = fig.subplots(1, plan.panels, squeeze=False)[0]
        k = 0
        if plan.roc:
            ax = axes[0]
            k = 1
            ax.plot([0, 1], [0, 1], color="0.75", lw=0.8, ls=":")
            for i, (label, path, which) in enumerate(plan.roc):
                rec = records[path]
                fpr, tpr, _ = roc_points(rec.labels, rec.clean if which == "clean" else rec.adv)
                color = "black" if which == "clean" else f"C{i}"
                ax.plot(fpr, tpr, color=color, lw=1.4, label=label)
            ax.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="false-positive rate", ylabel="true-positive rate")
            ax.set_title("ROC, clean vs attacked")
            ax.legend(loc="lower right")
        for panel, ax in zip(plan.curves, axes[k:], strict=True):
            if not math.isnan(plan.clean_auroc):
                ax.axhline(plan.clean_auroc, color="black", lw=0.9, ls="--", label="clean")
            for i, (attack, pts) in enumerate(panel.lines):
                x, y, lo, hi = (np.array(v, dtype=float) for v in zip(*pts, strict=True))
                ax.fill_between(x, lo, hi, color=f"C{i}", alpha=0.15, lw=0)
                ax.plot(x, y, marker="o", ms=3, color=f"C{i}", lw=1.4, label=attack)
            ticks = sorted({p[0] for _, pts in panel.lines for p in pts})
            ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
            if panel.invert:
                ax.invert_xaxis()
            ax.set(
                ylim=(0, 1.02),
                xlabel=panel.xlabel + (" (stronger →)" if panel.invert else ""),
                ylabel="AUROC",
            )
            ax.axhline(0.5, color="0.75", lw=0.8, ls=":")
            ax.set_title(f"AUROC vs {panel.xlabel.split(' ')[0]}")
            ax.legend(loc="lower left")
        buf = io.BytesIO()
        comment = f"leaderboard-figure {figure_key(plan, records)}"
        fig.savefig(buf, format="png", dpi=_DPI, metadata={"Software": None, "Comment": comment})
    return buf.getvalue()


# -- HTML (pure) -----------------------------------------------------------------------------------
def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _heat(v: float) -> str:
    """Background of an AUROC cell: red at 0.5 or below, green at 1."""
    if math.isnan(v):
        return ""
    hue = round(120 * min(1.0, max(0.0, (v - 0.5) / 0.5)))
    return f' style="background:hsl({hue} 65% 90%)"'


def _num_cell(v: float, ci: Sequence[float] | None, heat: bool = True, signed: bool = False) -> str:
    if math.isnan(v):
        return '<td class="num na" data-v="">n/a</td>'
    text = f"{v:+.3f}" if signed else f"{v:.3f}"
    ci_html = f'<span class="ci">[{ci[0]:.2f}, {ci[1]:.2f}]</span>' if ci else ""
    return f'<td class="num" data-v="{v:.6f}"{_heat(v) if heat else ""}>{text}{ci_html}</td>'


_CSS = """
:root{color-scheme:light;--fg:#1d232b;--mute:#5d6774;--line:#d9dee4;--head:#f3f5f8;--accent:#2457b5}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:#fff}
header,main{max-width:1500px;margin:0 auto;padding:0 20px}
header{padding-top:18px}
h1{font-size:22px;margin:0 0 6px}
h2{font-size:17px;margin:26px 0 8px}
p{margin:6px 0;max-width:980px}
.mute{color:var(--mute)}
code{font-size:12px;background:var(--head);padding:1px 4px;border-radius:3px}
.scroll{overflow-x:auto;border:1px solid var(--line);border-radius:6px;margin-top:10px}
table{border-collapse:collapse;font-size:13px;width:max-content;min-width:100%}
th,td{padding:5px 8px;border-bottom:1px solid var(--line);vertical-align:top;white-space:nowrap}
thead th{background:var(--head);position:sticky;top:0;text-align:left;vertical-align:bottom}
th button{all:unset;cursor:pointer;display:block;line-height:1.25}
th button:focus-visible{outline:2px solid var(--accent);outline-offset:2px}
th .sub{display:block;font-weight:400;color:var(--mute);font-size:11px}
th[aria-sort] button{color:var(--accent)}
th[aria-sort=ascending] button::after{content:" \\25B2";font-size:10px}
th[aria-sort=descending] button::after{content:" \\25BC";font-size:10px}
th.num{text-align:right}
td.num{text-align:right;font-variant-numeric:tabular-nums}
td.na{color:#9aa3ad}
td .ci{display:block;font-size:10.5px;color:var(--mute)}
td.name{font-weight:600}
td.name .meta{display:block;font-weight:400;font-size:11px;color:var(--mute);white-space:normal;max-width:260px}
td.sep,th.sep{border-left:2px solid var(--line)}
td.flags{white-space:normal;min-width:150px;max-width:230px}
tbody tr:hover td{box-shadow:inset 0 0 0 999px rgba(36,87,181,.06)}
.flag{display:inline-block;margin:0 4px 2px 0;padding:1px 7px;border-radius:10px;font-size:11px;background:#eef1f5;border:1px solid #cfd6de;cursor:help}
.flag.gradient-masking{background:#fde8e6;border-color:#f0a39a;color:#8a1c10}
.flag.incomplete{background:#fff4dc;border-color:#e9c97a;color:#6b4e00}
.flag.mixed-checkpoints{background:#f1e9fb;border-color:#c5a6ec;color:#4b2180}
.flag.apgd-weaker-than-pgd,.flag.attack-helps-detector,.flag.more-steps-weaker,.flag.non-monotone-budget,
.flag.unperturbed-samples,.flag.zero-gradients{background:#fdeee0;border-color:#eab27f;color:#7a3b00}
dl.legend{display:grid;grid-template-columns:max-content 1fr;gap:4px 12px;font-size:13px;margin:10px 0}
dl.legend dd{margin:0;color:var(--mute)}
.empty{padding:14px;color:var(--mute)}
figure{margin:18px 0;border:1px solid var(--line);border-radius:6px;padding:10px;overflow-x:auto}
figure img{display:block;max-width:100%;height:auto}
figcaption{font-size:13px;color:var(--mute);margin-bottom:6px}
figcaption b{color:var(--fg)}
footer{max-width:1500px;margin:30px auto;padding:0 20px;font-size:12px;color:var(--mute)}
"""

_JS = """
(function () {
  var table = document.getElementById("board");
  if (!table) return;
  var body = table.tBodies[0];
  var heads = Array.prototype.slice.call(table.tHead.rows[0].cells);
  heads.forEach(function (th, col) {
    if (!th.querySelector("button")) return;
    th.addEventListener("click", function () {  // the whole header; its button gives keyboard access
      var asc = th.getAttribute("aria-sort") !== "ascending";
      heads.forEach(function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", asc ? "ascending" : "descending");
      var numeric = th.dataset.type === "num";
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = a.cells[col].dataset.v, y = b.cells[col].dataset.v;
        if (x === "" || y === "") {  // missing values last, whichever the direction
          if (x !== y) return x === "" ? 1 : -1;
        } else {
          var d = numeric ? parseFloat(x) - parseFloat(y) : x.localeCompare(y);
          if (d !== 0) return asc ? d : -d;
        }
        return parseInt(a.dataset.rank, 10) - parseInt(b.dataset.rank, 10);
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
})();
"""


def _flags_cell(flags: Sequence[Mapping[str, str]]) -> str:
    badges = "".join(
        f'<span class="flag {_e(_slug(f["code"]))}" title="{_e(f["message"])}">{_e(f["label"])}</span>'
        for f in flags
    )
    return f'<td class="flags" data-v="{_e(" ".join(f["code"] for f in flags))}">{badges}</td>'


def _ensemble_title(row: Mapping[str, Any]) -> str:
    members = row.get("ensemble_members") or []
    if not members:
        return ' title="no white-box member"'
    if math.isnan(row.get("ensemble", math.nan)):
        return f' title="needs the per-video records of every white-box member: {_e(", ".join(members))}"'
    return f' title="per-video worst case over {_e(", ".join(members))}"'


def _html_text(text: str) -> str:
    """Escaped text with Markdown `code` spans as <code>."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", _e(text))


def render_html(
    columns: list[str],
    rows: list[dict[str, Any]],
    figures: Mapping[str, FigurePlan] | None = None,
    skipped: Sequence[str] = (),
    transfer: Sequence[TransferMatrix] = (),
    threats: Any = None,
) -> str:
    """A static page: the sortable table (inline CSS and JS, no network resources), the pipeline
    threat-model table and the transfer heat maps (when there are such results) and figures."""
    from harness.threat_table import render_threat_html

    figures = figures or {}
    results = [r for row in rows for r in row.get("results", {}).values()]

    def th(
        label: str, sub: str = "", kind: str = "num", cls: str = "", sort: str = "", title: str = ""
    ) -> str:
        classes = " ".join(x for x in (kind == "num" and "num", cls) if x)
        attrs = f' data-type="{kind}"' + (f' class="{classes}"' if classes else "")
        attrs += f' aria-sort="{sort}"' if sort else ""
        attrs += f' title="{_e(title)}"' if title else ""
        sub_html = f'<span class="sub">{_e(sub)}</span>' if sub else ""
        return f'<th scope="col"{attrs}><button type="button">{_e(label)}{sub_html}</button></th>'

    head = [
        th("#", title="rank by worst-case AUROC"),
        th("detector", kind="text"),
        th("dataset", kind="text"),
        th("clean", "AUROC", title="clean AUROC"),
        th(
            "worst case",
            "AUROC",
            sort="descending",
            title="the minimum of the member AUROCs (each attack scored on its own) over the "
            "standard-suite members present",
        ),
        th(
            "ensemble",
            "AUROC",
            title="AutoAttack's per-video worst case over the white-box members: each fake keeps its "
            "lowest attacked score, each real its highest, scored as one AUROC (at most every "
            "white-box member's AUROC); n/a without every white-box member's per-video records",
        ),
        th("mean drop", "clean − attacked", title="clean AUROC minus the mean attacked AUROC"),
        th("flags", kind="text"),
    ]
    for i, c in enumerate(columns):
        attack, strength = column_label(results, c)
        head.append(th(attack, strength, cls="sep" if i == 0 else "", title=c))
    head.append(th("videos", cls="sep"))

    body = []
    for rank, r in enumerate(rows, 1):
        fig = figures.get(_row_id(r))
        meta = r.get("entry") or {}
        meta_text = "; ".join(f"{k}: {v}" for k, v in sorted(meta.items()) if v not in (None, ""))
        name = _e(r["detector"])
        if fig:
            name = f'<a href="#fig-{_e(_slug(_row_id(r)))}">{name}</a>'
        name_cell = f'<td class="name" data-v="{_e(r["detector"])}">{name}'
        name_cell += f'<span class="meta">{_e(meta_text)}</span></td>' if meta_text else "</td>"
        worst_title = f' title="worst member: {_e(r["worst_member"])}"' if r.get("worst_member") else ""
        cells = [
            f'<td class="num" data-v="{rank}">{rank}</td>',
            name_cell,
            f'<td data-v="{_e(r["dataset"])}">{_e(r["dataset"])}</td>',
            _num_cell(r["clean"], r.get("clean_ci")),
            _num_cell(r["worst"], r.get("worst_ci")).replace("<td ", f"<td{worst_title} ", 1),
            _num_cell(r.get("ensemble", math.nan), r.get("ensemble_ci")).replace(
                "<td ", f"<td{_ensemble_title(r)} ", 1
            ),
            _num_cell(r["mean_drop"], r.get("mean_drop_ci"), heat=False, signed=True),
            _flags_cell(r.get("flags", [])),
        ]
        for i, c in enumerate(columns):
            cell = _num_cell(r[c], r["ci"].get(c)) if c in r else '<td class="num na" data-v="">–</td>'
            cells.append(cell.replace('class="num', 'class="sep num', 1) if i == 0 else cell)
        n = r.get("n_videos")
        cells.append(f'<td class="num sep" data-v="{n if isinstance(n, int) else ""}">{_fmt(n)}</td>')
        body.append(f'<tr data-rank="{rank}">' + "".join(cells) + "</tr>")

    legend = "".join(
        f'<dt><span class="flag {code}">{code}</span></dt><dd>{_e(text)}</dd>'
        for code, text in _FLAG_HELP.items()
    )
    legend += '<dt><span class="flag">other</span></dt><dd>recorded by <code>harness submit</code> with the entry</dd>'
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src 'self' file: data:; "
        "style-src 'unsafe-inline'; script-src 'unsafe-inline'; base-uri 'none'; form-action 'none'\">",
        '<link rel="icon" href="data:,">',
        "<title>Deepfake detector robustness leaderboard</title>",
        f"<style>{_CSS}{_TRANSFER_CSS if transfer or threats is not None else ''}</style>",
        "</head>",
        "<body>",
        "<header>",
        "<h1>Deepfake detector robustness leaderboard</h1>",
        f"<p>{_html_text(_NOTE)} Click a column header to sort; hover a flag for details.</p>",
        f'<p class="mute">{_html_text(_DISCLAIMER)}</p>',
        "</header>",
        "<main>",
        f'<p class="mute">{len(rows)} {"entry" if len(rows) == 1 else "entries"}, '
        f"{len(columns)} attack {'column' if len(columns) == 1 else 'columns'}. Generated by "
        "<code>harness leaderboard</code> from the result files; do not edit.</p>",
        '<div class="scroll"><table id="board">',
        "<thead><tr>" + "".join(head) + "</tr></thead>",
        "<tbody>",
        *body,
        "</tbody>",
        "</table>",
    ]
    if not rows:
        parts.append(
            '<p class="empty">No results yet: <code>harness run --suite standard --detector NAME</code> adds a row.</p>'
        )
    parts += ["</div>", '<dl class="legend">' + legend + "</dl>"]
    if skipped:
        parts += ["<h2>Skipped files</h2>", "<ul>", *(f"<li>{_e(s)}</li>" for s in skipped), "</ul>"]
    parts += render_threat_html(threats)
    parts += render_transfer_html(transfer)
    shown = [(r, figures[_row_id(r)]) for r in rows if _row_id(r) in figures]
    if shown:
        parts.append('<h2 id="figures">Figures</h2>')
        parts.append(
            '<p class="mute">Per row: ROC curves clean vs attacked (PGD at 4/255, and the worst-case member), '
            "and AUROC against attack strength for the attacks evaluated at several strengths "
            "(shaded: 95% intervals; dashed: clean AUROC).</p>"
        )
    for r, plan in shown:
        w, h = plan.size_px
        parts.append(
            f'<figure id="fig-{_e(_slug(_row_id(r)))}"><figcaption><b>{_e(r["detector"])}</b> on '
            f'{_e(r["dataset"])}</figcaption><img src="{_e(plan.path)}" width="{w}" height="{h}" '
            f'alt="ROC and AUROC-versus-strength curves of {_e(r["detector"])} on {_e(r["dataset"])}"></figure>'
        )
    parts += ["</main>", f"<script>{_JS}</script>", "</body>", "</html>"]
    return "\n".join(parts) + "\n"


# -- transfer matrices (pure) ---------------------------------------------------------------------
@dataclass(frozen=True)
class TransferMatrix:
    """Source x target attacked AUROC of one (dataset, attack, budget), from transfer results.

    ``cells[(source, target)]``: the target's entry of the source's result (``auroc_adv``,
    ``auroc_adv_ci``, ``auroc_clean``, ``auroc_drop``, ``white_box``, ...); ``clean[target]``:
    the target's clean AUROC and interval (the same videos in every row). Rows: sources sorted
    by name; columns: the targets that are also sources in row order (so the diagonal is the
    white-box one), then the others sorted.
    """

    dataset: str
    attack: str
    budget_tag: str
    label: str  # "pgd ε 4/255"
    sources: tuple[str, ...]
    targets: tuple[str, ...]
    cells: dict[tuple[str, str], dict[str, Any]]
    clean: dict[str, tuple[float, tuple[float, float] | None]]
    n_videos: int | None
    results: dict[str, dict[str, Any]]  # source -> result

    @property
    def key(self) -> str:
        return f"{self.dataset}/{self.attack}@{self.budget_tag}"


def transfer_matrices(results: Sequence[Mapping[str, Any]]) -> list[TransferMatrix]:
    """One :class:`TransferMatrix` per (dataset, attack, budget tag); the latest result of a source wins."""
    groups: dict[tuple[str, str, str], dict[str, Mapping[str, Any]]] = {}
    for r in _order(results):
        key = (str(r["dataset"]), str(r["attack"]), str(r["budget_tag"]))
        groups.setdefault(key, {})[str(r["source"])] = r
    out = []
    for (dataset, attack, tag), by_source in sorted(groups.items()):
        sources = tuple(sorted(by_source))
        present = {t for r in by_source.values() for t in r["targets"]}
        targets = tuple(s for s in sources if s in present) + tuple(sorted(present - set(sources)))
        cells: dict[tuple[str, str], dict[str, Any]] = {}
        clean: dict[str, tuple[float, tuple[float, float] | None]] = {}
        for src in sources:
            for tgt, entry in by_source[src]["targets"].items():
                cells[(src, str(tgt))] = dict(entry)
                if str(tgt) not in clean:
                    clean[str(tgt)] = (_num(entry.get("auroc_clean")), _ci(entry.get("auroc_clean_ci")))
        first = by_source[sources[0]]
        n = first.get("n_videos")
        out.append(
            TransferMatrix(
                dataset=dataset,
                attack=attack,
                budget_tag=tag,
                label=" ".join(x for x in (attack, _strength_label(first)) if x),
                sources=sources,
                targets=targets,
                cells=cells,
                clean=clean,
                n_videos=n if isinstance(n, int) else None,
                results={k: dict(v) for k, v in by_source.items()},
            )
        )
    return out


_TRANSFER_NOTE = (
    "Adversarial examples crafted once on the source detector (rows) at the stored crop resolution, "
    "through a differentiable resize to the source's input size, delivered as 8-bit crops inside the "
    "budget, and scored by each target detector (columns) through the same uint8 resize as clean "
    "crops (`harness transfer`). Cells: video-level AUROC on the attacked videos, [brackets]: 95% "
    "bootstrap interval resampled by video; the diagonal (bold, outlined on the page) is the "
    "white-box number, off-diagonal cells are transfer. The clean row is each target's clean AUROC on "
    "the same videos."
)


def render_transfer_markdown(matrices: Sequence[TransferMatrix]) -> list[str]:
    """The Markdown section of the transfer matrices (no lines without any)."""
    if not matrices:
        return []
    lines = ["", "## Transfer: attacked AUROC, source (rows) x target (columns)", "", _TRANSFER_NOTE]
    for m in matrices:
        n = f", {m.n_videos} videos" if m.n_videos is not None else ""
        lines += ["", f"### {_md(m.label)} on {_md(m.dataset)}{n}", ""]
        lines.append("| source ↓ · target → | " + " | ".join(_md(t) for t in m.targets) + " |")
        lines.append("|---|" + "---|" * len(m.targets))
        clean = [format_ci(*m.clean[t]) if t in m.clean else "" for t in m.targets]
        lines.append("| *clean* | " + " | ".join(clean) + " |")
        for src in m.sources:
            cells = []
            for tgt in m.targets:
                e = m.cells.get((src, tgt))
                if e is None:
                    cells.append("")
                    continue
                text = format_ci(_num(e.get("auroc_adv")), _ci(e.get("auroc_adv_ci")))
                cells.append(f"**{text}**" if e.get("white_box") else text)
            lines.append(f"| {_md(src)} | " + " | ".join(cells) + " |")
    lines += ["", "Per cell with the drop and checkpoints: [transfer.csv](transfer.csv)."]
    return lines


def render_transfer_csv(matrices: Sequence[TransferMatrix]) -> str:
    """One line per (dataset, attack, budget, source, target); empty without transfer results."""
    if not matrices:
        return ""

    def num(v: Any) -> str:
        v = _num(v)
        return "" if math.isnan(v) else f"{v:.4f}"

    def ci(c: Any) -> list[str]:
        c = _ci(c)
        return [num(c[0]), num(c[1])] if c else ["", ""]

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(
        [
            "dataset", "attack", "budget_tag", "source", "target", "white_box",
            "auroc_clean", "auroc_clean_lo", "auroc_clean_hi", "auroc_adv", "auroc_adv_lo", "auroc_adv_hi",
            "auroc_drop", "auroc_drop_lo", "auroc_drop_hi", "n_videos",
            "source_checkpoint_sha256", "target_checkpoint_sha256", "store_key",
        ]
    )  # fmt: skip
    for m in matrices:
        for src in m.sources:
            r = m.results[src]
            for tgt in m.targets:
                e = m.cells.get((src, tgt))
                if e is None:
                    continue
                w.writerow(
                    [
                        m.dataset, m.attack, m.budget_tag, src, tgt, "true" if e.get("white_box") else "false",
                        num(e.get("auroc_clean")), *ci(e.get("auroc_clean_ci")),
                        num(e.get("auroc_adv")), *ci(e.get("auroc_adv_ci")),
                        num(e.get("auroc_drop")), *ci(e.get("auroc_drop_ci")),
                        _fmt(e.get("n_videos")),
                        str(r.get("source_checkpoint_sha256") or "")[:12],
                        str(e.get("checkpoint_sha256") or "")[:12],
                        str((r.get("store") or {}).get("key") or "")[:16],
                    ]
                )  # fmt: skip
    return buf.getvalue()


def _heat_full(v: float) -> str:
    """Background of a transfer cell: green at 1, red at 0.5, darker red down to 0 (inverted)."""
    if math.isnan(v):
        return ""
    if v >= 0.5:
        return _heat(v)
    light = round(90 - 20 * (0.5 - v) / 0.5)
    return f' style="background:hsl(0 65% {light}%)"'


_TRANSFER_CSS = """
table.heat{width:auto;min-width:0}
table.heat td{text-align:center;min-width:92px}
table.heat tbody th{text-align:left;background:var(--head);font-weight:600}
table.heat td.diag{outline:2px solid var(--fg);outline-offset:-3px;font-weight:600}
table.heat tr.clean td,table.heat tr.clean th{font-style:italic;border-bottom:2px solid var(--line)}
"""


def render_transfer_html(matrices: Sequence[TransferMatrix]) -> list[str]:
    """The page's transfer section: one heat-map table per matrix (no lines without any)."""
    if not matrices:
        return []
    parts = [
        '<h2 id="transfer">Transfer: attacked AUROC, source (rows) × target (columns)</h2>',
        f"<p>{_html_text(_TRANSFER_NOTE)} Colour: green at 1, red at 0.5 (chance), darker red below "
        '(the attack inverts the ranking). Per cell with the drop: <a href="transfer.csv">transfer.csv</a>.</p>',
    ]
    for m in matrices:
        n = f", {m.n_videos} videos" if m.n_videos is not None else ""
        parts.append(f"<h3>{_e(m.label)} on {_e(m.dataset)}{_e(n)}</h3>")
        head = '<th scope="col">source ↓ · target →</th>' + "".join(
            f'<th scope="col">{_e(t)}</th>' for t in m.targets
        )
        rows = []
        clean_cells = []
        for t in m.targets:
            v, c = m.clean.get(t, (math.nan, None))
            clean_cells.append(_heat_cell(v, c, f"{t} on clean videos: AUROC {format_ci(v, c)}"))
        rows.append('<tr class="clean"><th scope="row">clean</th>' + "".join(clean_cells) + "</tr>")
        for src in m.sources:
            cells = []
            for tgt in m.targets:
                e = m.cells.get((src, tgt))
                if e is None:
                    cells.append('<td class="na">–</td>')
                    continue
                v, c = _num(e.get("auroc_adv")), _ci(e.get("auroc_adv_ci"))
                kind = "white-box" if e.get("white_box") else "transfer"
                title = (
                    f"crafted on {src}, scored by {tgt} ({kind}): attacked AUROC {format_ci(v, c)}, clean "
                    f"{format_ci(_num(e.get('auroc_clean')), _ci(e.get('auroc_clean_ci')))}, drop "
                    f"{format_ci(_num(e.get('auroc_drop')), _ci(e.get('auroc_drop_ci')))}"
                )
                cells.append(_heat_cell(v, c, title, diag=bool(e.get("white_box"))))
            rows.append(f'<tr><th scope="row">{_e(src)}</th>' + "".join(cells) + "</tr>")
        slug = _slug(m.key)
        parts += [
            f'<div class="scroll"><table class="heat" id="transfer-{_e(slug)}">',
            f"<thead><tr>{head}</tr></thead>",
            "<tbody>",
            *rows,
            "</tbody>",
            "</table></div>",
        ]
    return parts


def _heat_cell(v: float, ci: Sequence[float] | None, title: str, diag: bool = False) -> str:
    cls = "num diag" if diag else "num"
    if math.isnan(v):
        return f'<td class="{cls} na" title="{_e(title)}">n/a</td>'
    ci_html = f'<span class="ci">[{ci[0]:.2f}, {ci[1]:.2f}]</span>' if ci else ""
    return f'<td class="{cls}" data-v="{v:.6f}" title="{_e(title)}"{_heat_full(v)}>{v:.3f}{ci_html}</td>'


# -- everything together ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Rendered:
    """The leaderboard texts of a results folder, and the figures the page refers to."""

    markdown: str
    csv: str
    html: str
    figures: dict[str, FigurePlan]  # row id -> plan
    records: dict[str, VideoRecords]
    transfer_csv: str = ""  # transfer.csv ("" without transfer results: no file)
    threats_csv: str = ""  # threats.csv ("" without pipeline results: no file)


def render(results_dir: Path, standard: Sequence[str] | None = None) -> Rendered:
    """Markdown, CSV and HTML of every result under ``results_dir`` (deterministic: same files,
    same texts), plus the figure plans; nothing is written."""
    errors: list[str] = []
    results = load_results(results_dir, errors)
    entries = load_entries(results_dir, errors)
    matrices = transfer_matrices(load_transfer(results_dir, errors))
    from harness.threat_table import render_threat_csv, threat_table

    records = load_records(results, errors)
    threats = threat_table(results)
    # the pipeline threat model has its own table: other inputs, not comparable column by column
    results = [r for r in results if r.get("threat", "crops") == "crops"]
    columns, rows = leaderboard_rows(results, entries, standard, records)
    plans = figure_plans(rows, records)
    figure_paths = {k: p.path for k, p in plans.items()}
    return Rendered(
        markdown=render_markdown(columns, rows, figure_paths, errors, matrices, threats),
        csv=render_csv(columns, rows),
        html=render_html(columns, rows, plans, errors, matrices, threats),
        figures=plans,
        records=records,
        transfer_csv=render_transfer_csv(matrices),
        threats_csv=render_threat_csv(threats),
    )


def _write(path: Path, text: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(text.encode() if isinstance(text, str) else text)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; the page and tables are meant to be read
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _current(path: Path, key: str) -> bool:
    try:
        return f"leaderboard-figure {key}".encode() in path.read_bytes()
    except OSError:
        return False


def write_leaderboards(results_dir: Path, leaderboard_dir: Path) -> list[Path]:
    """Regenerate ``leaderboard.md``, ``leaderboard.csv``, ``index.html`` and ``figures/*.png``
    from every result in ``results_dir``; figures no longer referred to are removed.

    Serialized by an exclusive lock on ``leaderboard_dir/.lock``: two runs finishing at once
    regenerate one after the other, and since each run writes its result before it takes the
    lock, the last regeneration sees every result (none is lost from the tables).
    """
    import fcntl

    leaderboard_dir = Path(leaderboard_dir)
    leaderboard_dir.mkdir(parents=True, exist_ok=True)
    with open(leaderboard_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _write_leaderboards(Path(results_dir), leaderboard_dir)


def _write_leaderboards(results_dir: Path, leaderboard_dir: Path) -> list[Path]:
    out = render(results_dir)
    paths = []
    for name, text in (
        ("leaderboard.md", out.markdown),
        ("leaderboard.csv", out.csv),
        ("index.html", out.html),
    ):
        _write(leaderboard_dir / name, text)
        paths.append(leaderboard_dir / name)
    if out.threats_csv:
        _write(leaderboard_dir / "threats.csv", out.threats_csv)
        paths.append(leaderboard_dir / "threats.csv")
    else:
        (leaderboard_dir / "threats.csv").unlink(missing_ok=True)
    if out.transfer_csv:
        _write(leaderboard_dir / "transfer.csv", out.transfer_csv)
        paths.append(leaderboard_dir / "transfer.csv")
    else:  # no transfer results (any more): no stale matrix
        (leaderboard_dir / "transfer.csv").unlink(missing_ok=True)
    keep = set()
    for plan in sorted(out.figures.values(), key=lambda p: p.path):
        path = leaderboard_dir / plan.path
        if not _current(path, figure_key(plan, out.records)):  # unchanged rows are not redrawn
            _write(path, draw_figure(plan, out.records))
        keep.add(path.name)
        paths.append(path)
    fig_dir = leaderboard_dir / FIGURES_DIR
    if fig_dir.is_dir():
        for stale in sorted(fig_dir.glob("*.png")):
            if stale.name not in keep:
                stale.unlink()
    return paths


__all__ = [
    "CurvePanel",
    "FigurePlan",
    "Rendered",
    "TransferMatrix",
    "VideoRecords",
    "column_key",
    "column_label",
    "draw_figure",
    "ensemble_scores",
    "figure_key",
    "figure_plan",
    "figure_plans",
    "format_ci",
    "is_white_box",
    "leaderboard_rows",
    "load_entries",
    "load_records",
    "load_results",
    "load_transfer",
    "masking_flags",
    "records_path",
    "sanity_flags",
    "render",
    "render_csv",
    "render_html",
    "render_markdown",
    "render_transfer_csv",
    "render_transfer_html",
    "render_transfer_markdown",
    "transfer_matrices",
    "standard_columns",
    "write_leaderboards",
]
