"""Test helpers: small detector variants so the conformance suite stays fast on 2 CPU cores."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import torch

from harness.detectors import DETECTORS

REPO_ROOT = Path(__file__).resolve().parent.parent

# Extra options that keep heavy defaults small; everything else comes from the builder's defaults.
_SMALL_EXTRAS: dict[str, dict[str, Any]] = {
    "cnn_lstm": {"hidden_size": 32, "frames_per_clip": 3},
}
SMALL_SIZE = (64, 64)


def small_overrides(name: str) -> dict[str, Any]:
    """Options that build a fast variant of any registered detector (new ones included)."""
    params = inspect.signature(DETECTORS.get(name)).parameters
    opts: dict[str, Any] = {"input_size": SMALL_SIZE} if "input_size" in params else {}
    opts.update({k: v for k, v in _SMALL_EXTRAS.get(name, {}).items() if k in params})
    return opts


def sample_input(model: torch.nn.Module, batch: int = 2, seed: int = 0) -> torch.Tensor:
    """A [0,1] batch shaped for ``model.spec`` (clips get ``frames_per_clip`` frames)."""
    gen = torch.Generator().manual_seed(seed)
    spec = model.spec
    shape: tuple[int, ...] = (batch, 3, *spec.input_size)
    if spec.kind == "clip":
        shape = (batch, spec.frames_per_clip, 3, *spec.input_size)
    return torch.rand(shape, generator=gen)


def face_image(size: int = 96):  # -> np.ndarray
    """The astronaut's face (scikit-image sample data), cropped and resized: a real face."""
    import cv2
    from skimage import data

    face = data.astronaut()[30:230, 140:320]  # head region of the 512x512 image
    return cv2.resize(face, (size, int(size * face.shape[0] / face.shape[1])), interpolation=cv2.INTER_AREA)


def write_video(path: Path, frames: list, fps: int = 8) -> Path:
    """Write RGB uint8 frames as H.264 mp4 with PyAV."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = frames[0].shape[:2]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"crf": "18", "preset": "veryfast"}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def face_video(path: Path, n: int = 8, size: int = 192, with_face: bool = True, seed: int = 0) -> Path:
    """A small mp4 with the face moving a little over a noisy background (or no face at all)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    face = face_image(96)
    frames = []
    for i in range(n):
        frame = (rng.random((size, size, 3)) * 60 + 90).astype(np.uint8)
        if with_face:
            y, x = 30 + i % 3, 40 + 2 * i
            frame[y : y + face.shape[0], x : x + face.shape[1]] = face
        frames.append(frame)
    return write_video(path, frames)
