"""Resumable per-batch records: an append-only log per process, safe against SIGKILL.

A run writes one JSON line per finished batch (its unit of work) to ``<dir>/rank<r>.jsonl`` and
``fsync``s it before the next batch starts. A kill (or power loss) can tear at most the last
line; reading drops a line that does not parse or lacks its newline, and reopening for append
truncates the file to its last complete line first, so the next record never lands on a torn
fragment. Re-running the same command reads *every* rank's log (whatever the previous number of
processes was), skips the batches already there, and recomputes at most the one batch each
process was in the middle of. A line that parses but is not a record (edited, or damaged into
other valid JSON) is skipped with a warning naming the file and line. Floats are written by
``json`` in shortest round-trip form, so a resumed run's numbers are bit-identical to an
uninterrupted one's.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any


class RecordLog:
    """The records of one stage of one run (e.g. clean scores, or one attack member)."""

    def __init__(self, folder: str | os.PathLike[str], rank: int = 0) -> None:
        self.dir = Path(folder)
        self.path = self.dir / f"rank{rank}.jsonl"
        self._file: Any = None

    def done(self) -> dict[int, dict[str, Any]]:
        """Every complete record in the folder (all ranks), by unit index."""
        out: dict[int, dict[str, Any]] = {}
        if not self.dir.is_dir():
            return out
        for path in sorted(self.dir.glob("rank*.jsonl")):
            with open(path, "rb") as f:
                for lineno, line in enumerate(f, 1):
                    if not line.endswith(b"\n"):
                        break  # torn by a kill: the batch is recomputed
                    try:
                        rec = json.loads(line)
                    except ValueError:
                        continue
                    unit = rec.get("unit") if isinstance(rec, dict) else None
                    if type(unit) is not int:  # valid JSON, but not a record this log writes
                        print(
                            f"harness: warning: {path}:{lineno}: not a resume record (an object with "
                            "an integer 'unit' expected); skipped, its batch is recomputed",
                            file=sys.stderr,
                        )
                        continue
                    out[unit] = rec
        return out

    def append(self, record: dict[str, Any]) -> None:
        """Write one record durably (one line, flushed and fsynced)."""
        if self._file is None:
            self.dir.mkdir(parents=True, exist_ok=True)
            _truncate_torn_tail(self.path)
            self._file = open(self.path, "ab")  # noqa: SIM115 - kept open across batches
        self._file.write(json.dumps(record, separators=(",", ":")).encode() + b"\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> RecordLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _truncate_torn_tail(path: Path) -> None:
    """Cut a file back to its last newline (a torn final line from a killed writer)."""
    if not path.exists():
        return
    data = path.read_bytes()
    keep = data.rfind(b"\n") + 1
    if keep != len(data):
        with open(path, "r+b") as f:
            f.truncate(keep)
            f.flush()
            os.fsync(f.fileno())


def remove(folder: str | os.PathLike[str]) -> None:
    """Delete a stage's records once its result is written (missing is fine)."""
    shutil.rmtree(folder, ignore_errors=True)


__all__ = ["RecordLog", "remove"]
