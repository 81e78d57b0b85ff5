"""View models of the page's table cells: what a ``<td>`` shows, sorts by and is coloured with.

The template's ``cell`` macro renders a :class:`Cell`; these constructors decide its content once,
so no rendered markup is ever patched afterwards.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Cell:
    """One ``<td>``: classes, sort value (``data-v``; ``None``: no attribute), text, interval,
    tooltip and background colour."""

    text: str
    cls: str = ""
    v: str | None = None
    ci: str = ""
    title: str = ""
    style: str = ""


def heat(v: float) -> str:
    """Background of an AUROC cell: red at 0.5 or below, green at 1 (``""`` for NaN)."""
    if math.isnan(v):
        return ""
    hue = round(120 * min(1.0, max(0.0, (v - 0.5) / 0.5)))
    return f"background:hsl({hue} 65% 90%)"


def heat_full(v: float) -> str:
    """Background of a transfer or threat cell: green at 1, red at 0.5, darker red down to 0 (the
    attack inverts the ranking)."""
    if math.isnan(v) or v >= 0.5:
        return heat(v)
    light = round(90 - 20 * (0.5 - v) / 0.5)
    return f"background:hsl(0 65% {light}%)"


def _ci(ci: Sequence[float] | None) -> str:
    return f"[{ci[0]:.2f}, {ci[1]:.2f}]" if ci else ""


def number_cell(
    v: float,
    ci: Sequence[float] | None,
    *,
    colour: bool = True,
    signed: bool = False,
    title: str = "",
    sep: bool = False,
) -> Cell:
    """A sortable number of the main table: value, interval, heat colour (``n/a`` for NaN)."""
    cls = "sep num" if sep else "num"
    if math.isnan(v):
        return Cell("n/a", f"{cls} na", "", title=title)
    text = f"{v:+.3f}" if signed else f"{v:.3f}"
    return Cell(text, cls, f"{v:.6f}", _ci(ci), title, heat(v) if colour else "")


def missing_cell(sep: bool = False) -> Cell:
    """A column the row has no result for (sorts last)."""
    return Cell("–", "sep num na" if sep else "num na", "")


def heat_cell(v: float, ci: Sequence[float] | None, title: str, diag: bool = False) -> Cell:
    """A cell of a heat-map table (transfer matrix, threat table), its details in the tooltip."""
    cls = "num diag" if diag else "num"
    if math.isnan(v):
        return Cell("n/a", f"{cls} na", title=title)
    return Cell(f"{v:.3f}", cls, f"{v:.6f}", _ci(ci), title, heat_full(v))


ABSENT = Cell("–", "na")  # a heat-map cell with no result
