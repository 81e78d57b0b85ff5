"""The face cache: one compressed ``.npz`` (crops) plus one ``.json`` (frame indices, boxes, scores,
settings, source size and mtime, the ``.npz``'s size and CRC-32) per video, under a folder keyed by
every setting. A skip (no face, unreadable file) is cached too; an entry whose source changed is
stale and ignored; a damaged one (truncated, bit-flipped) is reported and re-extracted."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import zipfile
import zlib
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
        """The cached track, or None when missing, stale (source file changed) or damaged."""
        return self.lookup(record, source, with_crops)[0]

    def lookup(
        self, record: VideoRecord, source: Path, with_crops: bool = True
    ) -> tuple[FaceTrack | None, str | None]:
        """``(track, None)`` when cached; ``(None, None)`` when missing or stale; ``(None, problem)``
        when the entry is damaged (truncated, bit-flipped, its crop file gone), ``problem`` naming
        the file and what is wrong with it.

        The crop file's size and CRC-32 (in the JSON) are checked on every read, also without
        ``with_crops`` (what ``data prepare`` and every run's preparation read), so a damaged entry
        is found, reported and re-extracted there, not met later inside a data-loading worker.
        Reads never write: a complete cache may be on a read-only file system.
        """
        npz, meta_path = self.paths(record.video_id)
        try:
            meta = json.loads(meta_path.read_text())
        except FileNotFoundError:
            return None, None
        except ValueError as exc:  # other OSErrors (permissions, I/O) are not the entry's fault
            return None, f"{meta_path} is damaged ({exc})"
        if not isinstance(meta, dict):
            return None, f"{meta_path} is damaged (not a JSON object)"
        if meta.get("settings_key") != self.config.key() or meta.get("source") != _source_stamp(source):
            return None, None
        try:
            crops = None if meta.get("reason") is not None else _read_crops(npz, meta, with_crops)
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
            ), None
        except _Damaged as exc:
            return None, f"{npz} is damaged ({exc})"
        except (KeyError, TypeError, ValueError) as exc:  # a field missing or of the wrong type
            return None, f"{meta_path} is damaged ({type(exc).__name__}: {exc})"

    def save(self, record: VideoRecord, source: Path, track: FaceTrack) -> None:
        npz, meta_path = self.paths(record.video_id)
        self.dir.mkdir(parents=True, exist_ok=True)
        stamp = None
        if track.ok:  # a cache: rebuilt if lost, so not flushed to disk one entry at a time
            data = _npz_bytes(track.crops)
            with atomic_open(npz, "wb", durable=False) as f:
                f.write(data)
            stamp = {"bytes": len(data), "crc32": zlib.crc32(data), "shape": list(track.crops.shape)}
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
            "crops_file": stamp,  # size and CRC-32 of the .npz: a damaged file is found on read
        }
        # the JSON is written last: it marks the entry complete
        write_json_atomic(meta_path, meta, indent=None, durable=False)


def _npz_bytes(crops: np.ndarray) -> bytes:
    """``np.savez_compressed(crops=crops)`` with a fixed time stamp: same crops, same bytes (and
    same CRC), whichever process or day extracted them."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        info = zipfile.ZipInfo("crops.npy", date_time=(1980, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o600 << 16
        with zf.open(info, "w", force_zip64=True) as f:
            np.lib.format.write_array(f, np.asanyarray(crops), allow_pickle=False)
    return buf.getvalue()


class _Damaged(Exception):
    """A cache entry's crop file does not match its JSON (the message says how)."""


def _read_crops(npz: Path, meta: dict[str, Any], with_crops: bool) -> np.ndarray:
    """The crops of an entry, checked against its JSON; without ``with_crops`` an empty
    ``(K, 0, 0, 3)`` array (just the count) once the file is checked. Raises :class:`_Damaged`.

    With a stored size and CRC-32 (a CRC of a few MB costs ~5 ms, ~7% of decompressing it:
    measured), the file is checked without decompressing it. Entries written before the CRC was
    stored are checked by decompressing them (the zip's own CRC and the array's shape).
    """
    stamp = meta.get("crops_file")
    count = int(meta["faces_found"])
    try:
        data = npz.read_bytes()
    except FileNotFoundError as exc:
        raise _Damaged("the crop file is missing") from exc
    if stamp is not None:
        if len(data) != stamp["bytes"]:
            raise _Damaged(f"{len(data)} bytes, {stamp['bytes']} written: truncated or overwritten")
        if zlib.crc32(data) != stamp["crc32"]:
            raise _Damaged("checksum mismatch: the file changed on disk since it was written")
        if not with_crops:
            return np.empty((count, 0, 0, 3), dtype=np.uint8)
    try:
        with np.load(io.BytesIO(data)) as z:
            crops = z["crops"]
    except Exception as exc:  # zipfile.BadZipFile, zlib.error, EOFError, ValueError, KeyError...
        raise _Damaged(f"unreadable: {type(exc).__name__}: {exc}") from exc
    expected = tuple(stamp["shape"]) if stamp is not None else None
    if crops.dtype != np.uint8 or crops.ndim != 4 or len(crops) != count or crops.shape[3] != 3:
        raise _Damaged(f"crops of shape {crops.shape} and type {crops.dtype}, not {count} RGB uint8 crops")
    if expected is not None and crops.shape != expected:
        raise _Damaged(f"crops of shape {crops.shape}, not {expected}")
    return crops if with_crops else np.empty((count, 0, 0, 3), dtype=np.uint8)


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
