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


_HTML = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
_MD_PUNCT = re.compile(r"([\\`*\[\]~|#$])")  # always markup-capable (| splits a table cell)
_MD_UNDERSCORE = re.compile(r"(?<![^\W_])_|_(?![^\W_])")  # "_" not between two letters/digits
_MD_LINE_START = re.compile(r"^([-+])|^(\d+)([.)])")  # a list marker when a list item starts so


def md(text: Any) -> str:
    """``text`` (a name from a result file: anyone's) as literal Markdown text, in one line.

    Safe in a table cell, a list item or a heading: HTML is escaped as entities and every
    character that could start Markdown (emphasis, code, links, a cell's ``|``, a list marker or
    heading at the start) is backslash-escaped, so a reader sees exactly ``text`` (whitespace
    runs as one space). ``_`` inside a word (``Meso4_DF``) is no markup and stays as it is."""
    out = " ".join(str(text).split()).translate(_HTML)
    out = _MD_PUNCT.sub(r"\\\1", out)
    out = _MD_UNDERSCORE.sub(r"\\_", out)
    return _MD_LINE_START.sub(lambda m: f"\\{m[1]}" if m[1] else f"{m[2]}\\{m[3]}", out)


def md_code(text: Any) -> str:
    """``text`` as a Markdown code span (shown literally, HTML included) outside tables: fenced
    by more backticks than any run inside it."""
    out = " ".join(str(text).split())
    fence = "`" * (max((len(run) for run in re.findall(r"`+", out)), default=0) + 1)
    pad = " " if out.startswith("`") or out.endswith("`") else ""
    return f"{fence}{pad}{out}{pad}{fence}"


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
