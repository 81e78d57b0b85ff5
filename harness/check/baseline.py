"""Baseline files: read one (errors name the file and the fix), write one atomically.

A baseline is a :func:`~harness.check.snapshot.snapshot` written on purpose by
``--update-baseline`` and committed (``configs/baselines/``). It is stored with sorted keys and
two-space indents, so a re-baseline reads as a small diff.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.check.snapshot import BASELINE_SCHEMA, plain
from harness.fileio import write_text_atomic


def load_baseline(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a baseline JSON; errors name the file and the fix."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(
            f"baseline {p} not found: write one on purpose with `harness check ... --baseline {p} "
            "--update-baseline`"
        )
    try:
        data = json.loads(p.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(
            f"baseline {p} is not readable JSON ({exc}); re-create it with --update-baseline"
        ) from exc
    if not isinstance(data, dict) or "members" not in data or "clean" not in data:
        raise ValueError(f"baseline {p} is not a harness check baseline (no 'members'/'clean')")
    version = data.get("schema_version")
    if version != BASELINE_SCHEMA:
        raise ValueError(
            f"baseline {p} has schema_version {version!r}; this harness reads {BASELINE_SCHEMA}: "
            "re-create it with --update-baseline"
        )
    return data


def baseline_text(baseline: Mapping[str, Any]) -> str:
    """A baseline's file contents: sorted keys, two-space indents, a final newline."""
    return json.dumps(plain(baseline), indent=2, sort_keys=True) + "\n"


def write_baseline(path: str | os.PathLike[str], baseline: Mapping[str, Any]) -> Path:
    """Write a baseline atomically (:func:`baseline_text`), so diffs of the committed file read well."""
    return write_text_atomic(path, baseline_text(baseline))


__all__ = ["baseline_text", "load_baseline", "write_baseline"]
