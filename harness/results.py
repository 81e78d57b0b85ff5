"""Result files: where a run's results live, how one is keyed, and how its fields are read back.

One JSON per (detector, dataset, attack, strength) at
``<results_dir>/<dataset>/<detector>/<attack>-<tag>.json`` with its per-video scores beside it
(``.videos.csv``). :class:`ResultStore` is the only writer; the leaderboard, ``harness check`` and
``harness submit`` read these files. The readers here (:func:`number`, :func:`interval`,
:func:`result_key`) are the one definition every reader uses, so a missing, non-finite or
mistyped value means the same thing everywhere.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.fileio import json_bytes, jsonable, write_files_atomic

RESULT_SCHEMA = 2
DEFAULT_RESULTS_DIR = "runs/results"
COMMITTED_RESULTS_DIR = "results"


def result_key(result: Mapping[str, Any]) -> str:
    """The one key of a result: ``attack@tag`` (e.g. ``pgd@eps4of255``).

    The same string as :attr:`harness.suites.SuiteMember.key`: a suite member, a leaderboard
    column and a baseline entry are matched by it.
    """
    return f"{result['attack']}@{result['budget_tag']}"


def number(value: Any) -> float | None:
    """A finite number stored in a result, else ``None`` (missing, ``null``, ``"inf"``, a bool)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def interval(value: Any) -> tuple[float, float] | None:
    """A stored ``[low, high]`` confidence interval, else ``None`` when either end is missing."""
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        return None
    lo, hi = number(value[0]), number(value[1])
    return None if lo is None or hi is None else (lo, hi)


def default_leaderboard_dir(results_dir: str | Path) -> Path:
    """The leaderboard folder of a results folder: ``leaderboards/`` beside it.

    ``results`` -> ``leaderboards`` (the committed pair), ``runs/results`` -> ``runs/leaderboards``.
    """
    return Path(results_dir).parent / "leaderboards"


class ResultStore:
    """A results folder: one JSON (and per-video CSV) per member, written atomically.

    ``harness.runner.evaluate`` saves each member's result here the moment it finishes (a killed
    run keeps them), looks up members this exact run already finished, and keeps its resume logs
    under ``.partial/``. Nothing else writes results.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def path(self, result: Mapping[str, Any]) -> Path:
        """Where ``result`` is (or would be) stored."""
        name = f"{result['attack']}-{result['budget_tag']}.json"
        return self.root / str(result["dataset"]) / str(result["detector"]) / name

    def state_dir(self, dataset: str, detector: str, run_key: str) -> Path:
        """The resume logs of one run (removed when it finishes)."""
        return self.root / ".partial" / dataset / detector / run_key

    def load(self, path: Path) -> dict[str, Any] | None:
        """A stored result, or ``None`` when it is absent or unreadable."""
        try:
            return json.loads(Path(path).read_text())
        except (OSError, ValueError):
            return None

    def save(self, result: Mapping[str, Any], videos: Mapping[str, Sequence[Any]] | None = None) -> Path:
        """Write ``result`` (and its per-video table, columns by name) atomically; returns its path."""
        return write_result_files(self.path(result), result, videos)


def write_result_files(
    path: Path, result: Mapping[str, Any], videos: Mapping[str, Sequence[Any]] | None = None
) -> Path:
    """Write a result JSON at ``path`` and its per-video CSV beside it, together or not at all.

    Both are rendered first and replaced as a group (:func:`harness.fileio.write_files_atomic`),
    the CSV before the JSON: readers find results by their JSON, so a full disk never leaves a
    result without its per-video scores, nor new scores beside an old result.
    """
    path = Path(path)
    files: dict[Path, bytes] = {}
    if videos is not None:
        files[path.with_suffix(".videos.csv")] = videos_csv(videos).encode("utf-8")
    files[path] = json_bytes(jsonable(dict(result)))
    write_files_atomic(files)
    return path


def videos_csv(columns: Mapping[str, Sequence[Any]]) -> str:
    """The per-video CSV beside a result: ``video_id``, ``label``, then score columns (6 decimals)."""
    names = list(columns)
    n = len(columns[names[0]]) if names else 0
    buf = io.StringIO(newline="")
    w = csv.writer(buf)
    w.writerow(names)
    for i in range(n):
        row = []
        for name in names:
            v = columns[name][i]
            if name == "video_id":
                row.append(str(v))
            elif name == "label":
                row.append(int(v))
            else:
                row.append(f"{float(v):.6f}")
        w.writerow(row)
    return buf.getvalue()


__all__ = [
    "COMMITTED_RESULTS_DIR",
    "DEFAULT_RESULTS_DIR",
    "RESULT_SCHEMA",
    "ResultStore",
    "default_leaderboard_dir",
    "interval",
    "number",
    "result_key",
    "videos_csv",
    "write_result_files",
]
