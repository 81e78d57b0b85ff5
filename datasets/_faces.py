"""Face extraction shared by every dataset: sampled frames -> detected faces -> cached crops.

For each video: ``num_frames`` evenly spaced frames are decoded (PyAV or OpenCV), a face detector
(MTCNN from facenet-pytorch, batched and on the GPU when there is one, or OpenCV's Haar cascade
``haarcascade_frontalface_alt.xml`` as in the seeds) finds faces, the largest face is kept, and a
square crop with a margin is stored at a fixed size (resized to each detector's input at load
time). ``detector="none"`` takes whole frames as already-cropped faces.

Cache: one compressed ``.npz`` (crops) plus one ``.json`` (frame indices, boxes, scores, settings,
source size and mtime) per video, under a folder keyed by every setting. A second run decodes and
detects nothing. Unusable inputs (no face, corrupt, zero-length, absent) become skip records with a
reason; they never crash a run, and the skip is cached too.

At scale (:func:`extract_faces`): videos are decoded in DataLoader worker processes, the detector
runs here on batches of frames gathered across videos, each video is cached as soon as it is done
(an interrupted run resumes), memory is bounded by the batch, not the dataset, and
``rank``/``world_size`` split the videos between processes or machines sharing one cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from harness.datasets._base import IMAGE_SUFFIXES, DatasetIndex, Skipped, VideoRecord, cache_root

FACES_VERSION = 1
HAAR_CASCADE = "haarcascade_frontalface_alt.xml"


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


# -- frame decoding -------------------------------------------------------------------------------
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
            for i, frame in enumerate(container.decode(stream)):
                if i in wanted:
                    indices.append(i)
                    frames.append(frame.to_ndarray(format="rgb24"))
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


# -- face detectors ---------------------------------------------------------------------------------
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


# -- cache ------------------------------------------------------------------------------------------
def _safe_name(video_id: str) -> str:
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", video_id)
    return f"{name[:80]}-{hashlib.sha1(video_id.encode()).hexdigest()[:8]}"


class FaceCache:
    """Per-video crops + JSON under ``<cache>/faces/<dataset>/<settings key>/``."""

    def __init__(self, dataset: str, config: FaceConfig, cache_dir: str | os.PathLike[str] | None = None):
        self.config = config
        self.dir = cache_root(cache_dir) / "faces" / dataset / config.key()

    def paths(self, video_id: str) -> tuple[Path, Path]:
        stem = self.dir / _safe_name(video_id)
        return stem.with_suffix(".npz"), stem.with_suffix(".json")

    def load(self, record: VideoRecord, source: Path, with_crops: bool = True) -> FaceTrack | None:
        """The cached track, or None when missing or stale (source file changed)."""
        npz, meta_path = self.paths(record.video_id)
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError):
            return None
        if meta.get("settings_key") != self.config.key() or meta.get("source") != _source_stamp(source):
            return None
        crops = None
        if meta.get("reason") is None:
            if not with_crops:
                crops = np.empty((meta["faces_found"], 0, 0, 3), dtype=np.uint8)
            else:
                try:
                    with np.load(npz) as data:
                        crops = data["crops"]
                except (OSError, ValueError, KeyError):
                    return None
        return FaceTrack(
            video_id=record.video_id,
            crops=crops,
            frame_indices=meta["frame_indices"],
            boxes=meta["boxes"],
            scores=meta["scores"],
            frames_sampled=meta["frames_sampled"],
            frame_count=meta["frame_count"],
            reason=meta.get("reason"),
            cached=True,
        )

    def save(self, record: VideoRecord, source: Path, track: FaceTrack) -> None:
        npz, meta_path = self.paths(record.video_id)
        self.dir.mkdir(parents=True, exist_ok=True)
        if track.ok:
            fd, tmp = tempfile.mkstemp(dir=self.dir, suffix=".npz.tmp")
            with os.fdopen(fd, "wb") as f:
                np.savez_compressed(f, crops=track.crops)
            os.replace(tmp, npz)
        meta = {
            "video_id": record.video_id,
            "path": record.path,
            "source": _source_stamp(source),
            "settings": asdict(self.config),
            "settings_key": self.config.key(),
            "frame_count": track.frame_count,
            "frames_sampled": track.frames_sampled,
            "faces_found": 0 if track.crops is None else len(track.crops),
            "frame_indices": track.frame_indices,
            "boxes": track.boxes,
            "scores": track.scores,
            "reason": track.reason,
        }
        fd, tmp = tempfile.mkstemp(dir=self.dir, suffix=".json.tmp")
        with os.fdopen(fd, "w") as f:
            json.dump(meta, f)
        os.replace(tmp, meta_path)  # the JSON is written last: it marks the entry complete


def _source_stamp(path: Path) -> dict[str, Any]:
    try:
        st = path.stat()
        if path.is_dir():  # an image sequence: every frame's name, size and time
            files = [(f.name, f.stat()) for f in image_sequence(path)]
            listing = json.dumps([[n, s.st_size, s.st_mtime_ns] for n, s in files]).encode()
            return {
                "path": str(path.absolute()),
                "frames": len(files),
                "sha256": hashlib.sha256(listing).hexdigest(),
            }
    except OSError:
        return {"path": str(path.absolute()), "missing": True}
    return {"path": str(path.absolute()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


# -- extraction -------------------------------------------------------------------------------------


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


class _DecodeJobs:
    """Map-style dataset for the DataLoader: item ``i`` is ``decode_video`` of the i-th cache miss.

    A plain class rather than a ``torch.utils.data.Dataset`` subclass, so that importing this
    module does not import torch.
    """

    def __init__(self, jobs: Sequence[tuple[VideoRecord, Path]], config: FaceConfig) -> None:
        self.jobs = jobs
        self.config = config

    def __len__(self) -> int:
        return len(self.jobs)

    def __getitem__(self, i: int) -> DecodedVideo | FaceTrack:
        record, source = self.jobs[i]
        return decode_video(record, source, self.config)


def _as_is(item: Any) -> Any:
    """DataLoader ``collate_fn`` that keeps items as they are (no numpy -> tensor conversion)."""
    return item


def stream_tracks(
    jobs: Sequence[tuple[VideoRecord, Path]],
    config: FaceConfig,
    detector: FaceDetector,
    workers: int = 0,
    detect_batch: int = 64,
) -> Iterator[tuple[int, FaceTrack]]:
    """Extract the tracks of ``jobs`` (record, source); yields ``(job position, track)`` as each is done.

    Videos are decoded by ``workers`` DataLoader processes (0: in this process); the detector runs
    here, once per ``detect_batch`` or so frames gathered across videos, so MTCNN fills a GPU
    batch. Tracks come out of the same ``decode_video`` and ``crop_faces`` as ``extract_track``,
    hence equal to it. At most ``detect_batch + num_frames`` frames wait here, plus the
    DataLoader's prefetch (2 videos per worker): memory does not grow with the number of videos.
    Tracks may be yielded out of job order.
    """
    if not jobs:  # a fully cached run starts no worker processes
        return
    from torch.utils.data import DataLoader

    loader = DataLoader(
        _DecodeJobs(jobs, config),
        batch_size=None,
        shuffle=False,
        num_workers=min(workers, len(jobs)),
        collate_fn=_as_is,
        # No cv2.setNumThreads in the workers: in a forked child it deadlocks once this process
        # has used OpenCV's thread pool (measured: Haar, then workers).
    )
    pending: list[tuple[int, DecodedVideo]] = []
    waiting = 0  # frames in ``pending``
    for position, item in enumerate(loader):
        if isinstance(item, FaceTrack):  # skipped or pre-cropped: nothing to detect
            yield position, item
            continue
        pending.append((position, item))
        waiting += len(item.frames)
        if waiting >= detect_batch:
            yield from _detect_pending(pending, config, detector)
            pending, waiting = [], 0
    yield from _detect_pending(pending, config, detector)


def _detect_pending(
    pending: list[tuple[int, DecodedVideo]], config: FaceConfig, detector: FaceDetector
) -> Iterator[tuple[int, FaceTrack]]:
    """One detector call for the frames of every pending video, then each video's crops."""
    if not pending:
        return
    found = detector.detect([frame for _, video in pending for frame in video.frames])
    start = 0
    for position, video in pending:
        end = start + len(video.frames)
        yield position, crop_faces(video, found[start:end], config)
        start = end


def _check_shard(rank: int, world_size: int) -> None:
    if isinstance(world_size, bool) or not isinstance(world_size, int) or world_size < 1:
        raise ValueError(f"world_size must be an integer >= 1, got {world_size!r}")
    if isinstance(rank, bool) or not isinstance(rank, int) or not 0 <= rank < world_size:
        raise ValueError(f"rank must be an integer in [0, world_size={world_size}), got {rank!r}")


def _drop_pixels(track: FaceTrack) -> None:
    """Keep the number of crops, free their pixels (a slice would keep the whole array alive)."""
    if track.crops is not None:
        track.crops = np.empty((len(track.crops), 0, 0, 3), dtype=np.uint8)


@dataclass
class ExtractionReport:
    """Per-video outcome of face extraction over a dataset."""

    tracks: dict[str, FaceTrack]
    skipped: list[Skipped]
    decoded: int  # videos decoded in this run (0 on a fully cached second run)

    @property
    def frames_sampled(self) -> int:
        return sum(t.frames_sampled for t in self.tracks.values())

    @property
    def faces_found(self) -> int:
        return sum(len(t.crops) for t in self.tracks.values() if t.ok and t.crops is not None)

    @property
    def face_rate(self) -> float:
        return self.faces_found / self.frames_sampled if self.frames_sampled else 0.0


def extract_faces(
    index: DatasetIndex,
    records: Iterable[VideoRecord],
    config: FaceConfig,
    cache_dir: str | os.PathLike[str] | None = None,
    device: str = "auto",
    progress: bool = True,
    with_crops: bool = False,
    *,
    workers: int = 0,
    detect_batch: int = 64,
    rank: int = 0,
    world_size: int = 1,
) -> ExtractionReport:
    """Extract (or load from cache) faces of ``records``; bad videos become skip records.

    ``with_crops=False`` (for reports) avoids reading cached crops back from disk and keeps only
    the number of crops of fresh tracks. Cache misses stream through :func:`stream_tracks`
    (``workers`` decoding processes, detector batches of about ``detect_batch`` frames) and each
    video is cached as soon as it is done. ``rank``/``world_size`` shard the work for several
    processes or machines: this call handles the records at positions ``i % world_size == rank``
    and reports only those; once every shard is done, a ``world_size=1`` call reads the full
    report from the cache.
    """
    from tqdm import tqdm

    _check_shard(rank, world_size)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise ValueError(f"workers must be an integer >= 0, got {workers!r}")
    if isinstance(detect_batch, bool) or not isinstance(detect_batch, int) or detect_batch < 1:
        raise ValueError(f"detect_batch must be an integer >= 1, got {detect_batch!r}")
    cache = FaceCache(index.dataset, config, cache_dir)
    shard = [r for i, r in enumerate(records) if i % world_size == rank]
    desc = f"faces {index.dataset}" + (f" shard {rank}/{world_size}" if world_size > 1 else "")
    bar = tqdm(total=len(shard), desc=desc, unit="video", disable=not progress)
    done: list[FaceTrack | None] = [None] * len(shard)
    misses: list[tuple[VideoRecord, Path]] = []
    miss_at: list[int] = []  # shard position of each miss
    for position, record in enumerate(shard):
        source = index.abspath(record)
        track = cache.load(record, source, with_crops=with_crops)
        if track is None:
            misses.append((record, source))
            miss_at.append(position)
        else:
            done[position] = track
            bar.update()
    detector = FaceDetector(config, device)
    for job, track in stream_tracks(misses, config, detector, workers, detect_batch):
        record, source = misses[job]
        cache.save(record, source, track)
        if not with_crops:
            _drop_pixels(track)
        done[miss_at[job]] = track
        bar.update()
    bar.close()
    tracks: dict[str, FaceTrack] = {}
    skipped: list[Skipped] = []
    for record, track in zip(shard, done, strict=True):
        assert track is not None  # every miss was yielded by stream_tracks
        tracks[record.video_id] = track
        if track.reason is not None:
            skipped.append(Skipped(record.video_id, record.path, track.reason, stage="faces"))
    return ExtractionReport(tracks=tracks, skipped=skipped, decoded=len(misses))


def load_crops(
    index: DatasetIndex,
    record: VideoRecord,
    config: FaceConfig,
    cache_dir: str | os.PathLike[str] | None = None,
) -> np.ndarray:
    """Cached crops of one video (extracting them on a cache miss); raises if it has no face."""
    cache = FaceCache(index.dataset, config, cache_dir)
    source = index.abspath(record)
    track = cache.load(record, source)
    if track is None:
        track = extract_track(record, source, config, FaceDetector(config))
        cache.save(record, source, track)
    if not track.ok or track.crops is None:
        raise MediaError(f"{source}: {track.reason}")
    return track.crops


def resize_crops(crops: np.ndarray, input_size: tuple[int, int]) -> np.ndarray:
    """uint8 ``(K,S,S,3)`` crops resized to ``(H, W)`` (area when shrinking, bilinear when growing)."""
    import cv2

    h, w = (int(v) for v in input_size)
    if crops.shape[1:3] == (h, w):
        return crops
    interp = cv2.INTER_AREA if crops.shape[1] > h else cv2.INTER_LINEAR
    return np.stack([cv2.resize(c, (w, h), interpolation=interp) for c in crops])


def crops_to_tensor(crops: np.ndarray, input_size: tuple[int, int]) -> Any:
    """uint8 ``(K,S,S,3)`` crops -> float ``(K,3,H,W)`` in [0,1] at a detector's input size.

    Resizing happens on uint8 images, so training, evaluation and attacks all start from the
    same pixels.
    """
    import torch

    resized = np.ascontiguousarray(resize_crops(crops, input_size))
    return torch.from_numpy(resized).permute(0, 3, 1, 2).float().div_(255.0)
