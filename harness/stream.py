"""Streaming detector input from the face cache: a fixed work plan of batches, loaded in workers.

Nothing here holds a split in memory. A split is a list of :class:`VideoRef` (ids, labels and
which cached crops to use: no pixels), cut by :func:`plan_units` into *units*, the batches of a
run: whole videos packed up to ``batch_size`` samples, a video longer than that split into
consecutive units of its own. The plan depends only on the split, the detector kind and the
batch size, never on the number of processes, so a unit's index names the same samples in every
process and every attempt: the unit index seeds the attack, keys the resume log
(:mod:`harness.records`), and :func:`shard` hands whole videos to processes under torchrun
(by the unit's ``group``: the units of one long video stay together; no padding, no duplicates).

:func:`loader` is a ``torch.utils.data.DataLoader`` over a process's units: worker processes
read and resize the cached uint8 crops, the batch is pinned when the device is CUDA, and
:func:`to_device` copies it without blocking and converts to ``[0, 1]`` float there (the same
values :func:`~harness.faces.crops_to_tensor` gives). Peak memory is set by the batch
size and the number of workers.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from harness.datasets import DatasetError
from harness.faces import FaceCache, resize_crops, sample_indices
from harness.workers import loader_options


@dataclass(frozen=True)
class VideoRef:
    """One usable video of a split: which of its cached crops are used (no pixels)."""

    video_id: str
    label: int
    crops: tuple[int, ...]  # indices into the video's cached crops
    frames: tuple[int, ...]  # the frame index of each of those crops


@dataclass(frozen=True)
class Unit:
    """One batch of the work plan: ``parts`` are (video position, crop indices) pairs.

    Frame detectors: every crop index is one sample. Clip detectors: every part is one sample
    (a clip of ``frames_per_clip`` crops).
    """

    index: int
    group: int
    parts: tuple[tuple[int, tuple[int, ...]], ...]
    size: int  # samples


def clip_indices(num_crops: int, frames_per_clip: int) -> list[int]:
    """``frames_per_clip`` crop indices spread evenly over ``num_crops`` (repeats if too few)."""
    if num_crops >= frames_per_clip:
        return sample_indices(num_crops, frames_per_clip)
    return [int(i) for i in np.linspace(0, num_crops - 1, frames_per_clip).round()]


def video_refs(prep: Any, split: str, frames_per_video: int | None = None) -> list[VideoRef]:
    """The usable videos of ``split`` in manifest order (``frames_per_video``: evenly spaced crops).

    Videos without a face (or unreadable) are left out; they are counted in
    ``prep.report.skipped`` and in every result.
    """
    if frames_per_video is not None and frames_per_video < 1:
        raise ValueError(f"frames_per_video must be >= 1, got {frames_per_video}")
    out = []
    for row in prep.manifest.split(split):
        track = prep.report.tracks.get(row.video_id)
        if track is None or not track.ok:
            continue
        n = len(track.crops)
        picks = list(range(n))
        if frames_per_video is not None and n > frames_per_video:
            picks = sample_indices(n, frames_per_video)
        frames = tuple(int(track.frame_indices[i]) for i in picks)
        out.append(VideoRef(row.video_id, int(row.label), tuple(picks), frames))
    return out


def plan_units(
    refs: Sequence[VideoRef],
    kind: str,
    batch_size: int,
    frames_per_clip: int | None = None,
    start: int = 0,
    offset: int = 0,
) -> list[Unit]:
    """Cut ``refs`` into batches of whole videos (long videos: consecutive units, one group).

    ``start``: the first unit's index; ``offset``: added to video positions (plans over the
    parts of one longer list of refs).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    units: list[Unit] = []
    parts: list[tuple[int, tuple[int, ...]]] = []
    filled = 0
    group = start

    def close() -> None:
        nonlocal parts, filled, group
        if parts:
            units.append(Unit(start + len(units), group, tuple(parts), filled))
            group = start + len(units)
            parts, filled = [], 0

    for pos, ref in enumerate(refs, start=offset):
        if kind == "clip":
            assert frames_per_clip is not None
            picks = tuple(ref.crops[i] for i in clip_indices(len(ref.crops), frames_per_clip))
            parts.append((pos, picks))
            filled += 1
            if filled == batch_size:
                close()
            continue
        if filled and filled + len(ref.crops) > batch_size:
            close()
        if len(ref.crops) <= batch_size:
            parts.append((pos, ref.crops))
            filled += len(ref.crops)
            continue
        for i in range(0, len(ref.crops), batch_size):  # a long video: units of its own, one group
            chunk = ref.crops[i : i + batch_size]
            units.append(Unit(start + len(units), group, ((pos, chunk),), len(chunk)))
        group = start + len(units)
    close()
    return units


def shard(units: Sequence[Unit], rank: int, world_size: int) -> list[Unit]:
    """The units process ``rank`` of ``world_size`` computes (whole groups, round robin)."""
    if world_size <= 1:
        return list(units)
    groups = sorted({u.group for u in units})
    mine = {g for i, g in enumerate(groups) if i % world_size == rank}
    return [u for u in units if u.group in mine]


@dataclass
class SampleMeta:
    """Per-sample identity of a unit's samples, in order (computed from the plan, no I/O)."""

    video_ids: list[str]
    labels: list[int]
    frames: list[int]  # frame index (clips: -1)


def unit_meta(unit: Unit, refs: Sequence[VideoRef], kind: str) -> SampleMeta:
    ids: list[str] = []
    labels: list[int] = []
    frames: list[int] = []
    for pos, crops in unit.parts:
        ref = refs[pos]
        if kind == "clip":
            ids.append(ref.video_id)
            labels.append(ref.label)
            frames.append(-1)
            continue
        lookup = dict(zip(ref.crops, ref.frames, strict=True))
        for c in crops:
            ids.append(ref.video_id)
            labels.append(ref.label)
            frames.append(lookup[c])
    return SampleMeta(ids, labels, frames)


def plan_meta(units: Sequence[Unit], refs: Sequence[VideoRef], kind: str) -> SampleMeta:
    """Sample identities of a whole plan in unit order (what the records line up with)."""
    out = SampleMeta([], [], [])
    for u in units:
        m = unit_meta(u, refs, kind)
        out.video_ids += m.video_ids
        out.labels += m.labels
        out.frames += m.frames
    return out


class VideoReader:
    """What :class:`UnitDataset` reads crops through: ``crops(video_id)``, remembering the last video
    read (the consecutive units of one long video read it once). The memo is not pickled: a
    worker receives only what :meth:`load` needs. A reader implements :meth:`load`."""

    _last: tuple[str, np.ndarray] | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_last": None}

    def crops(self, video_id: str) -> np.ndarray:
        """uint8 ``(K, S, S, 3)`` crops of ``video_id``."""
        if self._last is None or self._last[0] != video_id:
            self._last = (video_id, self.load(video_id))
        return self._last[1]

    def load(self, video_id: str) -> np.ndarray:
        """Read the crops of ``video_id`` (no memo)."""
        raise NotImplementedError


class CropReader(VideoReader):
    """Reads the cached crops of videos by id; small and picklable (what a worker receives).

    Holds only the cache's location and settings and, per video, its record and source path (the
    cache checks the source has not changed).
    """

    def __init__(self, prep: Any, video_ids: Iterable[str]) -> None:
        self.cache = FaceCache(prep.index.dataset, prep.config.faces, prep.config.cache_dir)
        by_id = prep.index.by_id()
        self.sources = {v: (by_id[v], prep.index.abspath(by_id[v])) for v in video_ids}

    def load(self, video_id: str) -> np.ndarray:
        """The cached crops of ``video_id``; a clear error if the cache entry is gone or damaged."""
        record, source = self.sources[video_id]
        track, problem = self.cache.lookup(record, source)
        if track is None or track.crops is None:
            what = problem or f"for {video_id} ({source}) vanished or went stale"
            raise DatasetError(f"face cache entry {what}; run `harness data prepare` to re-extract it")
        return track.crops


class UnitDataset(torch.utils.data.Dataset):
    """Unit ``i`` -> ``{"unit", "x" (uint8 (n,3,H,W) or (n,T,3,H,W)), "y" (n,)}`` from the cache
    (or from ``reader``: any :class:`VideoReader`, e.g. stored adversarial crops)."""

    def __init__(
        self,
        prep: Any,
        refs: Sequence[VideoRef],
        units: Sequence[Unit],
        kind: str,
        input_size: tuple[int, int],
        reader: VideoReader | None = None,
    ) -> None:
        self.units = {u.index: u for u in units}
        positions = sorted({pos for u in units for pos, _ in u.parts})
        self.refs = {pos: refs[pos] for pos in positions}  # only what these units read
        if reader is None:
            reader = CropReader(prep, (r.video_id for r in self.refs.values()))
        self.reader = reader
        self.kind, self.input_size = kind, tuple(input_size)

    def __len__(self) -> int:
        return len(self.units)

    def __getitem__(self, index: int) -> dict[str, Any]:
        unit = self.units[index]
        xs, ys = [], []
        for pos, picks in unit.parts:
            ref = self.refs[pos]
            images = resize_crops(self.reader.crops(ref.video_id)[list(picks)], self.input_size)
            t = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).contiguous()
            xs.append(t.unsqueeze(0) if self.kind == "clip" else t)
            ys += [ref.label] * (1 if self.kind == "clip" else len(picks))
        return {"unit": unit.index, "x": torch.cat(xs), "y": torch.tensor(ys, dtype=torch.long)}


def fixed_mmap_threshold(threshold: int = 128 * 1024) -> bool:
    """Pin glibc's mmap threshold so that freed batch buffers go back to the system.

    glibc raises its threshold each time a large block allocated with ``mmap`` is freed, after
    which blocks of that size come from the heap, which fragments and never shrinks: measured
    here, every data-loading worker grew by about 1 MB per batch of 256-px crops, so memory
    rose with the number of videos. A fixed threshold (glibc's default 128 KiB, without the
    dynamic rise) keeps them flat. Used in the workers, which only read and resize crops; the
    main process keeps the dynamic threshold (pinned, its batch-sized tensors would each be
    mapped and faulted in afresh: measured 1.9x slower) and calls :func:`release_free_memory`
    after every batch instead. Linux/glibc only; False elsewhere.
    """
    libc = _libc()
    return bool(libc and libc.mallopt(-3, int(threshold)))  # -3: M_MMAP_THRESHOLD


def release_free_memory() -> None:
    """Give the heap's free pages back to the system (glibc ``malloc_trim``; no-op elsewhere).

    Called after every batch: batch-sized blocks freed between long-lived small ones would
    otherwise stay resident as fragments, a growth of about 1 MB per batch (measured).
    """
    libc = _libc()
    if libc:
        libc.malloc_trim(0)


@functools.cache
def _libc() -> Any:
    """glibc, or None where there is none (not Linux)."""
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


def loader(dataset: Any, units: Sequence[Unit], workers: int, device: torch.device) -> Iterator[Any]:
    """Batches of ``units`` in order, read by ``workers`` processes (0: in this process)."""
    order = [u.index for u in units]
    if not order:
        return iter(())
    return iter(
        torch.utils.data.DataLoader(
            dataset,
            batch_size=None,
            sampler=order,
            pin_memory=device.type == "cuda",
            prefetch_factor=2 if workers > 0 else None,
            **loader_options(workers),
        )
    )


def to_device(x: Tensor, device: torch.device) -> Tensor:
    """uint8 crops -> float ``[0, 1]`` on ``device`` (copied without blocking when pinned)."""
    return x.to(device, non_blocking=True).float().div_(255.0)


__all__ = [
    "CropReader",
    "SampleMeta",
    "Unit",
    "UnitDataset",
    "VideoReader",
    "VideoRef",
    "clip_indices",
    "fixed_mmap_threshold",
    "loader",
    "plan_meta",
    "plan_units",
    "shard",
    "to_device",
    "unit_meta",
    "video_refs",
]
