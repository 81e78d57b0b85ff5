"""Face detection and cropping: the largest face per frame (MTCNN from facenet-pytorch, batched,
or OpenCV's Haar cascade ``haarcascade_frontalface_alt.xml`` as in the seeds), and the square
crop with a margin around it. torch, facenet-pytorch and OpenCV are imported on first use."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from harness.faces.config import FaceConfig

HAAR_CASCADE = "haarcascade_frontalface_alt.xml"


Hit = tuple[list[float], float]  # a face box (x1, y1, x2, y2) in frame pixels and its score


class FaceDetector:
    """Largest face per frame: ``detect(frames) -> [(box x1,y1,x2,y2, score) | None]``."""

    def __init__(self, config: FaceConfig, device: str = "auto") -> None:
        self.config = config
        self.device = device
        self._mtcnn: Any = None
        self._haar: Any = None

    def detect(self, frames: Sequence[np.ndarray]) -> list[Hit | None]:
        if self.config.detector == "none":
            return [([0.0, 0.0, float(f.shape[1]), float(f.shape[0])], 1.0) for f in frames]
        scaled, scales = zip(*(self._downscale(f) for f in frames), strict=True)
        if self.config.detector == "haar":
            found = [self._haar_one(f) for f in scaled]
        else:
            found = self._mtcnn_batch(list(scaled))
        out: list[Hit | None] = []
        for hit, s in zip(found, scales, strict=True):
            out.append(None if hit is None else ([v / s for v in hit[0]], hit[1]))
        return out

    def _downscale(self, frame: np.ndarray) -> tuple[np.ndarray, float]:
        import cv2

        h, w = frame.shape[:2]
        s = min(1.0, self.config.detect_max_side / max(h, w))
        if s >= 1.0:
            return frame, 1.0
        return cv2.resize(frame, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA), s

    def _haar_one(self, frame: np.ndarray) -> Hit | None:
        import cv2

        if self._haar is None:
            self._haar = cv2.CascadeClassifier(os.path.join(cv2.data.haarcascades, HAAR_CASCADE))
            if self._haar.empty():
                raise RuntimeError(
                    f"OpenCV could not load {HAAR_CASCADE}; reinstall opencv-python-headless<5"
                )
        gray = cv2.equalizeHist(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY))
        m = self.config.min_face_size
        faces = self._haar.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=4, minSize=(m, m))
        if len(faces) == 0:
            return None
        x, y, w, h = max(faces, key=lambda b: b[2] * b[3])
        return [float(x), float(y), float(x + w), float(y + h)], 1.0

    def _mtcnn_batch(self, frames: list[np.ndarray]) -> list[Hit | None]:
        import torch

        if self._mtcnn is None:
            from facenet_pytorch import MTCNN

            device = self.device
            if device == "auto":
                device = "cuda" if torch.cuda.is_available() else "cpu"
            self._mtcnn = MTCNN(keep_all=True, device=device, min_face_size=self.config.min_face_size)
        # MTCNN batches frames of one size only: one call per size (frames of several videos).
        by_shape: dict[tuple[int, ...], list[int]] = {}
        for i, frame in enumerate(frames):
            by_shape.setdefault(frame.shape, []).append(i)
        out: list[Hit | None] = [None] * len(frames)
        for positions in by_shape.values():
            with torch.inference_mode():
                boxes, probs = self._mtcnn.detect(np.stack([frames[i] for i in positions]))
            for i, b, p in zip(positions, boxes, probs, strict=True):
                out[i] = self._largest(b, p)
        return out

    def _largest(self, boxes: np.ndarray | None, probs: np.ndarray | None) -> Hit | None:
        """The largest MTCNN face above the probability threshold, or None."""
        if boxes is None or probs is None:
            return None
        keep = [
            i for i in range(len(boxes)) if probs[i] is not None and probs[i] >= self.config.mtcnn_threshold
        ]
        if not keep:
            return None
        best = max(keep, key=lambda i: (boxes[i][2] - boxes[i][0]) * (boxes[i][3] - boxes[i][1]))
        return [float(v) for v in boxes[best]], float(probs[best])


def square_crop(
    frame: np.ndarray, box: Sequence[float], margin: float, size: int, replicate: bool = False
) -> np.ndarray:
    """Square crop around ``box`` enlarged by ``margin`` per side, zero-padded at the borders.

    Shrinking uses area averaging; growing is bilinear, or with ``replicate`` area interpolation,
    which replicates pixels at integer factors, so that shrinking back to the original size gives
    the original pixels exactly (for frames that already are face crops, ``detector="none"``:
    a saved adversarial crop is re-scored as it was saved).
    """
    import cv2

    x1, y1, x2, y2 = box
    side = max(x2 - x1, y2 - y1) * (1 + 2 * margin)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    left, top = int(round(cx - side / 2)), int(round(cy - side / 2))
    side_i = max(1, int(round(side)))
    h, w = frame.shape[:2]
    pad = max(0, -left, -top, left + side_i - w, top + side_i - h)
    if pad:
        frame = cv2.copyMakeBorder(frame, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
        left, top = left + pad, top + pad
    crop = frame[top : top + side_i, left : left + side_i]
    interp = cv2.INTER_AREA if side_i > size or replicate else cv2.INTER_LINEAR
    return cv2.resize(crop, (size, size), interpolation=interp)
