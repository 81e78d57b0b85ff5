"""The leaderboard's "threats in the wild" table: the pipeline threat model beside crop-level PGD.

One row per detector (and dataset) with pipeline results (``threat: pipeline``, e.g. the
``realistic`` suite). Columns, left to right: the clean AUROC; the unattacked videos through each
codec alone (``auroc_codec`` of the pipeline results at that CRF: re-encoding and face detection
without an attack); crop-level PGD (the default threat: the face crops the detector sees, no
codec) at the pipeline members' budgets; then every pipeline member, by attack, CRF and budget.
Each pipeline cell also carries the faces lost and the delivered video's PSNR. Crop-level cells
come from the row's results with the same checkpoint as its pipeline results only (anything else
would compare two models). Pure functions: results in, rows and text out.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.leaderboard.cells import ABSENT, Cell, heat_cell
from harness.leaderboard.flags import sanity_flags
from harness.leaderboard.rows import value_or_nan
from harness.leaderboard.text import column_label, format_ci, md
from harness.results import interval, number, result_key

ATTACK_ORDER = ("pgd", "pgd_eot")

THREAT_NOTE = (
    "Pipeline columns: the attack perturbs the full video frames within the budget (at the frames "
    "the defender samples), the video is H.264 re-encoded at the CRF, faces are detected again, "
    "cropped and scored: the attacked AUROC a defender would see. 'alone': the unattacked videos "
    "through the same codec and face detection. '(crops)': the attack on the face crops the "
    "detector sees, with no codec (the usual threat model), same checkpoint. Budgets are in the "
    "pixels the attack changes: full frames for pipeline columns, the detector's input for crops."
)


@dataclass
class ThreatColumn:
    key: str  # "clean", "codec@crf23", or a member key (``pgd@eps4of255+pipeline-crf23``)
    label: str
    kind: str  # clean | codec | crops | pipeline


@dataclass
class ThreatRow:
    detector: str
    dataset: str
    checkpoint_sha256: str
    n_videos: int | None
    cells: dict[str, tuple[float, tuple[float, float] | None, str]] = field(
        default_factory=dict
    )  # value, CI, note
    flags: list[dict[str, str]] = field(default_factory=list)


@dataclass
class ThreatTable:
    columns: list[ThreatColumn]
    rows: list[ThreatRow]


def _crf(result: Mapping[str, Any]) -> Any:
    return (result.get("threat_config") or {}).get("crf")


def _crf_label(crf: Any) -> str:
    return "lossless" if crf == "lossless" else f"CRF {crf}"


def _crf_order(crf: Any) -> float:
    return -1.0 if crf == "lossless" else float(crf)


def _eps_label(result: Mapping[str, Any]) -> str:
    attack, strength = column_label([result], result_key(result))
    return f"{attack} {strength}"


def _budget(result: Mapping[str, Any]) -> float | None:
    """The budget rounded for matching (``None`` without one)."""
    b = number(result.get("budget"))
    return None if b is None else round(b, 9)


def _plain_crop_pgd(result: Mapping[str, Any]) -> bool:
    return (
        result.get("attack") == "pgd"
        and result.get("threat", "crops") == "crops"
        and not result.get("pre")
        and not result.get("post")
        and result.get("scope", "sample") == "sample"
        and result.get("norm") == "linf"
    )


def _cell(m: Mapping[str, Any], name: str, note: str) -> tuple[float, tuple[float, float] | None, str]:
    return value_or_nan(m.get(name)), interval(m.get(f"{name}_ci")), note


def _pipeline_note(m: Mapping[str, Any]) -> str:
    """``faces lost 1/256, PSNR 36.0 dB``: what the delivered videos lost."""
    lost, sampled = m.get("faces_lost"), m.get("faces_sampled")
    psnr = m.get("psnr_video_mean")
    parts = (
        f"faces lost {lost}/{sampled}" if sampled else "",
        f"PSNR {psnr:.1f} dB" if isinstance(psnr, (int, float)) and math.isfinite(psnr) else "",
    )
    return ", ".join(part for part in parts if part)


def threat_table(results: Sequence[Mapping[str, Any]]) -> ThreatTable | None:
    """The table of every row with pipeline results (``None`` when there are none)."""
    pipeline = [r for r in results if r.get("threat") == "pipeline" and isinstance(r.get("metrics"), Mapping)]
    if not pipeline:
        return None
    by_row: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for r in pipeline:
        by_row.setdefault((str(r["detector"]), str(r["dataset"])), []).append(r)
    columns: dict[str, ThreatColumn] = {"clean": ThreatColumn("clean", "clean", "clean")}
    codec_cols: dict[str, tuple[Any, ThreatColumn]] = {}
    crop_cols: dict[str, tuple[Any, ThreatColumn]] = {}
    pipe_cols: dict[str, tuple[Any, ThreatColumn]] = {}
    rows = []
    for (detector, dataset), mine in sorted(by_row.items()):
        latest = max(mine, key=lambda r: str(r.get("created", "")))
        sha = str(latest.get("checkpoint_sha256") or "")
        mine = [r for r in mine if str(r.get("checkpoint_sha256") or "") == sha]
        budgets = {_budget(r) for r in mine} - {None}
        crops = [
            r
            for r in results
            if str(r.get("detector")) == detector
            and str(r.get("dataset")) == dataset
            and str(r.get("checkpoint_sha256") or "") == sha
            and _plain_crop_pgd(r)
            and _budget(r) in budgets
            and isinstance(r.get("metrics"), Mapping)
        ]
        m0 = latest["metrics"]
        row = ThreatRow(detector, dataset, sha[:12], m0.get("n_videos"))
        row.cells["clean"] = _cell(m0, "auroc_clean", "")
        for r in mine:
            crf = _crf(r)
            key = f"codec@{crf}"
            if key not in row.cells:
                row.cells[key] = _cell(r["metrics"], "auroc_codec", "no attack")
                codec_cols.setdefault(
                    key, (_crf_order(crf), ThreatColumn(key, f"H.264 {_crf_label(crf)} alone", "codec"))
                )
        for r in crops:
            key = result_key(r)
            row.cells[key] = _cell(r["metrics"], "auroc_adv", "crop-level")
            label = f"{_eps_label(r)} (crops)"
            crop_cols.setdefault(key, (value_or_nan(r.get("budget")), ThreatColumn(key, label, "crops")))
        for r in mine:
            key = result_key(r)
            row.cells[key] = _cell(r["metrics"], "auroc_adv", _pipeline_note(r["metrics"]))
            attack = str(r["attack"])
            order = (
                ATTACK_ORDER.index(attack) if attack in ATTACK_ORDER else len(ATTACK_ORDER),
                attack,
                _crf_order(_crf(r)),
                r.get("scope", "sample"),
                value_or_nan(r.get("budget")),
            )
            label = f"{_eps_label(r)}, {_crf_label(_crf(r))}"
            pipe_cols.setdefault(key, (order, ThreatColumn(key, label, "pipeline")))
        row.flags = sanity_flags([*mine, *crops])
        rows.append(row)
    for group in (codec_cols, crop_cols, pipe_cols):
        for _, col in sorted(group.values(), key=lambda item: (item[0], item[1].key)):
            columns[col.key] = col
    return ThreatTable(list(columns.values()), rows)


def render_threat_markdown(table: ThreatTable | None) -> list[str]:
    """The Markdown section (no lines when there is no pipeline result)."""
    if table is None:
        return []
    lines = [
        "## Threats in the wild: the pipeline threat model",
        "",
        THREAT_NOTE + " Each pipeline cell: AUROC [95% CI]; faces lost and PSNR of the delivered video.",
        "",
        "| detector | dataset | " + " | ".join(md(c.label) for c in table.columns) + " | flags |",
        "|" + "---|" * (len(table.columns) + 3),
    ]
    for row in table.rows:
        cells = []
        for col in table.columns:
            if col.key not in row.cells:
                cells.append("–")
                continue
            v, ci, note = row.cells[col.key]
            text = format_ci(v, ci)
            cells.append(f"{text}<br>{md(note)}" if col.kind == "pipeline" and note else text)
        flags = ", ".join(f.get("label") or f["code"] for f in row.flags)
        lines.append(f"| {md(row.detector)} | {md(row.dataset)} | " + " | ".join(cells) + f" | {md(flags)} |")
    return [*lines, ""]


def render_threat_csv(table: ThreatTable | None) -> str:
    """``threats.csv``: one line per (row, column) cell with its interval and note."""
    if table is None:
        return ""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(
        [
            "detector",
            "dataset",
            "column",
            "kind",
            "auroc",
            "auroc_lo",
            "auroc_hi",
            "note",
            "checkpoint_sha256",
        ]
    )
    for row in table.rows:
        for col in table.columns:
            if col.key not in row.cells:
                continue
            v, ci, note = row.cells[col.key]
            lo, hi = ci if ci else ("", "")
            w.writerow(
                [
                    row.detector,
                    row.dataset,
                    col.key,
                    col.kind,
                    f"{v:.6f}",
                    lo,
                    hi,
                    note,
                    row.checkpoint_sha256,
                ]
            )
    return out.getvalue()


@dataclass(frozen=True)
class ThreatRowView:
    """A row of the threat table as the page shows it."""

    detector: str
    dataset: str
    cells: tuple[Cell, ...]
    flags: list[dict[str, str]]


def threat_view(table: ThreatTable) -> list[ThreatRowView]:
    """The page's rows of ``table``: heat-coloured cells, faces lost and PSNR in the tooltips."""
    out = []
    for row in table.rows:
        cells = []
        for col in table.columns:
            if col.key not in row.cells:
                cells.append(ABSENT)
                continue
            v, ci, note = row.cells[col.key]
            title = f"{row.detector}, {col.label}: AUROC {format_ci(v, ci)}" + (f"; {note}" if note else "")
            cells.append(heat_cell(v, ci, title))
        out.append(ThreatRowView(row.detector, row.dataset, tuple(cells), row.flags))
    return out
