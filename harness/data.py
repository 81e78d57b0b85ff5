"""Datasets end to end: index -> leak-free split manifest -> cached face crops.

``prepare_dataset(DataConfig(...))`` is what ``harness data prepare`` runs, and what training and
evaluation call before they touch a single frame: every dataset goes through this one path.
"""

from __future__ import annotations

import inspect
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import distributed
from harness.datasets import DATASETS, DatasetError, DatasetIndex, cache_root
from harness.faces import ExtractionReport, FaceConfig, extract_faces
from harness.splits import DEFAULT_RATIOS, SPLITS, Manifest, make_manifest


@dataclass(frozen=True)
class DataConfig:
    """Which data, how it is split, and how faces are extracted."""

    dataset: str = "synthetic"
    root: str | None = None
    options: dict[str, Any] = field(default_factory=dict)  # adapter options, e.g. size=tiny
    protocol: str = "random"
    seed: int = 0
    ratios: tuple[float, float, float] = DEFAULT_RATIOS
    faces: FaceConfig = field(default_factory=FaceConfig)
    cache_dir: str | None = None
    device: str = "auto"
    workers: int = 0  # processes decoding videos during face extraction (0: in this process)


@dataclass
class PreparedData:
    config: DataConfig
    index: DatasetIndex
    manifest: Manifest
    manifest_path: Path
    report: ExtractionReport


def open_dataset(
    name: str,
    root: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
    **options: Any,
) -> DatasetIndex:
    """Index dataset ``name`` under ``root`` with its adapter (options go to the adapter)."""
    cls = DATASETS.get(name)
    params = inspect.signature(cls).parameters
    if cache_dir is not None and "cache_dir" in params:
        options = {"cache_dir": cache_dir, **options}
    if root is None:
        if getattr(cls, "needs_root", True):
            raise DatasetError(f"dataset {name!r} needs --root PATH (the folder holding the dataset)")
        adapter = cls(**options)
    else:
        adapter = cls(root, **options)
    adapter.progress = progress
    return adapter.index()


def manifest_path(manifest: Manifest, cache_dir: str | os.PathLike[str] | None = None) -> Path:
    name = f"{manifest.dataset}-{manifest.protocol}-seed{manifest.seed}-{manifest.short_hash}.json"
    return cache_root(cache_dir) / "manifests" / name


def prepare_dataset(config: DataConfig, progress: bool = True) -> PreparedData:
    """Index, split (manifest written to the cache) and extract faces for every video.

    Faces are written to the cache as each video finishes, so an interrupted prepare resumes.
    Under torchrun (``torchrun --nproc_per_node=N --no-python harness data prepare ...``; with
    ``--nnodes`` and a shared cache folder, over many machines) every process extracts its share
    of the videos, then all of them read the finished cache.
    """
    w = distributed.world()
    with distributed.main_first():  # under torchrun rank 0 generates/indexes first (shared files)
        index = open_dataset(
            config.dataset, config.root, config.cache_dir, progress and w.main, **config.options
        )
    manifest = make_manifest(index, config.protocol, config.seed, config.ratios)
    path = manifest.save(manifest_path(manifest, config.cache_dir))
    by_id = index.by_id()
    records = [by_id[r.video_id] for r in manifest.rows]
    device = distributed.local_device(config.device)

    def extract(rank: int = 0, world_size: int = 1) -> ExtractionReport:
        return extract_faces(
            index,
            records,
            config.faces,
            config.cache_dir,
            device,
            progress=progress and w.main,
            workers=config.workers,
            rank=rank,
            world_size=world_size,
        )

    shards = None
    if w.distributed:  # under torchrun: each process extracts its share of the videos first
        mine = extract(w.rank, w.world_size)
        shards = distributed.all_gather((mine.decoded, mine.damaged))  # waits for all
    report = extract()  # every process: the full report, from the finished cache
    if shards is not None:
        report.decoded = sum(n for n, _ in shards)
        report.damaged = [p for _, damaged in shards for p in damaged]
    return PreparedData(config, index, manifest, path, report)


def format_summary(prep: PreparedData) -> str:
    """The table `harness data prepare` prints: videos per split/label, faces, skips by reason."""
    m, rep = prep.manifest, prep.report
    lines = [
        f"dataset {m.dataset}  root {m.root}",
        f"split protocol {m.protocol}, seed {m.seed}; manifest {m.short_hash} -> {prep.manifest_path}",
        "",
        f"{'split':<6} {'real':>6} {'fake':>6} {'total':>6} {'usable':>7} {'faces/frames':>14} {'rate':>7}",
    ]
    totals = Counter()
    for split in SPLITS:
        rows = m.split(split)
        real = sum(1 for r in rows if r.label == 0)
        tracks = [rep.tracks[r.video_id] for r in rows if r.video_id in rep.tracks]
        usable = sum(1 for t in tracks if t.ok)
        frames = sum(t.frames_sampled for t in tracks)
        faces = sum(len(t.crops) for t in tracks if t.ok and t.crops is not None)
        totals.update(real=real, fake=len(rows) - real, usable=usable, frames=frames, faces=faces)
        lines.append(_row(split, real, len(rows) - real, usable, faces, frames))
    lines.append(
        _row("all", totals["real"], totals["fake"], totals["usable"], totals["faces"], totals["frames"])
    )
    det = prep.config.faces.detector
    lines += [
        "",
        f"faces found in {rep.faces_found} of {rep.frames_sampled} sampled frames "
        f"({100 * rep.face_rate:.1f}%) with {det}; {rep.decoded} videos decoded in this run "
        f"({len(rep.tracks) - rep.decoded} from cache)",
    ]
    if rep.damaged:
        n = len(rep.damaged)
        lines += [
            f"re-extracted {n} damaged face-cache {'entry' if n == 1 else 'entries'}: "
            + "; ".join(rep.damaged[:3])
            + (f"; and {n - 3} more" if n > 3 else "")
        ]
    skips = list(m.skipped) + list(rep.skipped)
    if skips:
        lines += ["", f"skipped {len(skips)} entries:", f"  {'count':>5}  stage   reason"]
        for (stage, reason), n in sorted(Counter((s.stage, _generic(s.reason)) for s in skips).items()):
            lines.append(f"  {n:>5}  {stage:<6}  {reason}")
        lines.append("  first few: " + "; ".join(f"{s.path} ({s.reason})" for s in skips[:5]))
    if m.dropped:
        lines += [
            "",
            f"dropped {len(m.dropped)} videos from train/val: they share an original or "
            "identity with the official test list",
        ]
    return "\n".join(lines)


def _row(name: str, real: int, fake: int, usable: int, faces: int, frames: int) -> str:
    rate = f"{100 * faces / frames:.1f}%" if frames else "-"
    return f"{name:<6} {real:>6} {fake:>6} {real + fake:>6} {usable:>7} {f'{faces}/{frames}':>14} {rate:>7}"


def _generic(reason: str) -> str:
    """Group reasons that differ only by numbers (e.g. frame counts)."""
    import re

    return re.sub(r"\d+", "N", reason)


def load_split(prep: PreparedData, split: str) -> list[Any]:
    """Usable face crops of the videos of ``split`` (``VideoCrops``), in manifest order.

    Videos without a face (or unreadable) are left out here; they are counted in
    ``prep.report.skipped`` and in every result.
    """
    from harness.faces import FaceCache
    from harness.scoring import VideoCrops

    cache = FaceCache(prep.index.dataset, prep.config.faces, prep.config.cache_dir)
    by_id = prep.index.by_id()
    out: list[VideoCrops] = []
    for row in prep.manifest.split(split):
        track = prep.report.tracks.get(row.video_id)
        if track is None or not track.ok:
            continue
        record = by_id[row.video_id]
        loaded, problem = cache.lookup(record, prep.index.abspath(record))
        if loaded is None or loaded.crops is None:
            raise DatasetError(
                f"face cache entry {problem or f'for {row.video_id} vanished'}; run "
                "`harness data prepare` to re-extract it"
            )
        out.append(VideoCrops(row.video_id, row.label, loaded.crops, loaded.frame_indices))
    return out
