"""Face extraction: sampling, detectors, crops, bad media, and the cache."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from helpers import face_image, face_video

from harness import faces as _faces
from harness.datasets._base import DatasetIndex, VideoRecord
from harness.faces import (
    FaceCache,
    FaceConfig,
    crops_to_tensor,
    extract_faces,
    read_frames,
    sample_indices,
    square_crop,
)


def _record(vid: str, path: str, label: int = 0, media: str = "video") -> VideoRecord:
    return VideoRecord(video_id=vid, path=path, label=label, group=vid, media=media)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, DatasetIndex]:
    root = tmp_path_factory.mktemp("media")
    face_video(root / "real" / "a.mp4", n=10)
    face_video(root / "fake" / "b.mp4", n=6, seed=1)
    face_video(root / "real" / "noface.mp4", n=6, with_face=False)
    (root / "fake" / "corrupt.mp4").write_bytes(os.urandom(2048))
    (root / "fake" / "empty.mp4").write_bytes(b"")
    records = [
        _record("real/a", "real/a.mp4"),
        _record("fake/b", "fake/b.mp4", 1),
        _record("real/noface", "real/noface.mp4"),
        _record("fake/corrupt", "fake/corrupt.mp4", 1),
        _record("fake/empty", "fake/empty.mp4", 1),
        _record("fake/absent", "fake/absent.mp4", 1),
    ]
    return root, DatasetIndex("unit", root, records)


def test_sample_indices_are_evenly_spaced() -> None:
    assert sample_indices(100, 5) == [0, 25, 50, 74, 99]
    assert sample_indices(3, 32) == [0, 1, 2]
    assert sample_indices(0, 8) == []


def test_pyav_and_opencv_decode_the_same_frames(media: tuple[Path, DatasetIndex]) -> None:
    root, _ = media
    i1, f1, n1 = read_frames(root / "real" / "a.mp4", 4, "pyav")
    i2, f2, n2 = read_frames(root / "real" / "a.mp4", 4, "opencv")
    assert n1 == n2 == 10 and i1 == i2 == [0, 3, 6, 9]
    assert f1[0].shape == (192, 192, 3)
    assert np.abs(f1[2].astype(int) - f2[2].astype(int)).mean() < 3  # same frame, decoder rounding


def test_square_crop_adds_margin_and_pads_at_borders() -> None:
    frame = np.full((100, 100, 3), 200, np.uint8)
    crop = square_crop(frame, [0, 0, 40, 40], margin=0.25, size=30)
    assert crop.shape == (30, 30, 3)
    assert crop[0, 0].max() == 0 and crop[-1, -1].min() == 200  # zero padding top-left only


@pytest.mark.parametrize("detector", ["haar", "mtcnn"])
def test_detectors_find_the_face_in_every_frame(media: tuple[Path, DatasetIndex], detector: str) -> None:
    _, index = media
    config = FaceConfig(detector=detector, num_frames=5, crop_size=64)  # type: ignore[arg-type]
    track = _faces.extract_track(
        index.videos[0], index.abspath(index.videos[0]), config, _faces.FaceDetector(config)
    )
    assert track.ok and track.crops is not None
    assert track.crops.shape == (5, 64, 64, 3) and track.crops.dtype == np.uint8
    assert track.frame_indices == [0, 2, 4, 7, 9]
    x1, y1, x2, y2 = track.boxes[0]
    assert 30 <= (x1 + x2) / 2 <= 110 and 20 <= (y1 + y2) / 2 <= 140  # on the pasted face


def test_bad_inputs_are_skipped_with_reasons_and_never_crash(
    media: tuple[Path, DatasetIndex], tmp_path: Path
) -> None:
    _, index = media
    config = FaceConfig(detector="haar", num_frames=4, crop_size=32)
    report = extract_faces(index, index.videos, config, cache_dir=tmp_path, progress=False)
    reasons = {s.video_id: s.reason for s in report.skipped}
    assert set(reasons) == {"real/noface", "fake/corrupt", "fake/empty", "fake/absent"}
    assert reasons["real/noface"].startswith("no face found in 4 sampled frames")
    assert reasons["fake/corrupt"].startswith("unreadable")
    assert "zero-length" in reasons["fake/empty"]
    assert reasons["fake/absent"] == "file missing"
    assert report.tracks["real/a"].ok and report.tracks["fake/b"].ok
    assert report.faces_found == 8 and report.decoded == 6


def test_second_run_decodes_and_detects_nothing(
    media: tuple[Path, DatasetIndex], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, index = media
    config = FaceConfig(detector="haar", num_frames=4, crop_size=32)
    first = extract_faces(index, index.videos, config, cache_dir=tmp_path, progress=False, with_crops=True)

    def boom(*args: object, **kwargs: object) -> None:
        raise AssertionError("decoded again")

    monkeypatch.setattr(_faces.track, "read_frames", boom)  # where decode_video reads
    monkeypatch.setattr(_faces.FaceDetector, "detect", boom)
    second = extract_faces(index, index.videos, config, cache_dir=tmp_path, progress=False, with_crops=True)
    assert second.decoded == 0
    assert len(second.skipped) == len(first.skipped) == 4  # skips are cached too
    assert np.array_equal(second.tracks["real/a"].crops, first.tracks["real/a"].crops)
    # Another setting is another cache entry: it must decode again.
    with pytest.raises(AssertionError, match="decoded again"):
        extract_faces(
            index,
            index.videos[:1],
            FaceConfig(detector="haar", num_frames=4, crop_size=32, margin=0.1),
            cache_dir=tmp_path,
            progress=False,
        )


def test_a_changed_source_file_invalidates_its_cache_entry(tmp_path: Path) -> None:
    root = tmp_path / "data"
    face_video(root / "v.mp4", n=4)
    index = DatasetIndex("unit", root, [_record("v", "v.mp4")])
    config = FaceConfig(detector="haar", num_frames=2, crop_size=32)
    assert extract_faces(index, index.videos, config, cache_dir=tmp_path, progress=False).decoded == 1
    face_video(root / "v.mp4", n=6, seed=3)  # replaced by another video
    again = extract_faces(index, index.videos, config, cache_dir=tmp_path, progress=False)
    assert again.decoded == 1 and again.tracks["v"].frame_count == 6
    meta = FaceCache("unit", config, tmp_path).paths("v")[1]
    assert meta.is_file() and '"settings_key"' in meta.read_text()


def test_precropped_face_folders_and_still_images(tmp_path: Path) -> None:
    import cv2

    folder = tmp_path / "faces" / "vid1"
    folder.mkdir(parents=True)
    for i in range(5):
        cv2.imwrite(str(folder / f"{i:03d}.png"), cv2.cvtColor(face_image(80), cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(tmp_path / "still.jpg"), cv2.cvtColor(face_image(120), cv2.COLOR_RGB2BGR))
    index = DatasetIndex(
        "unit",
        tmp_path,
        [_record("vid1", "faces/vid1", media="frames"), _record("still", "still.jpg", media="image")],
    )
    report = extract_faces(
        index,
        index.videos,
        FaceConfig(detector="none", num_frames=3, crop_size=48),
        cache_dir=tmp_path / "c",
        progress=False,
        with_crops=True,
    )
    assert report.tracks["vid1"].crops.shape == (3, 48, 48, 3)
    assert report.tracks["vid1"].frame_indices == [0, 2, 4]
    assert report.tracks["still"].crops.shape == (1, 48, 48, 3)


def test_crops_become_detector_input() -> None:
    crops = np.random.default_rng(0).integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)
    x = crops_to_tensor(crops, (32, 32))
    assert tuple(x.shape) == (3, 3, 32, 32) and float(x.min()) >= 0 and float(x.max()) <= 1
    same = crops_to_tensor(crops, (64, 64))
    assert np.allclose(same[1].permute(1, 2, 0).numpy() * 255, crops[1], atol=1e-3)
