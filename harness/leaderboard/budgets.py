"""The ensemble per L-inf budget: one column per budget (``ensemble@eps4of255`` ...).

RobustBench reports a model at one eps: the AutoAttack ensemble at that budget. A row's
``ensemble`` mixes budgets (its worst case is set by the largest one); these columns give the
per-video worst case (:func:`~harness.leaderboard.intervals.ensemble_scores`) over the row's
white-box members at each L-inf budget, with its bootstrap interval, so rows compare at one eps.
Members: the row's ``ensemble_members`` (white-box, among the columns worst case and mean drop are
taken over) whose norm is L-inf at that budget. ``nan`` (shown ``n/a``) unless every one of them
has its per-video records on the same videos; a row without a white-box member at a budget has no
entry for it (shown empty).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from harness.leaderboard.intervals import row_ensemble
from harness.leaderboard.load import VideoRecords
from harness.results import number

PREFIX = "ensemble@"


def budget_column(result: Mapping[str, Any]) -> tuple[float, str] | None:
    """``(eps, "ensemble@eps4of255")`` of an L-inf result with a budget, else ``None``."""
    from harness.suites import strength_tag

    eps = number(result.get("budget"))
    if result.get("norm") != "linf" or eps is None:
        return None
    return eps, PREFIX + strength_tag("eps", eps)


def budget_ensembles(
    members: Sequence[str], results: Mapping[str, Mapping[str, Any]], records: Mapping[str, VideoRecords]
) -> dict[str, dict[str, Any]]:
    """Column -> ``{"eps", "members", "value", "ci"}`` for every L-inf budget among ``members``
    (white-box column keys of a row; ``results``: column -> result)."""
    groups: dict[str, tuple[float, list[str]]] = {}
    for c in members:
        found = budget_column(results[c])
        if found is not None:
            groups.setdefault(found[1], (found[0], []))[1].append(c)
    out = {}
    for column, (eps, cols) in groups.items():
        value, ci = row_ensemble([records.get(str(results[c].get("_path"))) for c in cols])
        out[column] = {"eps": eps, "members": cols, "value": value, "ci": ci}
    return out


def budget_columns(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The per-budget ensemble columns of any row, smallest budget first."""
    seen: dict[str, float] = {}
    for row in rows:
        for column, entry in (row.get("budget_ensembles") or {}).items():
            seen[column] = entry["eps"]
    return sorted(seen, key=lambda c: (seen[c], c))


def budget_label(column: str) -> str:
    """``ε 4/255`` for ``ensemble@eps4of255`` (the tag as it is when not a whole k/255)."""
    tag = column.removeprefix(PREFIX)
    if tag.startswith("eps") and "of255" in tag:
        return f"ε {tag[3:].replace('of', '/')}"
    return tag


def budget_title(column: str, entry: Mapping[str, Any] | None) -> str:
    """The tooltip of a row's per-budget ensemble cell."""
    at = f"at {budget_label(column)}"
    if entry is None:
        return f"{at}: no white-box member"
    members = ", ".join(entry["members"])
    if math.isnan(entry["value"]):
        return f"{at}: needs the per-video records of every white-box member: {members}"
    return f"{at}: per-video worst case over {members}"
