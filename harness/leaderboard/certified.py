"""The leaderboard's certified-AUROC section: the results of ``harness certify`` (``kind:
certify``, :mod:`harness.certify`), as a Markdown table, a page section and one figure (certified
AUROC versus L2 radius, a line per certified row).

Pure functions of the result files (sorted, no timestamps): results in, tables and a figure plan
out. The figure is drawn with matplotlib (Agg) and carries a digest of what it shows, so an
unchanged figure is not redrawn.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.leaderboard.cells import Cell, heat, missing_cell
from harness.leaderboard.text import format_ci, md
from harness.results import interval, number

CERTIFIED_FIGURE = "figures/certified.png"
CERTIFIED_NOTE = (
    "Randomized smoothing (`harness certify`): a frame's score is the smoothed fake probability "
    "g(x) = E f(x + N(0, σ²I)), bounded per frame by a Clopper-Pearson interval from n noisy "
    "samples (each fails with probability at most α). Since Φ⁻¹(g) is 1/σ-Lipschitz, no L2 "
    "perturbation of norm at most r of every frame the detector sees moves g beyond "
    "[Φ(Φ⁻¹(low) − r/σ), Φ(Φ⁻¹(high) + r/σ)]; the certified AUROC at r scores every fake video at its "
    "lowest certified score and every real one at its highest: a lower bound on the AUROC any such "
    "attack can reach. Smoothed: the AUROC of the Monte Carlo estimate of g, unattacked. "
    "[brackets]: 95% bootstrap intervals by video."
)
_REQUIRED = ("dataset", "detector", "sigma", "curve")


@dataclass(frozen=True)
class CertifiedRow:
    """One certification: a row name, its noise and sampling, and its curve by radius."""

    detector: str
    dataset: str
    sigma: float
    n: int
    alpha: float
    score: str
    smoothed: tuple[float, tuple[float, float] | None]
    points: tuple[tuple[float, float, tuple[float, float] | None], ...]  # (radius, auroc, ci)
    n_videos: int | None


@dataclass(frozen=True)
class CertifiedTable:
    radii: tuple[float, ...]  # every radius any row has, ascending
    rows: tuple[CertifiedRow, ...]


def load_certified(results_dir: Path, errors: list[str] | None = None) -> list[dict[str, Any]]:
    """Every ``harness certify`` result under ``results_dir``; malformed ones are reported and
    skipped (never fatal)."""
    out: list[dict[str, Any]] = []
    if not Path(results_dir).is_dir():
        return out
    for path in sorted(Path(results_dir).rglob("*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue  # load_results reports unreadable files
        if not isinstance(data, dict) or data.get("kind") != "certify":
            continue
        curve = data.get("curve")
        ok = isinstance(curve, list) and all(isinstance(p, Mapping) for p in curve)
        missing = [k for k in _REQUIRED if k not in data]
        if missing or not ok or number(data.get("sigma")) is None:
            rel = path.relative_to(results_dir).as_posix()
            message = f"skipping malformed certified result {rel}: missing {missing or 'curve'}"
            print(f"leaderboard: {message}", file=sys.stderr)
            if errors is not None:
                errors.append(message)
            continue
        out.append(data)
    return out


def _row(data: Mapping[str, Any]) -> CertifiedRow:
    points = []
    for p in data["curve"]:
        r, v = number(p.get("radius")), number(p.get("certified_auroc"))
        if r is not None:
            points.append((r, math.nan if v is None else v, interval(p.get("certified_auroc_ci"))))
    smoothed = number(data.get("auroc_smoothed"))
    n = data.get("n_videos")
    return CertifiedRow(
        detector=str(data["detector"]),
        dataset=str(data["dataset"]),
        sigma=float(data["sigma"]),
        n=int(data.get("n") or 0),
        alpha=float(number(data.get("alpha")) or math.nan),
        score=str(data.get("score", "soft")),
        smoothed=(math.nan if smoothed is None else smoothed, interval(data.get("auroc_smoothed_ci"))),
        points=tuple(sorted(points)),
        n_videos=n if isinstance(n, int) and not isinstance(n, bool) else None,
    )


def certified_table(results: Sequence[Mapping[str, Any]]) -> CertifiedTable | None:
    """The section's rows (by dataset, row name, sigma) and radius columns; ``None`` without any."""
    rows = sorted((_row(r) for r in results), key=lambda r: (r.dataset, r.detector, r.sigma, r.score))
    if not rows:
        return None
    radii = tuple(sorted({p[0] for r in rows for p in r.points}))
    return CertifiedTable(radii, tuple(rows))


def _point(row: CertifiedRow, radius: float) -> tuple[float, tuple[float, float] | None] | None:
    for r, v, ci in row.points:
        if r == radius:
            return v, ci
    return None


def render_certified_markdown(
    table: CertifiedTable | None, figure: str | None = CERTIFIED_FIGURE
) -> list[str]:
    """The Markdown section (no lines without certified results); ``figure``: its PNG, if drawn."""
    if table is None:
        return []
    head = ["detector", "dataset", "σ", "n", "α", "smoothed AUROC"]
    head += [f"r = {r:g}" for r in table.radii] + ["videos"]
    lines = [
        "",
        "## Certified AUROC (randomized smoothing)",
        "",
        CERTIFIED_NOTE,
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for row in table.rows:
        cells = [
            md(row.detector + ("" if row.score == "soft" else f" ({row.score})")),
            md(row.dataset),
            f"{row.sigma:g}",
            str(row.n),
            f"{row.alpha:g}",
            format_ci(*row.smoothed),
        ]
        for r in table.radii:
            point = _point(row, r)
            cells.append(format_ci(*point) if point else "")
        cells.append("" if row.n_videos is None else str(row.n_videos))
        lines.append("| " + " | ".join(cells) + " |")
    if figure:
        lines += ["", f"![certified AUROC versus L2 radius]({figure})"]
    return lines


def _cell(v: float, ci: tuple[float, float] | None) -> Cell:
    if math.isnan(v):
        return Cell("n/a", "num na", "")
    return Cell(f"{v:.3f}", "num", f"{v:.6f}", f"[{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "", "", heat(v))


def certified_view(
    table: CertifiedTable | None, figure: str | None = CERTIFIED_FIGURE
) -> dict[str, Any] | None:
    """The page section's view model (``None`` without certified results)."""
    if table is None:
        return None
    rows = []
    for row in table.rows:
        cells = [Cell(f"{row.sigma:g}", "num"), Cell(str(row.n), "num"), Cell(f"{row.alpha:g}", "num")]
        cells.append(_cell(*row.smoothed))
        for r in table.radii:
            point = _point(row, r)
            cells.append(_cell(*point) if point else missing_cell())
        cells.append(Cell("" if row.n_videos is None else str(row.n_videos), "num"))
        name = row.detector + ("" if row.score == "soft" else f" ({row.score})")
        rows.append({"detector": name, "dataset": row.dataset, "cells": cells})
    return {
        "note": CERTIFIED_NOTE,
        "columns": ["σ", "n", "α", "smoothed AUROC", *(f"r = {r:g}" for r in table.radii), "videos"],
        "rows": rows,
        "figure": figure,
    }


@dataclass(frozen=True)
class CertifiedFigure:
    """Certified AUROC versus L2 radius, one line per certified row (shaded: 95% intervals)."""

    path: str
    lines: tuple[tuple[str, tuple[tuple[float, float, float, float], ...]], ...]  # label, (r, v, lo, hi)

    def comment(self) -> bytes:
        """What the current PNG carries in its ``Comment``: a digest of what it shows."""
        import matplotlib

        key = hashlib.sha256(repr((self.lines, matplotlib.__version__)).encode()).hexdigest()[:20]
        return f"leaderboard-figure {key}".encode()

    def draw(self) -> bytes:
        """The PNG (Agg; same inputs, same bytes)."""
        import matplotlib
        import numpy as np
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        with matplotlib.rc_context({"font.size": 8, "axes.titlesize": 9, "legend.fontsize": 7}):
            fig = Figure(figsize=(4.8, 3.4), dpi=100, layout="constrained")
            FigureCanvasAgg(fig)
            ax = fig.subplots()
            for i, (label, pts) in enumerate(self.lines):
                x, y, lo, hi = (np.array(v, dtype=float) for v in zip(*pts, strict=True))
                ax.fill_between(x, lo, hi, color=f"C{i % 10}", alpha=0.15, lw=0)
                ax.plot(x, y, marker="o", ms=3, color=f"C{i % 10}", lw=1.4, label=label)
            ax.axhline(0.5, color="0.75", lw=0.8, ls=":")
            ax.set(ylim=(0, 1.02), xlabel="L2 radius per frame ([0,1] pixels)", ylabel="certified AUROC")
            ax.set_title("Certified AUROC vs radius (randomized smoothing)")
            ax.legend(loc="upper right")
            buf = io.BytesIO()
            meta = {"Software": None, "Comment": self.comment().decode()}
            fig.savefig(buf, format="png", dpi=100, metadata=meta)
        return buf.getvalue()


def certified_figure(table: CertifiedTable | None) -> CertifiedFigure | None:
    """The figure of the section (``None`` without certified results)."""
    if table is None:
        return None
    lines = []
    for row in table.rows:
        pts = tuple((r, v, *(ci if ci else (v, v))) for r, v, ci in row.points if not math.isnan(v))
        if pts:
            label = f"{row.detector} on {row.dataset}, σ={row.sigma:g}"
            lines.append((label + ("" if row.score == "soft" else f" ({row.score})"), pts))
    return CertifiedFigure(CERTIFIED_FIGURE, tuple(lines)) if lines else None


__all__ = [
    "CERTIFIED_FIGURE",
    "CERTIFIED_NOTE",
    "CertifiedFigure",
    "CertifiedRow",
    "CertifiedTable",
    "certified_figure",
    "certified_table",
    "certified_view",
    "load_certified",
    "render_certified_markdown",
]
