"""Text shared by the Markdown, CSV and HTML renderers: numbers, intervals, column labels, notes."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from harness.results import number, result_key

NOTE = (
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
DISCLAIMER = (
    "Numbers on the embedded `synthetic` benchmark show that the harness works; they say nothing about "
    "how a detector fares on Celeb-DF, DFDC or FaceForensics++."
)


def fmt(v: Any, digits: int = 3) -> str:
    """A table cell: a float to ``digits`` decimals (``n/a`` for NaN), ``""`` for ``None``."""
    if isinstance(v, float):
        return "n/a" if math.isnan(v) else f"{v:.{digits}f}"
    return "" if v is None else str(v)


def format_ci(value: float | None, ci: Sequence[float] | None) -> str:
    """``0.912 [0.85, 0.96]``; just the value without an interval; ``n/a`` without a value
    (``None`` or NaN)."""
    if value is None or math.isnan(value):
        return "n/a"
    return f"{value:.3f} [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else f"{value:.3f}"


def md(text: Any) -> str:
    """``text`` safe inside a Markdown table cell (pipes escaped, one line)."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def column_label(results: Sequence[Mapping[str, Any]], key: str) -> tuple[str, str]:
    """(attack, strength) for a column header: ``("pgd", "ε 4/255")``, ``("jpeg", "quality 50")``."""
    attack, _, tag = key.partition("@")
    for r in results:
        if result_key(r) == key:
            return attack, strength_label(r)
    return attack, tag


def strength_label(r: Mapping[str, Any]) -> str:
    """The strength of a result for people: ``ε 4/255``, ``ε 0.5 (L2)``, ``quality 50``."""
    param, value = r.get("strength_param"), number(r.get("strength"))
    if param is None or value is None:
        return "" if r.get("budget_tag") == "default" else str(r.get("budget_tag", ""))
    if param == "eps":
        k = value * 255
        eps = f"{round(k)}/255" if abs(k - round(k)) < 1e-6 else f"{value:g}"
        return f"ε {eps}" + (" (L2)" if r.get("norm") == "l2" else "")
    return f"{param} {value:g}"


def slug(text: str) -> str:
    """``text`` as a file name or HTML id: runs of other characters become ``-``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "x"


def row_id(row: Mapping[str, Any]) -> str:
    """``dataset/detector``: a leaderboard row's name in figure plans and page anchors."""
    return f"{row['dataset']}/{row['detector']}"
