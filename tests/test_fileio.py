"""The one atomic file writer: whole files or nothing, readable by others, UTF-8."""

from __future__ import annotations

import json
import math
import os
import stat
from pathlib import Path

import numpy as np
import pytest

from harness.fileio import atomic_open, jsonable, write_json_atomic, write_text_atomic


def test_files_get_the_mode_open_would_give_not_0600(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        path = write_json_atomic(tmp_path / "r.json", {"a": 1})
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644, "results and tables are meant to be read"


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    path = write_text_atomic(tmp_path / "t.md", "old")
    with pytest.raises(RuntimeError), atomic_open(path) as f:
        f.write("half of the new")
        raise RuntimeError("killed mid-write")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["t.md"]


def test_text_is_utf8_whatever_the_locale(tmp_path: Path) -> None:
    path = write_text_atomic(tmp_path / "u.md", "Rössler, 95% CI – Δ")
    assert path.read_bytes().decode("utf-8") == "Rössler, 95% CI – Δ"


def test_json_never_reads_back_a_number_that_was_not_computed(tmp_path: Path) -> None:
    data = jsonable({"nan": math.nan, "inf": np.float64("inf"), "n": np.int64(3), "p": tmp_path})
    back = json.loads(write_json_atomic(tmp_path / "j.json", data).read_text())
    assert back == {"nan": None, "inf": "inf", "n": 3, "p": str(tmp_path)}
