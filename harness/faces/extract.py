"""Face extraction at scale: a dataset's videos -> cached tracks, with a report of what was skipped.

Videos are decoded in DataLoader worker processes, the detector runs here on batches of frames
gathered across videos, each video is cached as soon as it is done (an interrupted run resumes),
memory is bounded by the batch, not the dataset, and ``rank``/``world_size`` split the videos
between processes or machines sharing one cache.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.datasets import DatasetIndex, Skipped, VideoRecord
from harness.faces.cache import FaceCache
from harness.faces.config import FaceConfig, FaceTrack
from harness.faces.detect import FaceDetector
from harness.faces.track import DecodedVideo, crop_faces, decode_video


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

    from harness.workers import loader_options

    # Workers start clean (harness.workers): a child forked from a process that has decoded with
    # PyAV or used OpenCV's thread pool can hang for good.
    loader = DataLoader(
        _DecodeJobs(jobs, config),
        batch_size=None,
        shuffle=False,
        collate_fn=_as_is,
        **loader_options(min(workers, len(jobs))),
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
    damaged: list[str] = field(default_factory=list)  # damaged cache entries, extracted again

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
    damaged: list[str] = []
    for position, record in enumerate(shard):
        source = index.abspath(record)
        track, problem = cache.lookup(record, source, with_crops=with_crops)
        if problem is not None:  # truncated, bit-flipped, ...: said, then extracted again
            warnings.warn(f"face cache entry {problem}; extracting it again", stacklevel=2)
            damaged.append(problem)
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
    return ExtractionReport(tracks=tracks, skipped=skipped, decoded=len(misses), damaged=damaged)
