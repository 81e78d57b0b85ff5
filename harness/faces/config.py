"""Settings and results of face extraction: :class:`FaceConfig` (the cache key), :class:`FaceTrack`
(the crops of one video, or why there are none) and :class:`MediaError` (an undecodable file)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np

# 2: frames are decoded upright (display matrix applied): crops of rotated video cached before are stale
FACES_VERSION = 2


@dataclass(frozen=True)
class FaceConfig:
    """Settings of face extraction; every field is part of the cache key."""

    detector: Literal["mtcnn", "haar", "none"] = "mtcnn"
    num_frames: int = 32  # evenly spaced frames per video (DeepfakeBench, DFDC winners)
    margin: float = 0.3  # added on each side, as a fraction of the face box's larger side
    crop_size: int = 256  # stored square size; resized to each detector's input at load time
    # Pixels in the (possibly downscaled) detection frame. 40 rather than MTCNN's 20: the image
    # pyramid then starts 2x smaller, ~15x faster on CPU (measured), and a face under 40 px at
    # detection scale makes a useless crop anyway.
    min_face_size: int = 40
    # Frames are downscaled to this longer side for detection (boxes scaled back): 1080p -> 960,
    # the 2x downscale the DFDC winners ran MTCNN at.
    detect_max_side: int = 960
    mtcnn_threshold: float = 0.9  # minimum MTCNN face probability
    decoder: Literal["pyav", "opencv"] = "pyav"

    def __post_init__(self) -> None:
        if self.detector not in ("mtcnn", "haar", "none"):
            raise ValueError(f"face detector must be 'mtcnn', 'haar' or 'none', got {self.detector!r}")
        if self.decoder not in ("pyav", "opencv"):
            raise ValueError(f"decoder must be 'pyav' or 'opencv', got {self.decoder!r}")
        if self.num_frames < 1 or self.crop_size < 8 or not 0 <= self.margin <= 2:
            raise ValueError(f"invalid face settings: {self}")

    def key(self) -> str:
        extra = {"grow": "area"} if self.detector == "none" else {}  # see square_crop(replicate=)
        payload = json.dumps({"v": FACES_VERSION, **asdict(self), **extra}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


@dataclass
class FaceTrack:
    """Crops of one video (``crops``: uint8 ``(K, S, S, 3)`` RGB) or the reason there are none."""

    video_id: str
    crops: np.ndarray | None
    frame_indices: list[int] = field(default_factory=list)
    boxes: list[list[float]] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    frames_sampled: int = 0
    frame_count: int = 0
    reason: str | None = None  # set when skipped
    cached: bool = False

    @property
    def ok(self) -> bool:
        return self.reason is None and self.crops is not None and len(self.crops) > 0


class MediaError(RuntimeError):
    """A file that cannot be decoded (corrupt, zero-length, no video stream)."""
