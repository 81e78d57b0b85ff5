"""The leaderboard's rows and columns: one row per (detector, dataset), one column per suite member.

Columns: the ``standard`` suite's members present, in suite order, then any others, sorted. A row
holds the clean AUROC, the AUROC under each member, the worst case, the ensemble and the mean drop
(each with its 95% interval) and its flags (see :func:`leaderboard_rows`). Pure: results in, rows
out; a missing number is NaN in a row.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.leaderboard.budgets import budget_ensembles
from harness.leaderboard.flags import convergence_flags, flag, is_white_box, masking_flags, sanity_flags
from harness.leaderboard.intervals import row_ensemble, row_intervals
from harness.leaderboard.load import VideoRecords
from harness.results import interval, number, result_key


def value_or_nan(value: Any) -> float:
    """A stored number as a float, NaN when it is missing or not a finite number (how a row, a
    matrix or a threat-table cell holds "no value")."""
    n = number(value)
    return math.nan if n is None else n


def standard_columns() -> list[str]:
    """Column keys of the ``standard`` suite in suite order (empty if it cannot be loaded)."""
    try:
        from harness.suites import load_suite

        return [m.key for m in load_suite("standard").members]
    except Exception as exc:  # the leaderboard must still render, just without suite order
        print(f"leaderboard: standard suite unavailable ({exc}); columns sorted by name", file=sys.stderr)
        return []


def oldest_first(results: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """``results`` by ``created`` (then path): where several share a place, the last one wins."""
    return sorted(results, key=lambda r: (str(r.get("created", "")), str(r.get("_path", ""))))


def _entry_key(entry: Mapping[str, Any]) -> tuple[str, str]:
    dataset = entry.get("dataset") or (Path(entry["_path"]).parent.parent.name if "_path" in entry else "")
    return str(entry["name"]), str(dataset)


def _row_key(result: Mapping[str, Any], entry_dirs: Mapping[str, Mapping[str, Any]]) -> tuple[str, str]:
    """(name, dataset): the entry's when the result lies in a submission entry's folder."""
    entry = entry_dirs.get(str(Path(result["_path"]).parent)) if "_path" in result else None
    if entry is not None:
        return _entry_key(entry)
    return str(result["detector"]), str(result["dataset"])


def _compact_missing(missing: Sequence[str], standard: Sequence[str]) -> str:
    """``fgsm, pgd@eps1of255/eps8of255``: whole attacks by name, partly missing ones by strength."""
    parts = []
    for attack in dict.fromkeys(k.split("@", 1)[0] for k in missing):
        gone = [k.split("@", 1)[1] for k in missing if k.split("@", 1)[0] == attack]
        total = sum(1 for k in standard if k.split("@", 1)[0] == attack)
        parts.append(attack if len(gone) == total and total > 1 else f"{attack}@{'/'.join(gone)}")
    return ", ".join(parts)


def leaderboard_rows(
    results: Sequence[Mapping[str, Any]],
    entries: Sequence[Mapping[str, Any]] = (),
    standard: Sequence[str] | None = None,
    records: Mapping[str, VideoRecords] | None = None,
) -> tuple[list[str], list[dict[str, Any]]]:
    """Columns (standard-suite keys present in suite order, then others sorted) and sorted rows.

    One row per (detector, dataset); a result in the folder of a submission entry belongs to the
    entry's row (named by the entry). Where several results share a column, the latest
    (``created``) wins. Row keys: ``detector``, ``dataset``, ``clean``, ``clean_ci``, one per
    column (AUROC under attack), ``ci`` (column -> interval), ``worst``, ``worst_ci``,
    ``worst_member``, ``mean_drop``, ``mean_drop_ci``, ``judged`` (the columns worst and mean drop
    are taken over: the standard members present, or every column for a row with none),
    ``ensemble``, ``ensemble_ci``, ``ensemble_members`` (the white-box columns among ``judged``;
    ``ensemble`` is ``nan`` unless each of them has per-video records on the same videos),
    ``budget_ensembles`` (``ensemble@eps4of255`` -> the same over the members at that L-inf
    budget: ``eps``, ``members``, ``value``, ``ci``; see :mod:`~harness.leaderboard.budgets`),
    ``n_videos``, ``checkpoint_sha256``, ``flags`` (``code``, ``message``, ``label``), ``entry``,
    ``results`` (column -> result). Sorted by worst-case AUROC, best first, rows without one last.
    """
    standard = standard_columns() if standard is None else list(standard)
    records = records or {}
    entry_dirs = {str(Path(e["_path"]).parent): e for e in entries if "_path" in e}
    entry_rows = {_entry_key(e): e for e in entries}
    grouped: dict[tuple[str, str], list[Mapping[str, Any]]] = {k: [] for k in entry_rows}
    for r in oldest_first(results):
        grouped.setdefault(_row_key(r, entry_dirs), []).append(r)

    present = {result_key(r) for r in results}
    columns = [k for k in standard if k in present] + sorted(present - set(standard))
    rows = []
    for (name, dataset), group in grouped.items():
        entry = entry_rows.get((name, dataset))
        rows.append(_build_row(name, dataset, group, entry, columns, standard, records))
    rows.sort(key=lambda r: (math.isnan(r["worst"]), -_nan_to(r["worst"]), r["detector"], r["dataset"]))
    return columns, rows


def _nan_to(v: float, fill: float = 0.0) -> float:
    return fill if math.isnan(v) else v


def _build_row(
    name: str,
    dataset: str,
    group: Sequence[Mapping[str, Any]],
    entry: Mapping[str, Any] | None,
    columns: Sequence[str],
    standard: Sequence[str],
    records: Mapping[str, VideoRecords],
) -> dict[str, Any]:
    by_col: dict[str, Mapping[str, Any]] = {}
    for r in group:  # oldest first: the latest result of a column wins
        by_col[result_key(r)] = r
    latest = group[-1] if group else None
    m = latest["metrics"] if latest else {}
    row: dict[str, Any] = {
        "detector": name,
        "dataset": dataset,
        "clean": value_or_nan(m.get("auroc_clean")),
        "clean_ci": interval(m.get("auroc_clean_ci")),
        "ci": {},
        "n_videos": m.get("n_videos"),
        "checkpoint_sha256": str(latest.get("checkpoint_sha256") or "")[:12] if latest else "",
        "entry": dict(entry.get("meta") or {}) if entry else None,
        "results": {c: by_col[c] for c in columns if c in by_col},
    }
    for c in row["results"]:
        row[c] = value_or_nan(by_col[c]["metrics"].get("auroc_adv"))
        row["ci"][c] = interval(by_col[c]["metrics"].get("auroc_adv_ci"))
    have_std = [c for c in standard if c in row["results"]]
    judged = [c for c in (have_std or list(row["results"])) if not math.isnan(row[c])]
    row["judged"] = judged
    row["worst"], row["worst_ci"], row["worst_member"] = math.nan, None, None
    row["mean_drop"], row["mean_drop_ci"] = math.nan, None
    row["ensemble_members"] = [c for c in judged if is_white_box(row["results"][c])]
    row["ensemble"], row["ensemble_ci"] = row_ensemble(
        [records.get(str(row["results"][c].get("_path"))) for c in row["ensemble_members"]]
    )
    row["budget_ensembles"] = budget_ensembles(row["ensemble_members"], row["results"], records)
    if judged:
        worst = min(judged, key=lambda c: row[c])  # ties: the first in column order
        row["worst"], row["worst_member"] = row[worst], worst
        row["mean_drop"] = row["clean"] - sum(row[c] for c in judged) / len(judged)
        base = records.get(str(latest["_path"])) if latest and "_path" in latest else None
        members = [records.get(str(row["results"][c].get("_path"))) for c in judged]
        worst_ci, drop_ci = row_intervals(base, members)
        row["worst_ci"] = worst_ci if worst_ci is not None else row["ci"][worst]
        row["mean_drop_ci"] = drop_ci
    row["flags"] = _row_flags(row, entry, standard, records)
    return row


def _row_flags(
    row: Mapping[str, Any],
    entry: Mapping[str, Any] | None,
    standard: Sequence[str],
    records: Mapping[str, VideoRecords],
) -> list[dict[str, str]]:
    """The entry's recorded flags, then those derived from the row's results."""
    results = list(row["results"].values())
    flags = [
        flag(str(f.get("code", "flag")), str(f.get("message", "")))
        for f in (entry.get("flags") or [] if entry else [])
        if isinstance(f, Mapping)
    ]
    flags += masking_flags(results)
    flags += sanity_flags(results, records)
    flags += convergence_flags(results)
    missing = [k for k in standard if k not in row["results"]]
    if missing:
        n, total = len(standard) - len(missing), len(standard)
        flags.append(
            flag(
                "incomplete",
                f"{n}/{total} standard-suite members evaluated; missing: {_compact_missing(missing, standard)}",
                f"incomplete: {n}/{total} standard members",
            )
        )
    shas = sorted({str(r.get("checkpoint_sha256")) for r in results if r.get("checkpoint_sha256")})
    if len(shas) > 1:
        flags.append(
            flag(
                "mixed-checkpoints",
                f"the results of this row come from {len(shas)} different checkpoints "
                f"({', '.join(s[:12] for s in shas)}): re-run them with one checkpoint",
            )
        )
    return flags
