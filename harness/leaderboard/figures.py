"""The leaderboard's figures: one PNG per row, ROC curves clean vs attacked and AUROC versus
attack strength.

Plans (:func:`figure_plans`) are pure, so the page can be rendered without drawing; drawing
(:func:`draw_figure`) needs matplotlib (Agg) and gives the same bytes for the same inputs.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.leaderboard.load import VideoRecords
from harness.leaderboard.text import column_label, fmt, row_id, slug
from harness.results import interval, number

FIGURES_DIR = "figures"
_PANEL_IN = (3.4, 3.0)  # inches per figure panel
_DPI = 100
_ROC_PREFERRED = "pgd@eps4of255"
_DECREASING = {"quality"}  # strength settings where a lower value is a stronger perturbation


@dataclass(frozen=True)
class CurvePanel:
    """AUROC versus strength for the attacks sharing one strength setting (and norm)."""

    xlabel: str
    invert: bool  # lower values are stronger (JPEG quality): stronger to the right
    lines: tuple[tuple[str, tuple[tuple[float, float, float, float], ...]], ...]  # attack, (x, auc, lo, hi)


@dataclass(frozen=True)
class StepsPanel:
    """AUROC versus gradient steps per sample (all restarts) at each budget of a row with
    convergence checks (:mod:`harness.runner.convergence`): one line per budget, a point per step
    count of a member or a check, holding the lowest AUROC any white-box attack at that budget
    reached with at most that many steps (members and their stronger checks alike), so the line
    only falls. Flat to the right: more effort did not lower the row's number at that budget."""

    # budget label, (steps, auc, lo, hi) by steps
    lines: tuple[tuple[str, tuple[tuple[float, float, float, float], ...]], ...]


@dataclass(frozen=True)
class FigurePlan:
    """One PNG per row: ROC curves clean vs attacked, then one AUROC-vs-strength panel per setting,
    then (rows with convergence checks) AUROC versus steps."""

    path: str  # relative to the leaderboard folder
    title: str
    clean_auroc: float
    roc: tuple[tuple[str, str, str], ...]  # (legend label, result path, "clean" | "adv")
    curves: tuple[CurvePanel, ...]
    steps: StepsPanel | None = None

    @property
    def panels(self) -> int:
        return (1 if self.roc else 0) + len(self.curves) + (1 if self.steps else 0)

    @property
    def size_px(self) -> tuple[int, int]:
        return round(_PANEL_IN[0] * _DPI * self.panels), round(_PANEL_IN[1] * _DPI)


def _roc_lines(row: Mapping[str, Any], records: Mapping[str, VideoRecords]) -> list[tuple[str, str, str]]:
    """Clean, ``pgd@eps4of255`` (or the worst member without it) and the worst member."""
    results: Mapping[str, Mapping[str, Any]] = row.get("results", {})
    with_records = [c for c in results if str(results[c].get("_path")) in records]
    picks = [c for c in (_ROC_PREFERRED, row.get("worst_member")) if c in with_records]
    if not picks and with_records:
        picks = [min(with_records, key=lambda c: 2.0 if math.isnan(row[c]) else row[c])]
    if not picks:
        return []
    roc = [(f"clean (AUROC {fmt(row['clean'])})", str(results[picks[0]]["_path"]), "clean")]
    for c in dict.fromkeys(picks):
        label = " ".join(column_label([results[c]], c)).strip()
        roc.append((f"{label} (AUROC {fmt(row[c])})", str(results[c]["_path"]), "adv"))
    return roc


def _curve_panels(row: Mapping[str, Any]) -> list[CurvePanel]:
    """One panel per (strength setting, norm) with an attack evaluated at several strengths."""
    groups: dict[tuple[str, str], dict[str, list[tuple[float, float, float, float]]]] = {}
    for c, r in row.get("results", {}).items():
        param, x = r.get("strength_param"), number(r.get("strength"))
        if not param or x is None or math.isnan(row[c]):
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
    return panels


def _total_steps(result: Mapping[str, Any]) -> int | None:
    """Gradient steps per sample of a white-box result, all restarts (FGSM: 1)."""
    config = result.get("attack_config")
    config = config if isinstance(config, Mapping) else {}
    steps, restarts = config.get("steps"), config.get("n_restarts", 1)
    if not isinstance(steps, int) or isinstance(steps, bool):
        steps = 1 if result.get("attack") == "fgsm" else None
    if steps is None:
        return None
    return steps * (restarts if isinstance(restarts, int) and restarts >= 1 else 1)


def _steps_panel(row: Mapping[str, Any]) -> StepsPanel | None:
    """AUROC versus steps at each budget that has a convergence check (``None`` without one)."""
    from harness.leaderboard.flags import is_white_box
    from harness.leaderboard.text import strength_label

    results: Mapping[str, Mapping[str, Any]] = row.get("results", {})
    budgets: dict[tuple[str, float], tuple[str, dict[float, tuple[float, float, float]]]] = {}

    def add(r: Mapping[str, Any], steps: Any, auc: Any, ci: Any) -> None:
        budget, auc = number(r.get("budget")), number(auc)
        if budget is None or auc is None or not isinstance(steps, int) or steps < 1:
            return
        lo, hi = interval(ci) or (auc, auc)
        key = (str(r.get("norm")), round(budget, 9))
        points = budgets.setdefault(key, (strength_label(r), {}))[1]
        if float(steps) not in points or auc < points[float(steps)][0]:
            points[float(steps)] = (auc, float(lo), float(hi))

    checked = {
        (str(r.get("norm")), round(number(r.get("budget")) or 0.0, 9))
        for r in results.values()
        if isinstance(r.get("convergence"), Mapping) and number(r.get("budget")) is not None
    }
    for c, r in results.items():
        if not is_white_box(r) or math.isnan(row[c]):
            continue
        key = (str(r.get("norm")), round(number(r.get("budget")) or 0.0, 9))
        if key not in checked:
            continue
        add(r, _total_steps(r), row[c], row["ci"].get(c))
        block = r.get("convergence")
        for check in (block.get("checks") if isinstance(block, Mapping) else None) or []:
            if isinstance(check, Mapping):
                add(r, check.get("total_steps"), check.get("auroc"), check.get("auroc_ci"))
    lines = []
    for _, (label, points) in sorted(budgets.items()):
        best: tuple[float, float, float] | None = None
        line = []
        for x in sorted(points):
            if best is None or points[x][0] < best[0]:
                best = points[x]
            line.append((x, *best))  # the strongest attack with at most x steps
        lines.append((label, tuple(line)))
    return StepsPanel(tuple(lines)) if lines else None


def figure_plan(row: Mapping[str, Any], records: Mapping[str, VideoRecords], path: str) -> FigurePlan | None:
    """What to draw for a row (``None`` when there is nothing): pure, so the page can be rendered
    without drawing. ROC: clean, ``pgd@eps4of255`` (or the worst member without it) and the
    worst member; curves: each attack evaluated at several strengths; steps: AUROC versus steps
    at each budget with a convergence check."""
    roc, panels, steps = _roc_lines(row, records), _curve_panels(row), _steps_panel(row)
    if not roc and not panels and steps is None:
        return None
    title = f"{row['detector']} on {row['dataset']}"
    return FigurePlan(path, title, row["clean"], tuple(roc), tuple(panels), steps)


def figure_plans(
    rows: Sequence[Mapping[str, Any]], records: Mapping[str, VideoRecords]
) -> dict[str, FigurePlan]:
    """Row id (``dataset/detector``) -> its figure, with unique file names under ``figures/``."""
    out: dict[str, FigurePlan] = {}
    used: set[str] = set()
    for row in sorted(rows, key=lambda r: (r["dataset"], r["detector"])):
        stem = f"{slug(row['dataset'])}__{slug(row['detector'])}"
        name, i = stem, 1
        while name.lower() in used:
            i += 1
            name = f"{stem}-{i}"
        plan = figure_plan(row, records, f"{FIGURES_DIR}/{name}.png")
        if plan is not None:
            used.add(name.lower())
            out[row_id(row)] = plan
    return out


def figure_key(plan: FigurePlan, records: Mapping[str, VideoRecords]) -> str:
    """A digest of everything a figure is drawn from (plan, records, matplotlib version): a PNG
    that carries it is current and need not be drawn again."""
    import hashlib

    import matplotlib

    roc = [(label, which) for label, _, which in plan.roc]  # the data, not where it lies
    drawn: tuple[Any, ...] = (plan.clean_auroc, roc, plan.curves, plan.size_px, matplotlib.__version__)
    if plan.steps is not None:  # figures without one keep their key (and their PNG)
        drawn += (plan.steps,)
    h = hashlib.sha256(repr(drawn).encode())
    for _, path, which in plan.roc:
        rec = records[path]
        h.update(rec.labels.tobytes() + (rec.clean if which == "clean" else rec.adv).tobytes())
    return h.hexdigest()[:20]


def figure_comment(plan: FigurePlan, records: Mapping[str, VideoRecords]) -> bytes:
    """What a current PNG of ``plan`` carries in its ``Comment`` (see :func:`figure_key`)."""
    return f"leaderboard-figure {figure_key(plan, records)}".encode()


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
        for panel, ax in zip(plan.curves, axes[k : k + len(plan.curves)], strict=True):
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
        if plan.steps is not None:
            _draw_steps(axes[-1], plan.steps, plan.clean_auroc)
        buf = io.BytesIO()
        comment = figure_comment(plan, records).decode()
        fig.savefig(buf, format="png", dpi=_DPI, metadata={"Software": None, "Comment": comment})
    return buf.getvalue()


def _draw_steps(ax: Any, panel: StepsPanel, clean_auroc: float) -> None:
    """AUROC versus steps (log scale), one line per budget, 95% intervals shaded."""
    if not math.isnan(clean_auroc):
        ax.axhline(clean_auroc, color="black", lw=0.9, ls="--", label="clean")
    for i, (budget, pts) in enumerate(panel.lines):
        x, y, lo, hi = (np.array(v, dtype=float) for v in zip(*pts, strict=True))
        ax.fill_between(x, lo, hi, color=f"C{i}", alpha=0.15, lw=0)
        ax.plot(x, y, marker="o", ms=3, color=f"C{i}", lw=1.4, label=budget)
    ax.set_xscale("log")
    ticks = sorted({p[0] for _, pts in panel.lines for p in pts})
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.minorticks_off()
    ax.set(ylim=(0, 1.02), xlabel="gradient steps per sample (all restarts)", ylabel="AUROC")
    ax.axhline(0.5, color="0.75", lw=0.8, ls=":")
    ax.set_title("AUROC vs steps (best with ≤ n steps)")
    ax.legend(loc="lower left")
