"""Streaming face extraction: decode workers, detector batches across videos, sharding."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import face_image, face_video

from harness import faces as _faces
from harness.datasets._base import DatasetIndex, VideoRecord
from harness.faces import ExtractionReport, FaceConfig, FaceTrack, extract_faces

CONFIG = FaceConfig(detector="haar", num_frames=4, crop_size=32)
BAD = {"real/noface", "fake/corrupt", "fake/empty", "fake/absent"}


def _record(vid: str, path: str, label: int = 0, media: str = "video") -> VideoRecord:
    return VideoRecord(video_id=vid, path=path, label=label, group=vid, media=media)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> DatasetIndex:
    """Videos of two frame sizes, a pre-cropped face folder, a still, and every kind of bad file."""
    import cv2

    root = tmp_path_factory.mktemp("media")
    face_video(root / "real" / "a.mp4", n=6)
    face_video(root / "real" / "b.mp4", n=5, size=160, seed=1)
    face_video(root / "fake" / "c.mp4", n=4, seed=2)
    face_video(root / "fake" / "d.mp4", n=7, size=160, seed=3)
    face_video(root / "real" / "noface.mp4", n=4, with_face=False)
    (root / "fake" / "corrupt.mp4").write_bytes(os.urandom(2048))
    (root / "fake" / "empty.mp4").write_bytes(b"")
    folder = root / "faces" / "e"
    folder.mkdir(parents=True)
    for i in range(5):
        cv2.imwrite(str(folder / f"{i:03d}.png"), cv2.cvtColor(face_image(48 + i), cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(root / "still.jpg"), cv2.cvtColor(face_image(120), cv2.COLOR_RGB2BGR))
    records = [
        _record("real/a", "real/a.mp4"),
        _record("fake/corrupt", "fake/corrupt.mp4", 1),
        _record("real/b", "real/b.mp4"),
        _record("faces/e", "faces/e", media="frames"),
        _record("fake/c", "fake/c.mp4", 1),
        _record("real/noface", "real/noface.mp4"),
        _record("fake/empty", "fake/empty.mp4", 1),
        _record("still", "still.jpg", media="image"),
        _record("fake/d", "fake/d.mp4", 1),
        _record("fake/absent", "fake/absent.mp4", 1),
    ]
    return DatasetIndex("unit", root, records)


def _entries(cache_dir: Path) -> dict[str, Any]:
    """Every cache file under ``cache_dir``: JSON parsed, crops as arrays, by path relative to it."""
    out: dict[str, Any] = {}
    for path in sorted(cache_dir.rglob("*")):
        if path.suffix == ".json":
            out[str(path.relative_to(cache_dir))] = json.loads(path.read_text())
        elif path.suffix == ".npz":
            with np.load(path) as data:
                out[str(path.relative_to(cache_dir))] = data["crops"]
    return out


def _assert_same_entries(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert a.keys() == b.keys()
    for name, value in a.items():
        if isinstance(value, np.ndarray):
            assert np.array_equal(value, b[name]), name
        else:
            assert value == b[name], name


def _summary(report: ExtractionReport) -> dict[str, Any]:
    """A report as plain data (without ``cached``, which says where a track came from)."""

    def track(t: FaceTrack) -> tuple[Any, ...]:
        shape = None if t.crops is None else t.crops.shape
        return (t.frame_indices, t.boxes, t.scores, t.frames_sampled, t.frame_count, t.reason, shape)

    return {
        "tracks": {vid: track(t) for vid, t in report.tracks.items()},
        "skipped": report.skipped,
        "faces": (report.faces_found, report.frames_sampled),
    }


def test_workers_write_the_same_cache_as_in_process_and_as_extract_track(
    media: DatasetIndex, tmp_path: Path
) -> None:
    serial = extract_faces(media, media.videos, CONFIG, tmp_path / "w0", progress=False)
    parallel = extract_faces(
        media, media.videos, CONFIG, tmp_path / "w2", progress=False, workers=2, detect_batch=5
    )
    assert serial.decoded == parallel.decoded == len(media.videos)
    assert _summary(parallel) == _summary(serial)
    first = _entries(tmp_path / "w0")
    assert len(first) == 2 * len(media.videos) - len(BAD)  # JSON for all, crops for the usable
    _assert_same_entries(_entries(tmp_path / "w2"), first)
    # The streamed crops (several videos per detector call) are those of one video at a time.
    detector = _faces.FaceDetector(CONFIG)
    cache = _faces.FaceCache("unit", CONFIG, tmp_path / "w0")
    for record in media.videos:
        alone = _faces.extract_track(record, media.abspath(record), CONFIG, detector)
        cached = cache.load(record, media.abspath(record))
        assert cached is not None
        assert (alone.boxes, alone.scores, alone.reason) == (cached.boxes, cached.scores, cached.reason)
        assert (alone.crops is None and cached.crops is None) or np.array_equal(alone.crops, cached.crops)


def test_bad_media_become_skip_records_in_worker_processes(media: DatasetIndex, tmp_path: Path) -> None:
    report = extract_faces(media, media.videos, CONFIG, tmp_path, progress=False, workers=2)
    reasons = {s.video_id: s.reason for s in report.skipped}
    assert set(reasons) == BAD
    assert reasons["real/noface"] == "no face found in 4 sampled frames"
    assert reasons["fake/corrupt"].startswith("unreadable")
    assert "zero-length" in reasons["fake/empty"]
    assert reasons["fake/absent"] == "file missing"
    assert report.tracks["faces/e"].frame_indices == [0, 1, 3, 4]  # pre-cropped, via the workers
    assert all(report.tracks[r.video_id].ok for r in media.videos if r.video_id not in BAD)


def test_reports_keep_crop_counts_but_no_pixels(media: DatasetIndex, tmp_path: Path) -> None:
    report = extract_faces(media, media.videos[:3], CONFIG, tmp_path, progress=False)
    crops = report.tracks["real/b"].crops
    assert crops is not None and crops.shape == (4, 0, 0, 3)
    assert crops.base is None  # not a view that would keep the full crops alive


def test_shards_extract_every_video_once_then_the_cache_gives_the_full_report(
    media: DatasetIndex, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = extract_faces(media, media.videos, CONFIG, tmp_path / "whole", progress=False, with_crops=True)
    shards = [
        extract_faces(
            media, media.videos, CONFIG, tmp_path / "sharded", progress=False, rank=rank, world_size=2
        )
        for rank in (0, 1)
    ]
    ids = [set(s.tracks) for s in shards]
    assert ids[0] == {r.video_id for r in media.videos[0::2]}
    assert not ids[0] & ids[1] and ids[0] | ids[1] == {r.video_id for r in media.videos}
    assert [s.decoded for s in shards] == [len(i) for i in ids]  # each video decoded by one shard
    assert {s.video_id for s in shards[0].skipped + shards[1].skipped} == BAD

    def boom(*args: object, **kwargs: object) -> None:
        raise AssertionError("decoded again")

    monkeypatch.setattr(_faces.extract, "decode_video", boom)  # where the decode workers call it
    monkeypatch.setattr(_faces.FaceDetector, "detect", boom)
    full = extract_faces(media, media.videos, CONFIG, tmp_path / "sharded", progress=False, with_crops=True)
    assert full.decoded == 0 and all(t.cached for t in full.tracks.values())
    assert _summary(full) == _summary(whole)
    assert list(full.tracks) == [r.video_id for r in media.videos]  # records order, not shard order
    for vid, track in whole.tracks.items():
        if track.ok:
            assert np.array_equal(full.tracks[vid].crops, track.crops)


@pytest.mark.parametrize(
    ("keywords", "match"),
    [
        ({"rank": 0, "world_size": 0}, "world_size"),
        ({"rank": 2, "world_size": 2}, "rank"),
        ({"rank": -1, "world_size": 2}, "rank"),
        ({"rank": 1}, "rank"),
        ({"world_size": 1.5}, "world_size"),
        ({"workers": -1}, "workers"),
        ({"detect_batch": 0}, "detect_batch"),
    ],
)
def test_bad_shard_and_stream_settings_are_clear_errors(
    media: DatasetIndex, tmp_path: Path, keywords: dict[str, Any], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        extract_faces(media, media.videos, CONFIG, tmp_path, progress=False, **keywords)
    assert not any(tmp_path.iterdir())  # rejected before any work


class _Recorder(_faces.FaceDetector):
    """A face detector that records how many frames each call gets."""

    def __init__(self, config: FaceConfig) -> None:
        super().__init__(config)
        self.calls: list[int] = []

    def detect(self, frames: Sequence[np.ndarray]) -> list[_faces.Hit | None]:
        self.calls.append(len(frames))
        return super().detect(frames)


@pytest.mark.parametrize(
    ("detect_batch", "calls"),
    [(1, [4, 4, 4, 4, 1, 4]), (6, [8, 8, 5]), (64, [21])],  # a, b | c, noface | still, d
)
def test_detector_batches_are_bounded_and_span_videos(
    media: DatasetIndex, detect_batch: int, calls: list[int]
) -> None:
    detector = _Recorder(CONFIG)
    jobs = [(r, media.abspath(r)) for r in media.videos]
    done = dict(_faces.stream_tracks(jobs, CONFIG, detector, detect_batch=detect_batch))
    assert sorted(done) == list(range(len(jobs)))  # every video once, bad ones included
    assert detector.calls == calls  # each decodable video's sampled frames, in a batch of several
    assert max(calls) < detect_batch + CONFIG.num_frames  # frames in flight stay bounded


def test_mtcnn_detects_frames_of_several_sizes_in_one_call(media: DatasetIndex) -> None:
    config = FaceConfig(detector="mtcnn", num_frames=2, crop_size=32)
    detector = _faces.FaceDetector(config, device="cpu")
    a = _faces.read_frames(media.abspath(media.videos[0]), 2)[1]  # 192 px
    b = _faces.read_frames(media.abspath(media.videos[2]), 2)[1]  # 160 px
    together = detector.detect([a[0], b[0], a[1], b[1]])
    alone_a, alone_b = detector.detect(a), detector.detect(b)
    assert together == [alone_a[0], alone_b[0], alone_a[1], alone_b[1]]
    assert all(hit is not None for hit in together)


def test_package_import_is_light_and_keeps_its_names() -> None:
    """``harness.faces`` (a package) imports no decoder, detector or torch, and re-exports its API."""
    heavy = "{'torch', 'av', 'cv2', 'facenet_pytorch', 'tqdm'}"
    code = f"import sys, harness.faces; bad = {heavy} & set(sys.modules); assert not bad, bad"
    subprocess.run([sys.executable, "-c", code], check=True)
    missing = [name for name in _faces.__all__ if not hasattr(_faces, name)]
    assert not missing, missing
