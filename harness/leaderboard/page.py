"""The leaderboard page (``index.html``): view models of the tables, rendered by the Jinja2
template ``templates/index.html.j2`` with the CSS and JavaScript of ``static/`` inlined.

The page is one self-contained file (no network resources: it is opened from disk), sortable by
any column, with the pipeline threat-model table, the transfer heat maps and the figures.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import jinja2
from markupsafe import Markup, escape

from harness.leaderboard.budgets import budget_columns, budget_label, budget_title
from harness.leaderboard.cells import Cell, missing_cell, number_cell
from harness.leaderboard.figures import FigurePlan
from harness.leaderboard.flags import FLAG_HELP
from harness.leaderboard.text import DISCLAIMER, NOTE, column_label, fmt, row_id, slug
from harness.leaderboard.threats import THREAT_NOTE, ThreatTable, threat_view
from harness.leaderboard.transfer import TRANSFER_NOTE, TransferMatrix, matrix_view

_PACKAGE = "harness.leaderboard"


def _code_spans(text: str) -> Markup:
    """Escaped text with Markdown `code` spans as ``<code>``."""
    return Markup(re.sub(r"`([^`]+)`", r"<code>\1</code>", str(escape(text))))


@functools.cache
def _static(name: str) -> Markup:
    """A file of ``static/``, inlined into the page as it is (less its final newline)."""
    text = resources.files(_PACKAGE).joinpath("static", name).read_text(encoding="utf-8")
    return Markup(text.rstrip("\n"))


@functools.cache
def environment() -> jinja2.Environment:
    """The page's templates: autoescaped, ``static()`` and the ``code``/``slug`` filters."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader(_PACKAGE, "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    env.globals["static"] = _static
    env.filters["code"] = _code_spans
    env.filters["slug"] = slug
    return env


@dataclass(frozen=True)
class Header:
    """A sortable column header: label, second line, ``num``/``text`` sorting and tooltip."""

    label: str
    sub: str = ""
    kind: str = "num"
    sep: bool = False
    sort: str = ""
    title: str = ""

    @property
    def cls(self) -> str:
        return " ".join(x for x in ("num" if self.kind == "num" else "", "sep" if self.sep else "") if x)


@dataclass(frozen=True)
class BoardRow:
    """A row of the main table: rank, name (linked to its figure), entry details, cells, flags."""

    rank: int
    detector: str
    dataset: str
    anchor: str  # the id of its figure ("" without one)
    meta: str
    summary: tuple[Cell, ...]  # clean, worst case, ensemble, mean drop
    flags: list[dict[str, str]]
    members: tuple[Cell, ...]  # one per column, then the ensemble per L-inf budget
    videos: Cell


@dataclass(frozen=True)
class FigureView:
    anchor: str
    detector: str
    dataset: str
    src: str
    width: int
    height: int


_HEADERS = (
    Header("#", title="rank by worst-case AUROC"),
    Header("detector", kind="text"),
    Header("dataset", kind="text"),
    Header("clean", "AUROC", title="clean AUROC"),
    Header(
        "worst case",
        "AUROC",
        sort="descending",
        title="the minimum of the member AUROCs (each attack scored on its own) over the "
        "standard-suite members present",
    ),
    Header(
        "ensemble",
        "AUROC",
        title="AutoAttack's per-video worst case over the white-box members: each fake keeps its "
        "lowest attacked score, each real its highest, scored as one AUROC (at most every "
        "white-box member's AUROC); n/a without every white-box member's per-video records",
    ),
    Header("mean drop", "clean − attacked", title="clean AUROC minus the mean attacked AUROC"),
    Header("flags", kind="text"),
)


def _ensemble_title(row: Mapping[str, Any]) -> str:
    members = row.get("ensemble_members") or []
    if not members:
        return "no white-box member"
    if math.isnan(row.get("ensemble", math.nan)):
        return f"needs the per-video records of every white-box member: {', '.join(members)}"
    return f"per-video worst case over {', '.join(members)}"


def _budget_cells(r: Mapping[str, Any], budgets: Sequence[str]) -> tuple[Cell, ...]:
    """The row's ensemble per L-inf budget (``–`` without a white-box member at a budget)."""
    ens = r.get("budget_ensembles") or {}
    return tuple(
        number_cell(ens[b]["value"], ens[b]["ci"], title=budget_title(b, ens[b]), sep=i == 0)
        if b in ens
        else missing_cell(sep=i == 0)
        for i, b in enumerate(budgets)
    )


def _board_row(
    rank: int, r: Mapping[str, Any], columns: Sequence[str], anchor: str, budgets: Sequence[str] = ()
) -> BoardRow:
    meta = r.get("entry") or {}
    worst = r.get("worst_member")
    summary = (
        number_cell(r["clean"], r.get("clean_ci")),
        number_cell(r["worst"], r.get("worst_ci"), title=f"worst member: {worst}" if worst else ""),
        number_cell(r.get("ensemble", math.nan), r.get("ensemble_ci"), title=_ensemble_title(r)),
        number_cell(r["mean_drop"], r.get("mean_drop_ci"), colour=False, signed=True),
    )
    members = tuple(
        number_cell(r[c], r["ci"].get(c), sep=i == 0) if c in r else missing_cell(sep=i == 0)
        for i, c in enumerate(columns)
    ) + _budget_cells(r, budgets)
    n = r.get("n_videos")
    return BoardRow(
        rank=rank,
        detector=r["detector"],
        dataset=r["dataset"],
        anchor=anchor,
        meta="; ".join(f"{k}: {v}" for k, v in sorted(meta.items()) if v not in (None, "")),
        summary=summary,
        flags=list(r.get("flags", [])),
        members=members,
        videos=Cell(fmt(n), "num sep", str(n) if isinstance(n, int) else ""),
    )


def render_html(
    columns: list[str],
    rows: list[dict[str, Any]],
    figures: Mapping[str, FigurePlan] | None = None,
    skipped: Sequence[str] = (),
    transfer: Sequence[TransferMatrix] = (),
    threats: ThreatTable | None = None,
    certified: Mapping[str, Any] | None = None,
) -> str:
    """A static page: the sortable table (inline CSS and JS, no network resources), the pipeline
    threat-model table, the transfer heat maps and the certified-AUROC section (``certified``: its
    view, :func:`harness.leaderboard.certified.certified_view`) when there are such results, and
    figures."""
    figures = figures or {}
    results = [r for row in rows for r in row.get("results", {}).values()]
    headers = list(_HEADERS)
    for i, c in enumerate(columns):
        attack, strength = column_label(results, c)
        headers.append(Header(attack, strength, sep=i == 0, title=c))
    budgets = budget_columns(rows)
    for i, b in enumerate(budgets):
        title = (
            f"{b}: the per-video worst case over the white-box members at {budget_label(b)} (L-inf), "
            "as RobustBench reports at one eps; n/a without every such member's per-video records"
        )
        headers.append(Header("ensemble", budget_label(b), sep=i == 0, title=title))
    headers.append(Header("videos", sep=True))
    anchors = {row_id(r): f"fig-{slug(row_id(r))}" for r in rows if row_id(r) in figures}
    board = [
        _board_row(rank, r, columns, anchors.get(row_id(r), ""), budgets) for rank, r in enumerate(rows, 1)
    ]
    shown = [
        FigureView(anchors[row_id(r)], r["detector"], r["dataset"], plan.path, *plan.size_px)
        for r in rows
        if (plan := figures.get(row_id(r))) is not None
    ]
    return (
        environment()
        .get_template("index.html.j2")
        .render(
            note=NOTE,
            disclaimer=DISCLAIMER,
            n_columns=len(columns),
            headers=headers,
            rows=board,
            flag_help=FLAG_HELP,
            skipped=list(skipped),
            threats=_threat_context(threats),
            matrices=[matrix_view(m) for m in transfer],
            transfer_note=TRANSFER_NOTE,
            figures=shown,
            certified=certified,
            heat=bool(transfer) or threats is not None or certified is not None,
        )
    )


def _threat_context(table: ThreatTable | None) -> dict[str, Any] | None:
    if table is None:
        return None
    return {"note": THREAT_NOTE, "columns": table.columns, "rows": threat_view(table)}


def _macros() -> Any:
    return environment().get_template("macros.html.j2").module


def render_threat_html(table: ThreatTable | None) -> list[str]:
    """The page's threat-model section, line by line (none without a pipeline result)."""
    context = _threat_context(table)
    return str(_macros().threat_section(context)).splitlines() if context else []


def render_transfer_html(matrices: Sequence[TransferMatrix]) -> list[str]:
    """The page's transfer section, line by line: one heat map per matrix (none without any)."""
    if not matrices:
        return []
    views = [matrix_view(m) for m in matrices]
    return str(_macros().transfer_section(views, TRANSFER_NOTE)).splitlines()
