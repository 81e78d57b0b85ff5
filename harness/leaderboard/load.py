"""Reading a results folder: result JSON files, submission entries, transfer results and the
per-video records beside results.

Unreadable or malformed files are reported (stderr, and appended to ``errors``, which the page
lists), never fatal: one bad file must not hide the whole leaderboard.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

_REQUIRED = ("detector", "dataset", "attack", "budget_tag")
_TRANSFER_REQUIRED = ("dataset", "source", "attack", "budget_tag")


def _report(errors: list[str] | None, message: str, detail: str = "") -> None:
    """Warn on stderr; the page lists ``message`` only (no absolute paths or volatile details)."""
    print(f"leaderboard: {message}" + (f" ({detail})" if detail else ""), file=sys.stderr)
    if errors is not None:
        errors.append(message)


def _rel(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def _read_json(path: Path, results_dir: Path, errors: list[str] | None, quiet: bool = False) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        if not quiet:
            _report(
                errors, f"skipping unreadable file {_rel(path, results_dir)}", f"{type(exc).__name__}: {exc}"
            )
        return None


def load_results(results_dir: Path, errors: list[str] | None = None) -> list[dict[str, Any]]:
    """Every result JSON under ``results_dir``, each with its path in ``"_path"``.

    Submission entries (``entry.json``, no ``metrics``), transfer results (``kind: transfer``, see
    :func:`load_transfer`), certifications (``kind: certify``, see
    :func:`harness.leaderboard.certified.load_certified`) and other JSON files are ignored.
    """
    out = []
    if not results_dir.is_dir():
        return out
    for path in sorted(results_dir.rglob("*.json")):
        data = _read_json(path, results_dir, errors)
        if not isinstance(data, dict) or data.get("kind") in ("entry", "transfer", "certify"):
            continue
        if "schema_version" in data and "metrics" in data:
            missing = [k for k in _REQUIRED if not isinstance(data.get(k), str)]
            if missing or not isinstance(data["metrics"], dict):
                _report(
                    errors,
                    f"skipping malformed result {_rel(path, results_dir)}: missing {missing or 'metrics'}",
                )
                continue
            data["_path"] = str(path)
            out.append(data)
    return out


def load_entries(results_dir: Path, errors: list[str] | None = None) -> list[dict[str, Any]]:
    """Submission entries (``results/<dataset>/<name>/entry.json``, written by ``harness submit``)."""
    out = []
    if not results_dir.is_dir():
        return out
    for path in sorted(results_dir.rglob("entry.json")):
        data = _read_json(path, results_dir, errors, quiet=True)  # load_results reports it
        if isinstance(data, dict) and data.get("kind") == "entry" and isinstance(data.get("name"), str):
            data["_path"] = str(path)
            out.append(data)
        elif data is not None:
            _report(errors, f"skipping malformed entry {_rel(path, results_dir)}")
    return out


def load_transfer(results_dir: Path, errors: list[str] | None = None) -> list[dict[str, Any]]:
    """Transfer results (``results/<dataset>/transfer/*.json``, written by ``harness transfer``),
    each with its path in ``"_path"``; malformed ones are reported and skipped."""
    out = []
    if not results_dir.is_dir():
        return out
    for path in sorted(results_dir.rglob("*.json")):
        data = _read_json(path, results_dir, errors, quiet=True)  # load_results reports it
        if not isinstance(data, dict) or data.get("kind") != "transfer":
            continue
        missing = [k for k in _TRANSFER_REQUIRED if not isinstance(data.get(k), str)]
        targets = data.get("targets")
        if missing or not isinstance(targets, dict) or not all(isinstance(t, dict) for t in targets.values()):
            _report(
                errors,
                f"skipping malformed transfer result {_rel(path, results_dir)}: missing {missing or 'targets'}",
            )
            continue
        data["_path"] = str(path)
        out.append(data)
    return out


@dataclass(frozen=True)
class VideoRecords:
    """Per-video scores of one result (its ``.videos.csv``): ids, labels (1 = fake), scores."""

    ids: tuple[str, ...]
    labels: np.ndarray
    clean: np.ndarray
    adv: np.ndarray


def records_path(result: Mapping[str, Any]) -> Path:
    """``<result>.videos.csv`` beside a result JSON."""
    return Path(result["_path"]).with_suffix(".videos.csv")


def load_records(
    results: Sequence[Mapping[str, Any]], errors: list[str] | None = None
) -> dict[str, VideoRecords]:
    """Per-video records of each result that has readable ones, keyed by the result's ``_path``."""
    out: dict[str, VideoRecords] = {}
    for r in results:
        path = records_path(r)
        if not path.is_file():
            continue
        try:
            with path.open(newline="") as f:
                rows = list(csv.DictReader(f))
            rec = VideoRecords(
                tuple(row["video_id"] for row in rows),
                np.array([int(row["label"]) for row in rows], dtype=np.int64),
                np.array([float(row["clean_score"]) for row in rows], dtype=np.float64),
                np.array([float(row["adv_score"]) for row in rows], dtype=np.float64),
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            _report(
                errors,
                f"skipping unreadable records {'/'.join(path.parts[-3:])}",
                f"{type(exc).__name__}: {exc}",
            )
            continue
        finite = np.isfinite(rec.clean).all() and np.isfinite(rec.adv).all()
        if rows and finite and np.isin(rec.labels, (0, 1)).all():
            out[str(r["_path"])] = rec
    return out
