from __future__ import annotations

from pathlib import Path

import pytest
from helpers import face_video

from harness.cli import main


def test_predict_prints_video_and_frame_probabilities(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    video = face_video(tmp_path / "clip.mp4", n=6)
    assert main(["predict", str(video), "--frames", "3", "--face-detector", "haar"]) == 0
    out = capsys.readouterr().out
    assert "fake probability" in out and "detector meso4" in out
    frames = [line for line in out.splitlines() if line.strip().startswith("frame")]
    assert len(frames) == 3 and all(0 <= float(line.split()[-1]) <= 1 for line in frames)


def test_predict_on_a_published_crop(capsys: pytest.CaptureFixture[str]) -> None:
    crop = Path(__file__).parent / "data" / "mesonet" / "df" / "df00204.jpg"
    assert main(["predict", str(crop), "--face-detector", "none"]) == 0
    assert "FAKE" in capsys.readouterr().out  # Meso4_DF: P(real) 0.048 on this crop


def test_predict_without_a_face_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    video = face_video(tmp_path / "empty.mp4", n=4, with_face=False)
    assert main(["predict", str(video), "--face-detector", "haar"]) == 3
    assert "no face found" in capsys.readouterr().err
