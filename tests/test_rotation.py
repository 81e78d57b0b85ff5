"""Rotated video (phone footage with a display matrix): every decoder returns upright frames, faces
are found upright, and the pipeline threat model delivers the video with its orientation kept."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import face_image

from harness.faces import FaceConfig, FaceDetector, extract_track, read_frames
from harness.video import deliver, encode_video, iter_frames, read_video

H, W = 96, 128  # upright (displayed) size: landscape, so a quarter turn shows in the shape


def _boxes(data: bytearray, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """The ISO-BMFF boxes in ``data[start:end]``: (type, payload start, box end)."""
    while start + 8 <= end:
        size, kind = struct.unpack(">I4s", data[start : start + 8])
        head = 8
        if size == 1:  # 64-bit size
            size, head = struct.unpack(">Q", data[start + 8 : start + 16])[0], 16
        elif size == 0:
            size = end - start
        yield kind, start + head, start + size
        start += size


def set_display_rotation(path: Path, degrees: int) -> Path:
    """Store a display matrix (a counter-clockwise quarter turn) in an mp4's track header, as a
    phone does: the frames stay as stored, players rotate them. Pure Python, so it works with any
    PyAV (``VideoStream.set_display_rotation`` only exists from PyAV 18) and without the ffmpeg CLI."""
    data = bytearray(path.read_bytes())
    patched = 0
    for kind, body, end in _boxes(data, 0, len(data)):
        if kind != b"moov":
            continue
        for kind, trak, trak_end in _boxes(data, body, end):
            if kind != b"trak":
                continue
            for kind, tkhd, _ in _boxes(data, trak, trak_end):
                if kind == b"tkhd":
                    # version/flags, the times, track id and duration (v1: 64-bit times), then
                    # 8 reserved bytes and layer/group/volume/reserved (8): the 3x3 matrix
                    offset = tkhd + 4 + (32 if data[tkhd] == 1 else 20) + 16
                    c, s = round(np.cos(np.radians(degrees))), round(np.sin(np.radians(degrees)))
                    matrix = (c << 16, -s << 16, 0, s << 16, c << 16, 0, 0, 0, 1 << 30)
                    data[offset : offset + 36] = struct.pack(">9i", *matrix)
                    patched += 1
    assert patched == 1, f"{path}: expected one track header, found {patched}"
    path.write_bytes(bytes(data))
    return path


def rotated_video(path: Path, upright: list[np.ndarray], degrees: int, crf: int | str = "lossless") -> Path:
    """An mp4 that *displays* ``upright``: its frames stored turned back by ``degrees`` and a display
    matrix that turns them ``degrees`` counter-clockwise (``degrees=0``: a plain upright video)."""
    k = (degrees // 90) % 4
    stored = [np.ascontiguousarray(np.rot90(f, -k)) for f in upright]
    encode_video(path, stored, Fraction(8), crf, "veryfast")
    return set_display_rotation(path, degrees) if k else path


def marked_frames(n: int = 4) -> list[np.ndarray]:
    """Upright frames with a bright block in the top-left corner and a green one bottom-right."""
    frames = []
    for i in range(n):
        f = np.full((H, W, 3), 60 + 10 * i, dtype=np.uint8)
        f[:24, :32] = (250, 40, 40)
        f[H - 16 :, W - 24 :] = (40, 230, 40)
        frames.append(f)
    return frames


def face_frames(n: int = 4, seed: int = 0) -> list[np.ndarray]:
    """Upright frames of a real face (the astronaut) over noise, landscape."""
    rng = np.random.default_rng(seed)
    face = face_image(96)
    frames = []
    for i in range(n):
        f = (rng.random((180, 240, 3)) * 60 + 90).astype(np.uint8)
        y, x = 30 + i % 3, 70 + 2 * i
        f[y : y + face.shape[0], x : x + face.shape[1]] = face
        frames.append(f)
    return frames


def _opencv_upright(path: Path) -> np.ndarray:
    """Every frame as OpenCV shows it (it applies the display matrix): the reference orientation."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    cap.release()
    return np.stack(frames)


def _stored_rotation(path: Path) -> int:
    import av

    with av.open(str(path)) as container:
        return int(next(container.decode(video=0)).rotation)


@pytest.mark.parametrize("degrees", [90, 180, 270])
def test_both_decoders_return_the_same_upright_frames(tmp_path: Path, degrees: int) -> None:
    upright = marked_frames()
    path = rotated_video(tmp_path / f"r{degrees}.mp4", upright, degrees)
    assert _stored_rotation(path) % 360 == degrees % 360  # the file really carries the matrix
    assert np.array_equal(_opencv_upright(path), np.stack(upright))  # OpenCV rotates, lossless
    _, pyav, n = read_frames(path, 4, "pyav")
    _, opencv, _ = read_frames(path, 4, "opencv")
    assert n == 4
    for a, b, want in zip(pyav, opencv, upright, strict=True):
        assert a.shape == b.shape == (H, W, 3)
        assert np.array_equal(a, want) and np.array_equal(b, want)
    # the full-frame reader of the pipeline threat model too
    frames, _ = read_video(path)
    assert np.array_equal(frames, np.stack(upright))


def test_faces_of_a_rotated_video_are_found_upright(tmp_path: Path) -> None:
    """The face is found where it is in the upright picture, and its crop is upright: the same
    boxes and crops as the same video stored upright (lossless, so exactly the same)."""
    from harness.datasets import VideoRecord

    frames = face_frames()
    plain = rotated_video(tmp_path / "plain.mp4", frames, 0)
    turned = rotated_video(tmp_path / "turned.mp4", frames, 90)
    for decoder in ("pyav", "opencv"):
        config = FaceConfig(detector="haar", num_frames=4, crop_size=64, decoder=decoder)
        detector = FaceDetector(config)
        record = VideoRecord("v", "v.mp4", 0, "v")
        want = extract_track(record, plain, config, detector)
        got = extract_track(record, turned, config, detector)
        assert want.ok and len(want.crops) == 4
        assert got.ok, f"{decoder}: no face found in the rotated video ({got.reason})"
        assert got.frame_indices == want.frame_indices
        assert got.boxes == want.boxes, decoder
        assert np.array_equal(got.crops, want.crops), f"{decoder}: the crops are not the upright ones"


def test_the_delivered_video_keeps_the_orientation(tmp_path: Path) -> None:
    """The pipeline threat model re-encodes the source with some frames replaced: the delivered
    file shows the same upright picture as the source in any player (stored upright, no matrix)
    and decodes to exactly the attacker's frames (lossless)."""
    upright = marked_frames()
    source = rotated_video(tmp_path / "src.mp4", upright, 90)
    attacked = upright[2].copy()
    attacked[40:50, 60:70] = 255  # the attacker's change, in upright coordinates
    out = tmp_path / "delivered.mp4"
    deliver(source, out, {2: attacked}, Fraction(8), "lossless", "veryfast")
    want = np.stack([*upright[:2], attacked, *upright[3:]])
    assert _stored_rotation(out) == 0  # no matrix left for a player to apply twice
    assert np.array_equal(_opencv_upright(out), want)  # what a viewer (and OpenCV) sees
    assert np.array_equal(np.stack(list(iter_frames(out))), want)  # what the defender decodes


@pytest.mark.timeout(300)
@pytest.mark.parametrize("decoder", ["pyav", "opencv"])
def test_the_pipeline_threat_model_scores_a_rotated_video_as_intended(tmp_path: Path, decoder: str) -> None:
    """End to end on phone-like videos: the delivered files are upright, every face is found
    again where it was, and the unattacked video through a lossless codec scores exactly its
    clean score (the defender scores the frames the attacker optimized, not turned ones)."""
    from harness import workflow
    from harness.checkpoint import save_checkpoint
    from harness.data import DataConfig
    from harness.detectors import create_detector
    from harness.runner import RunConfig
    from harness.threat import ThreatConfig

    root = tmp_path / "data"
    (root / "real").mkdir(parents=True)
    (root / "fake").mkdir()
    rotated_video(root / "real" / "a.mp4", face_frames(seed=0), 90, crf=18)
    rotated_video(root / "fake" / "b.mp4", face_frames(seed=1), 270, crf=18)
    torch.manual_seed(0)
    model = create_detector("cnn", input_size=32)
    ckpt = save_checkpoint(tmp_path / "cnn.pt", model, meta=dict(model.checkpoint_meta))
    faces = FaceConfig(detector="haar", num_frames=3, crop_size=48, decoder=decoder)
    delivered = tmp_path / "delivered"
    config = RunConfig(
        detector="cnn",
        checkpoint=str(ckpt),
        attack="pgd",
        attack_options={"eps": 4 / 255, "steps": 2},
        data=DataConfig(dataset="folder", root=str(root), faces=faces, cache_dir=str(tmp_path / "cache")),
        split="all",
        n_boot=10,
        workers=0,
        threat=ThreatConfig(model="pipeline", crf="lossless", preset="veryfast"),
        save_adversarial=str(delivered),
        results_dir=str(tmp_path / "results"),
        leaderboard_dir=str(tmp_path / "lb"),
    )
    (run,) = workflow.run(config, progress=False)
    m = run.result["metrics"]
    assert m["n_videos"] == 2 and m["videos_without_face"] == 0
    assert m["faces_lost"] == 0 and m["faces_moved"] == 0
    assert m["auroc_codec"] == pytest.approx(m["auroc_clean"])
    assert m["linf_delivered_max"] <= 4 / 255 + 1e-6  # the delivered frames are the attacked ones
    for label, name in (("real", "a"), ("fake", "b")):
        (out,) = (delivered / label).glob("*.mp4")
        source = _opencv_upright(root / label / f"{name}.mp4")
        shown = _opencv_upright(out)
        assert shown.shape == source.shape == (4, 180, 240, 3)
        assert np.abs(shown.astype(int) - source.astype(int)).max() <= 4
