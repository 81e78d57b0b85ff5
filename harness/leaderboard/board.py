"""A results folder rendered: the leaderboard's texts and figure plans, nothing written."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.leaderboard.certified import (
    CertifiedFigure,
    certified_figure,
    certified_table,
    certified_view,
    load_certified,
    render_certified_markdown,
)
from harness.leaderboard.figures import FigurePlan, figure_plans
from harness.leaderboard.load import VideoRecords, load_entries, load_records, load_results, load_transfer
from harness.leaderboard.page import render_html
from harness.leaderboard.rows import leaderboard_rows
from harness.leaderboard.tables import render_csv, render_markdown
from harness.leaderboard.threats import render_threat_csv, threat_table
from harness.leaderboard.transfer import render_transfer_csv, transfer_matrices


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
    certified_figure: CertifiedFigure | None = None  # certified AUROC vs radius (harness certify)


def render(results_dir: Path, standard: Sequence[str] | None = None) -> Rendered:
    """Markdown, CSV and HTML of every result under ``results_dir`` (deterministic: same files,
    same texts), plus the figure plans; nothing is written."""
    errors: list[str] = []
    results = load_results(results_dir, errors)
    entries = load_entries(results_dir, errors)
    matrices = transfer_matrices(load_transfer(results_dir, errors))
    records = load_records(results, errors)
    threats = threat_table(results)
    certified = certified_table(load_certified(results_dir, errors))
    cert_figure = certified_figure(certified)
    cert_path = cert_figure.path if cert_figure else None
    # the pipeline threat model has its own table: other inputs, not comparable column by column
    results = [r for r in results if r.get("threat", "crops") == "crops"]
    columns, rows = leaderboard_rows(results, entries, standard, records)
    plans = figure_plans(rows, records)
    figure_paths = {k: p.path for k, p in plans.items()}
    return Rendered(
        markdown=render_markdown(
            columns,
            rows,
            figure_paths,
            errors,
            matrices,
            threats,
            render_certified_markdown(certified, cert_path),
        ),
        csv=render_csv(columns, rows),
        html=render_html(
            columns, rows, plans, errors, matrices, threats, certified_view(certified, cert_path)
        ),
        figures=plans,
        records=records,
        transfer_csv=render_transfer_csv(matrices),
        threats_csv=render_threat_csv(threats),
        certified_figure=cert_figure,
    )
