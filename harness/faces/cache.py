"""The face cache: one compressed ``.npz`` (crops) plus one ``.json`` (frame indices, boxes, scores,
settings, source size and mtime) per video, under a folder keyed by every setting. A skip (no face,
unreadable file) is cached too; an entry whose source changed is stale and ignored."""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from harness.datasets import VideoRecord, cache_root
from harness.faces.config import FaceConfig, FaceTrack
from harness.faces.media import image_sequence
from harness.fileio import atomic_open, write_json_atomic


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
        if track.ok:  # a cache: rebuilt if lost, so not flushed to disk one entry at a time
            with atomic_open(npz, "wb", durable=False) as f:
                np.savez_compressed(f, crops=track.crops)
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
        # the JSON is written last: it marks the entry complete
        write_json_atomic(meta_path, meta, indent=None, durable=False)


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
