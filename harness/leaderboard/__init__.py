"""Leaderboard tables and page generated from the result JSON files (never edited by hand).

Rows: detector x dataset. Columns: clean AUROC, AUROC under each suite member present (the
``standard`` suite's members first, in suite order, then any others, sorted), the worst case (the
lowest member AUROC) over the standard members present, the ``ensemble`` (AutoAttack's per-video
worst case over the white-box members among them, scored as one AUROC), the same ensemble per
L-inf budget (``ensemble@eps4of255`` ...) and the mean drop (clean minus mean attacked), each with
its 95% bootstrap interval. Rows are sorted by worst-case AUROC, best first, and carry flags:
those a ``harness submit`` entry recorded, and those derived from the results
(``gradient-masking``, the sanity flags, ``not-converged``, ``incomplete``, ``mixed-checkpoints``).

:func:`render` turns a results folder into the Markdown, CSV and HTML texts and the figure plans;
:func:`write_leaderboards` writes them and draws the figures. Everything is a function of the
result files alone (no timestamps, everything sorted), so a test can check that the committed
files are current.

Modules, one job each: ``load`` (reading result, entry, transfer and record files), ``intervals``
(bootstrap intervals, ensemble), ``budgets`` (the ensemble per L-inf budget), ``flags``
(derived flags), ``rows`` (rows and columns), ``text`` (number and label formatting), ``tables``
(Markdown and CSV), ``threats`` (the pipeline threat-model table), ``transfer`` (transfer
matrices), ``figures`` (plans and matplotlib drawing), ``cells`` and ``page`` (the HTML page's
view models, rendered by ``templates/index.html.j2`` with ``static/`` inlined), ``board``
(:func:`render`) and ``write`` (:func:`write_leaderboards`).
"""

from __future__ import annotations

from harness.leaderboard.board import Rendered, render
from harness.leaderboard.budgets import budget_columns
from harness.leaderboard.figures import (
    CurvePanel,
    FigurePlan,
    draw_figure,
    figure_key,
    figure_plan,
    figure_plans,
)
from harness.leaderboard.flags import convergence_flags, is_white_box, masking_flags, sanity_flags
from harness.leaderboard.intervals import ensemble_scores
from harness.leaderboard.load import (
    VideoRecords,
    load_entries,
    load_records,
    load_results,
    load_transfer,
    records_path,
)
from harness.leaderboard.page import render_html, render_threat_html, render_transfer_html
from harness.leaderboard.rows import leaderboard_rows, standard_columns
from harness.leaderboard.tables import render_csv, render_markdown
from harness.leaderboard.text import column_label, format_ci
from harness.leaderboard.threats import ThreatTable, render_threat_csv, render_threat_markdown, threat_table
from harness.leaderboard.transfer import (
    TransferMatrix,
    render_transfer_csv,
    render_transfer_markdown,
    transfer_matrices,
)
from harness.leaderboard.write import write_leaderboards

__all__ = [
    "CurvePanel",
    "FigurePlan",
    "Rendered",
    "ThreatTable",
    "TransferMatrix",
    "VideoRecords",
    "budget_columns",
    "column_label",
    "convergence_flags",
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
    "render",
    "render_csv",
    "render_html",
    "render_markdown",
    "render_threat_csv",
    "render_threat_html",
    "render_threat_markdown",
    "render_transfer_csv",
    "render_transfer_html",
    "render_transfer_markdown",
    "sanity_flags",
    "standard_columns",
    "threat_table",
    "transfer_matrices",
    "write_leaderboards",
]
