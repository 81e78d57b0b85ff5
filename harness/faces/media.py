"""Reading frames: ``num_frames`` evenly spaced RGB frames of a video (PyAV or OpenCV), an image,
or a folder of images (an image sequence).

Frames are returned *upright*, as a player shows them: phone footage is often stored sideways with
a display matrix (a rotation in the container) that players apply. OpenCV applies it; PyAV hands
frames over as stored, so :func:`upright_rgb` turns them. Both decoders then give the same
orientation and pixels (up to decoder rounding), and faces are detected and cropped upright. Only
quarter turns are applied (the nearest one to the matrix's angle) and flips are ignored, as OpenCV
does.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from harness.datasets import IMAGE_SUFFIXES
from harness.faces.config import MediaError


def sample_indices(frame_count: int, num_frames: int) -> list[int]:
    """``num_frames`` evenly spaced indices in ``[0, frame_count)`` (all frames if fewer)."""
    if frame_count <= 0:
        return []
    if frame_count <= num_frames:
        return list(range(frame_count))
    return sorted({int(round(i)) for i in np.linspace(0, frame_count - 1, num_frames)})


def read_frames(
    path: Path, num_frames: int, decoder: str = "pyav"
) -> tuple[list[int], list[np.ndarray], int]:
    """Decode ``num_frames`` evenly spaced RGB frames; returns (indices, frames, frame_count).

    ``path`` is a video file, an image (one frame) or a folder of images (an image sequence: the
    frames of one video in file-name order).
    """
    if path.is_dir():
        return _read_image_sequence(path, num_frames)
    if not path.is_file():
        raise FileNotFoundError(f"file not found: {path}")
    if path.stat().st_size == 0:
        raise MediaError("zero-length file")
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return [0], [_read_image(path)], 1
    if decoder == "opencv":
        return _read_opencv(path, num_frames)
    return _read_pyav(path, num_frames)


def image_sequence(folder: Path) -> list[Path]:
    """The frames of an image-sequence folder: its image files in name order (hidden ones skipped)."""
    return sorted(
        p
        for p in folder.iterdir()
        if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file() and not p.name.startswith(".")
    )


def _read_image_sequence(folder: Path, num_frames: int) -> tuple[list[int], list[np.ndarray], int]:
    files = image_sequence(folder)
    if not files:
        raise MediaError("folder holds no image frames")
    indices = sample_indices(len(files), num_frames)
    frames = []
    for i in indices:
        try:
            frames.append(_read_image(files[i]))
        except MediaError as exc:
            raise MediaError(f"{files[i].name}: {exc}") from exc
    return indices, frames, len(files)


def _read_image(path: Path) -> np.ndarray:
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise MediaError("unreadable image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _read_pyav(path: Path, num_frames: int) -> tuple[list[int], list[np.ndarray], int]:
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise MediaError("no video stream")
            stream = container.streams.video[0]
            count = int(stream.frames or 0)
            if count <= 0:  # container does not say: count packets (cheap, no decoding)
                count = sum(1 for p in container.demux(stream) if p.size)
                container.seek(0)
            wanted = set(sample_indices(count, num_frames))
            indices, frames = [], []
            turns = 0
            for i, frame in enumerate(container.decode(stream)):
                if i == 0:  # the first frame's matrix holds for the stream: one shape throughout
                    turns = quarter_turns(frame)
                if i in wanted:
                    indices.append(i)
                    frames.append(upright_rgb(frame, turns))
                    if len(indices) == len(wanted):
                        break
    except av.error.FFmpegError as exc:
        raise MediaError(f"cannot decode ({type(exc).__name__}: {exc})") from exc
    if not frames:
        raise MediaError("no decodable frames")
    return indices, frames, count


def _read_opencv(path: Path, num_frames: int) -> tuple[list[int], list[np.ndarray], int]:
    import cv2

    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise MediaError("OpenCV cannot open the file")
        # upright, as PyAV's frames are turned by upright_rgb (already the default of OpenCV's
        # FFmpeg backend; said here so a build with another default agrees too)
        cap.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        wanted = set(sample_indices(count, num_frames))
        indices, frames = [], []
        for i in range(count):
            if i in wanted:
                ok, frame = cap.read()
                if not ok:
                    break
                indices.append(i)
                frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
                if len(indices) == len(wanted):
                    break
            elif not cap.grab():
                break
    finally:
        cap.release()
    if not frames:
        raise MediaError("no decodable frames")
    return indices, frames, count


def quarter_turns(frame: Any) -> int:
    """How many quarter turns counter-clockwise a decoded PyAV frame's display matrix asks for
    (0..3; 0 without a matrix): its angle rounded to the nearest quarter turn."""
    angle = getattr(frame, "rotation", None)  # PyAV >= 14.1: counter-clockwise degrees
    if angle is None:  # older PyAV: the matrix itself, read as FFmpeg's av_display_rotation_get
        data = frame.side_data.get("DISPLAYMATRIX")
        if data is None:
            return 0
        m = np.frombuffer(bytes(data), dtype=np.int32)[:9].astype(np.float64)
        sx, sy = math.hypot(m[0], m[3]), math.hypot(m[1], m[4])
        if not sx or not sy:  # a degenerate matrix: nothing to apply
            return 0
        angle = -math.degrees(math.atan2(m[1] / sy, m[0] / sx))
    return int(round(float(angle) / 90)) % 4


def upright_rgb(frame: Any, turns: int | None = None) -> np.ndarray:
    """A decoded PyAV frame as uint8 RGB ``(H, W, 3)``, turned upright by its display matrix
    (``turns``: quarter turns counter-clockwise, by default the frame's own), as players and
    OpenCV show it."""
    image = frame.to_ndarray(format="rgb24")
    turns = quarter_turns(frame) if turns is None else turns % 4
    return np.ascontiguousarray(np.rot90(image, turns)) if turns else image
