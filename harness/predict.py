"""``harness predict``: the fake probability of one video (or image) and of each sampled frame."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.datasets import VideoRecord
from harness.faces import FaceConfig, FaceDetector, extract_track


class NoFaceError(ValueError):
    """The input has no detectable face (or cannot be decoded)."""


@dataclass
class Prediction:
    path: Path
    probability: float  # video fake probability (mean of frame probabilities)
    frames: list[tuple[int, float]]  # (frame index, fake probability)
    frames_sampled: int
    detector: str


def face_track(source: Path, faces: FaceConfig, device: str = "auto") -> Any:
    """The face track of one video or image file (``predict``'s, ``explain``'s and the app's one
    path to faces); raises :class:`NoFaceError` naming the file and what to try."""
    media = "image" if source.suffix.lower() in (".jpg", ".jpeg", ".png", ".bmp", ".webp") else "video"
    record = VideoRecord(source.stem, source.name, 0, source.stem, media=media)  # type: ignore[arg-type]
    track = extract_track(record, source, faces, FaceDetector(faces, device))
    if not track.ok or track.crops is None:
        raise NoFaceError(
            f"{source}: {track.reason}; no face to score (try --face-detector haar, or none for face crops)"
        )
    return track


def predict(
    path: str | os.PathLike[str],
    detector: str = "meso4",
    checkpoint: str | None = "mesonet:Meso4_DF",
    faces: FaceConfig | None = None,
    device: str = "auto",
) -> Prediction:
    """Extract faces from ``path`` and score them with ``detector``; raises NoFaceError if none."""
    import numpy as np

    from harness.detectors import create_detector
    from harness.scoring import VideoCrops, fake_probabilities, make_samples, resolve_device

    source = Path(path).expanduser()
    track = face_track(source, faces or FaceConfig(), device)
    dev = resolve_device(device)
    model = create_detector(detector, checkpoint=checkpoint).to(dev)
    spec = model.spec
    samples = make_samples(
        [VideoCrops(source.stem, 0, track.crops, track.frame_indices)],
        spec.kind,
        spec.input_size,
        spec.frames_per_clip,
    )
    probs = fake_probabilities(model, samples.x, 16, dev).numpy()
    frames = list(zip(track.frame_indices, probs.tolist(), strict=False)) if spec.kind == "frame" else []
    return Prediction(source, float(np.mean(probs)), frames, track.frames_sampled, detector)
