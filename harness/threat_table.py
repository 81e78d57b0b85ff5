"""The leaderboard's "threats in the wild" table: the pipeline threat model beside crop-level PGD.

One row per detector (and dataset) with pipeline results (``threat: pipeline``, e.g. the
``realistic`` suite). Columns, left to right: the clean AUROC; the unattacked videos through each
codec alone (``auroc_codec`` of the pipeline results at that CRF: re-encoding and face detection
without an attack); crop-level PGD (the default threat: the face crops the detector sees, no
codec) at the pipeline members' budgets; then every pipeline member, by attack, CRF and budget. Each pipeline
cell also carries the faces lost and the delivered video's PSNR. Crop-level cells come from the
row's results with the same checkpoint as its pipeline results only (anything else would compare
two models). Pure functions: results in, rows and text out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

ATTACK_ORDER = ("pgd", "pgd_eot")


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
    cells: dict[str, tuple[float, list[float] | None, str]] = field(default_factory=dict)  # value, CI, note
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
    from harness.leaderboard import column_label

    attack, strength = column_label([result], f"{result['attack']}@{result['budget_tag']}")
    return f"{attack} {strength}"


def _plain_crop_pgd(result: Mapping[str, Any]) -> bool:
    return (
        result.get("attack") == "pgd"
        and result.get("threat", "crops") == "crops"
        and not result.get("pre")
        and not result.get("post")
        and result.get("scope", "sample") == "sample"
        and result.get("norm") == "linf"
    )


def threat_table(results: Sequence[Mapping[str, Any]]) -> ThreatTable | None:
    """The table of every row with pipeline results (``None`` when there are none)."""
    from harness.leaderboard import _ci, _num, sanity_flags

    pipeline = [r for r in results if r.get("threat") == "pipeline" and isinstance(r.get("metrics"), Mapping)]
    if not pipeline:
        return None
    by_row: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for r in pipeline:
        by_row.setdefault((str(r["detector"]), str(r["dataset"])), []).append(r)
    columns: dict[str, ThreatColumn] = {"clean": ThreatColumn("clean", "clean", "clean")}
    codec_cols: dict[str, tuple[float, ThreatColumn]] = {}
    crop_cols: dict[str, tuple[float, ThreatColumn]] = {}
    pipe_cols: dict[str, tuple[tuple[Any, ...], ThreatColumn]] = {}
    rows = []
    for (detector, dataset), mine in sorted(by_row.items()):
        latest = max(mine, key=lambda r: str(r.get("created", "")))
        sha = str(latest.get("checkpoint_sha256") or "")
        mine = [r for r in mine if str(r.get("checkpoint_sha256") or "") == sha]
        budgets = {round(_num(r.get("budget")), 9) for r in mine}
        crops = [
            r
            for r in results
            if str(r.get("detector")) == detector
            and str(r.get("dataset")) == dataset
            and str(r.get("checkpoint_sha256") or "") == sha
            and _plain_crop_pgd(r)
            and round(_num(r.get("budget")), 9) in budgets
            and isinstance(r.get("metrics"), Mapping)
        ]
        m0 = latest["metrics"]
        row = ThreatRow(detector, dataset, sha[:12], m0.get("n_videos"))
        row.cells["clean"] = (_num(m0.get("auroc_clean")), _ci(m0.get("auroc_clean_ci")), "")
        for r in mine:
            crf = _crf(r)
            key = f"codec@{crf}"
            if key not in row.cells:
                m = r["metrics"]
                row.cells[key] = (_num(m.get("auroc_codec")), _ci(m.get("auroc_codec_ci")), "no attack")
                codec_cols.setdefault(
                    key, (_crf_order(crf), ThreatColumn(key, f"H.264 {_crf_label(crf)} alone", "codec"))
                )
        for r in crops:
            key = f"{r['attack']}@{r['budget_tag']}"
            m = r["metrics"]
            row.cells[key] = (_num(m.get("auroc_adv")), _ci(m.get("auroc_adv_ci")), "crop-level")
            crop_cols.setdefault(
                key, (_num(r.get("budget")), ThreatColumn(key, f"{_eps_label(r)} (crops)", "crops"))
            )
        for r in mine:
            key = f"{r['attack']}@{r['budget_tag']}"
            m = r["metrics"]
            lost, sampled = m.get("faces_lost"), m.get("faces_sampled")
            psnr = m.get("psnr_video_mean")
            note = ", ".join(
                part
                for part in (
                    f"faces lost {lost}/{sampled}" if sampled else "",
                    f"PSNR {psnr:.1f} dB" if isinstance(psnr, (int, float)) and math.isfinite(psnr) else "",
                )
                if part
            )
            row.cells[key] = (_num(m.get("auroc_adv")), _ci(m.get("auroc_adv_ci")), note)
            attack = str(r["attack"])
            order = (
                ATTACK_ORDER.index(attack) if attack in ATTACK_ORDER else len(ATTACK_ORDER),
                attack,
                _crf_order(_crf(r)),
                r.get("scope", "sample"),
                _num(r.get("budget")),
            )
            label = f"{_eps_label(r)}, {_crf_label(_crf(r))}"
            pipe_cols.setdefault(key, (order, ThreatColumn(key, label, "pipeline")))
        row.flags = sanity_flags([*mine, *crops])
        rows.append(row)
    for group in (codec_cols, crop_cols, pipe_cols):
        for _, col in sorted(group.values(), key=lambda item: (item[0], item[1].key)):
            columns[col.key] = col
    return ThreatTable(list(columns.values()), rows)


NOTE = (
    "Pipeline columns: the attack perturbs the full video frames within the budget (at the frames "
    "the defender samples), the video is H.264 re-encoded at the CRF, faces are detected again, "
    "cropped and scored: the attacked AUROC a defender would see. 'alone': the unattacked videos "
    "through the same codec and face detection. '(crops)': the attack on the face crops the "
    "detector sees, with no codec (the usual threat model), same checkpoint. Budgets are in the "
    "pixels the attack changes: full frames for pipeline columns, the detector's input for crops."
)


def render_threat_markdown(table: ThreatTable | None) -> list[str]:
    """The Markdown section (no lines when there is no pipeline result)."""
    from harness.leaderboard import _md, format_ci

    if table is None:
        return []
    lines = [
        "## Threats in the wild: the pipeline threat model",
        "",
        NOTE + " Each pipeline cell: AUROC [95% CI]; faces lost and PSNR of the delivered video.",
        "",
        "| detector | dataset | " + " | ".join(_md(c.label) for c in table.columns) + " | flags |",
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
            cells.append(f"{text}<br>{_md(note)}" if col.kind == "pipeline" and note else text)
        flags = ", ".join(f.get("label") or f["code"] for f in row.flags)
        lines.append(
            f"| {_md(row.detector)} | {_md(row.dataset)} | " + " | ".join(cells) + f" | {_md(flags)} |"
        )
    return [*lines, ""]


def render_threat_html(table: ThreatTable | None) -> list[str]:
    """The page's section: a heat-coloured table (no lines when there is no pipeline result)."""
    from harness.leaderboard import _e, _flags_cell, _heat_cell, _html_text, format_ci

    if table is None:
        return []
    head = '<th scope="col">detector</th><th scope="col">dataset</th>' + "".join(
        f'<th scope="col" class="{_e(c.kind)}">{_e(c.label)}</th>' for c in table.columns
    )
    body = []
    for row in table.rows:
        cells = []
        for col in table.columns:
            if col.key not in row.cells:
                cells.append('<td class="na">–</td>')
                continue
            v, ci, note = row.cells[col.key]
            title = f"{row.detector}, {col.label}: AUROC {format_ci(v, ci)}" + (f"; {note}" if note else "")
            cells.append(_heat_cell(v, ci, title))
        body.append(
            f'<tr><th scope="row">{_e(row.detector)}</th><td>{_e(row.dataset)}</td>'
            + "".join(cells)
            + _flags_cell(row.flags)
            + "</tr>"
        )
    return [
        '<h2 id="threats">Threats in the wild: the pipeline threat model</h2>',
        f"<p>{_html_text(NOTE)} Hover a cell for faces lost and PSNR of the delivered videos.</p>",
        '<div class="scroll"><table class="heat" id="threat-table">',
        f'<thead><tr>{head}<th scope="col">flags</th></tr></thead>',
        "<tbody>" + "".join(body) + "</tbody>",
        "</table></div>",
    ]


def render_threat_csv(table: ThreatTable | None) -> str:
    """``threats.csv``: one line per (row, column) cell with its interval and note."""
    import csv
    import io

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


__all__ = ["ThreatTable", "render_threat_csv", "render_threat_html", "render_threat_markdown", "threat_table"]
