"""`harness data prepare` end to end: index -> manifest -> faces -> summary table."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from helpers import REPO_ROOT, face_video

from harness.cli import main


def _rate(out: str) -> float:
    match = re.search(r"faces found in (\d+) of (\d+) sampled frames", out)
    assert match, out
    return int(match.group(1)) / int(match.group(2))


def test_prepare_tiny_synthetic_twice(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = [
        "data",
        "prepare",
        "-o",
        "size=tiny",
        "--cache-dir",
        str(tmp_path),
        "--face-detector",
        "haar",
        "-q",
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert _rate(out) >= 0.9  # Haar misses a few frames of the LFW-faced identities
    for split in ("train", "val", "test"):
        assert re.search(rf"^{split}\s+[1-9]\d*\s+[1-9]\d*", out, re.M), out
    manifest = re.search(r"-> (\S+\.json)", out).group(1)  # type: ignore[union-attr]
    assert Path(manifest).is_file() and Path(manifest).is_relative_to(tmp_path)
    assert main(args) == 0
    again = capsys.readouterr().out
    assert "0 videos decoded in this run" in again
    assert again.split("manifest ")[1][:12] == out.split("manifest ")[1][:12]  # same seed, same hash


def test_prepare_reports_bad_files_and_keeps_going(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "data"
    for i in range(3):
        face_video(root / "real" / f"r{i}.mp4", n=4, seed=i)
        face_video(root / "fake" / f"f{i}.mp4", n=4, seed=10 + i)
    face_video(root / "fake" / "noface.mp4", n=4, with_face=False)
    (root / "real" / "corrupt.mp4").write_bytes(os.urandom(1000))
    (root / "real" / "empty.mp4").write_bytes(b"")
    rc = main(
        [
            "data",
            "prepare",
            "--dataset",
            "folder",
            "--root",
            str(root),
            "--cache-dir",
            str(tmp_path / "c"),
            "--face-detector",
            "haar",
            "--frames",
            "4",
            "-q",
        ]
    )
    assert rc == 0
    out = capsys.readouterr().out
    assert "skipped 3 entries" in out
    assert "no face found in N sampled frames" in out and "unreadable" in out and "zero-length" in out
    assert re.search(r"^all\s+5\s+4\s+9\s+6\s", out, re.M), out


def test_prepare_the_mesonet_crops_as_given(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(
        [
            "data",
            "prepare",
            "--dataset",
            "folder",
            "--root",
            str(REPO_ROOT / "tests" / "data" / "mesonet"),
            "--cache-dir",
            str(tmp_path),
            "--face-detector",
            "none",
            "-q",
        ]
    )
    assert rc == 0
    out = capsys.readouterr().out
    assert re.search(r"^all\s+2\s+2\s+4\s+4\s+4/4", out, re.M), out


def test_real_dataset_without_root_is_one_clear_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "prepare", "--dataset", "celebdf", "-q"]) == 2
    assert "needs --root" in capsys.readouterr().err
    assert main(["data", "prepare", "--dataset", "celebdf", "--root", "/nonexistent/celeb", "-q"]) == 2
    assert "/nonexistent/celeb" in capsys.readouterr().err
