"""One video's track: decode its sampled frames, detect, crop. Unusable inputs (no face, corrupt,
zero-length, absent) become a track with a ``reason``; they never raise."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.datasets import IMAGE_SUFFIXES, VideoRecord
from harness.faces.config import FaceConfig, FaceTrack, MediaError
from harness.faces.detect import FaceDetector, Hit, square_crop
from harness.faces.media import read_frames, sample_indices


@dataclass
class DecodedVideo:
    """The sampled RGB frames of one video, decoded and waiting for the face detector."""

    video_id: str
    frame_indices: list[int]
    frames: list[np.ndarray]
    frame_count: int


def decode_video(record: VideoRecord, source: Path, config: FaceConfig) -> DecodedVideo | FaceTrack:
    """Decode one video's sampled frames, or return its final track when no detector is needed.

    A pre-cropped face folder (``media="frames"``) already is its track; a file that cannot be
    read becomes a skip track with the reason. No detector, cache or GPU is touched, so this runs
    in DataLoader workers; it never raises for bad media.
    """
    if record.media == "frames":
        return _precropped_track(record, source, config)
    try:
        indices, frames, count = read_frames(source, config.num_frames, config.decoder)
    except FileNotFoundError:
        return FaceTrack(record.video_id, None, reason="file missing")
    except MediaError as exc:
        return FaceTrack(record.video_id, None, reason=f"unreadable: {exc}")
    return DecodedVideo(record.video_id, indices, frames, count)


def crop_faces(video: DecodedVideo, found: Sequence[Hit | None], config: FaceConfig) -> FaceTrack:
    """The track of a decoded video from the detector's hit per frame (crops, boxes, scores)."""
    crops, kept, boxes, scores = [], [], [], []
    # detector "none": the frame already is the face crop, so no margin is added around it.
    margin = 0.0 if config.detector == "none" else config.margin
    for i, frame, hit in zip(video.frame_indices, video.frames, found, strict=True):
        if hit is None:
            continue
        crops.append(
            square_crop(frame, hit[0], margin, config.crop_size, replicate=config.detector == "none")
        )
        kept.append(i)
        boxes.append([round(v, 2) for v in hit[0]])
        scores.append(round(hit[1], 4))
    sampled = len(video.frames)
    if not crops:
        return FaceTrack(
            video.video_id,
            None,
            frames_sampled=sampled,
            frame_count=video.frame_count,
            reason=f"no face found in {sampled} sampled frames",
        )
    return FaceTrack(
        video.video_id,
        np.stack(crops),
        kept,
        boxes,
        scores,
        frames_sampled=sampled,
        frame_count=video.frame_count,
    )


def extract_track(record: VideoRecord, source: Path, config: FaceConfig, detector: FaceDetector) -> FaceTrack:
    """Decode, detect and crop one video (no cache). Never raises for bad media: sets ``reason``."""
    decoded = decode_video(record, source, config)
    if isinstance(decoded, FaceTrack):
        return decoded
    return crop_faces(decoded, detector.detect(decoded.frames), config)


def _precropped_track(record: VideoRecord, folder: Path, config: FaceConfig) -> FaceTrack:
    import cv2

    if not folder.is_dir():
        return FaceTrack(record.video_id, None, reason="face folder missing")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    picks = sample_indices(len(files), config.num_frames)
    crops, kept = [], []
    for i in picks:
        image = cv2.imread(str(files[i]), cv2.IMREAD_COLOR)
        if image is None:
            continue
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        crops.append(cv2.resize(image, (config.crop_size, config.crop_size), interpolation=cv2.INTER_AREA))
        kept.append(i)
    if not crops:
        return FaceTrack(record.video_id, None, frames_sampled=len(picks), reason="no readable face images")
    h = w = float(config.crop_size)
    return FaceTrack(
        record.video_id,
        np.stack(crops),
        kept,
        [[0.0, 0.0, w, h]] * len(kept),
        [1.0] * len(kept),
        frames_sampled=len(picks),
        frame_count=len(files),
    )
