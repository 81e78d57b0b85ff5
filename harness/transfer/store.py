"""The adversarial-example store: content-addressed uint8 crops, one file per (source, attack, video).

``<cache>/adversarial/<store key>/<video key>.npz``, written atomically. The store key hashes what
fixes the attack's output apart from the video: the source checkpoint's SHA-256 and input spec,
the attack and its resolved settings (seed included), the surrogate resize and the device type; a
video's key adds the SHA-256 of its input crops (uint8 bytes), its label and the chunks it is
attacked in. Each video is attacked on its own with a seed derived from the attack seed and its
crops (:func:`video_seed`), so a stored example is a function of its key alone, whatever else is
evaluated: a second run finds every video here and does no attack work.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from harness.fileio import atomic_open, jsonable
from harness.stream import VideoReader
from harness.transfer.config import STORE_FORMAT, SURROGATE_RESIZE, TransferConfig


def _sha(payload: Any) -> str:
    return hashlib.sha256(json.dumps(jsonable(payload), sort_keys=True, default=str).encode()).hexdigest()


def store_key(
    source_sha256: str,
    source_spec: dict[str, Any],
    attack: str,
    attack_config: dict[str, Any],
    device_type: str,
) -> str:
    """What fixes a stored example apart from its video (see the module docs)."""
    return _sha(
        {
            "format": STORE_FORMAT,
            "source_checkpoint_sha256": source_sha256,
            "source_spec": source_spec,
            "attack": attack,
            "attack_config": attack_config,
            "surrogate_resize": SURROGATE_RESIZE,
            "device_type": device_type,
        }
    )


def crops_sha256(crops: np.ndarray) -> str:
    """SHA-256 of uint8 crops (their shape and bytes)."""
    a = np.ascontiguousarray(crops)
    h = hashlib.sha256(f"{a.dtype.str}{a.shape}".encode())
    h.update(a.tobytes())
    return h.hexdigest()


def chunks(n: int, size: int) -> list[int]:
    """Lengths of the consecutive chunks of ``n`` crops attacked per call."""
    return [min(size, n - i) for i in range(0, n, size)]


def video_key(key: str, crops_hash: str, label: int, chunk_lengths: Sequence[int]) -> str:
    """The key of one video's example in store ``key``: its crops, label and attack chunks."""
    return _sha({"store": key, "crops": crops_hash, "label": int(label), "chunks": list(chunk_lengths)})


def video_seed(seed: int, crops_hash: str, label: int) -> int:
    """The attack seed of a video: from the attack's seed and the video's content."""
    digest = hashlib.sha256(f"{int(seed)}:{crops_hash}:{int(label)}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % (2**31 - 1 - 10_000)


def store_root(config: TransferConfig) -> Path:
    """The store folder: ``store_dir``, else ``<cache>/adversarial``."""
    from harness.datasets import cache_root

    return Path(config.store_dir) if config.store_dir else cache_root(config.data.cache_dir) / "adversarial"


def store_path(root: Path, key: str, vkey: str) -> Path:
    """The file of video key ``vkey`` in store ``key`` under ``root``."""
    return root / key[:16] / f"{vkey[:32]}.npz"


def write_example(path: Path, x: np.ndarray, meta: dict[str, Any]) -> None:
    """Write one video's uint8 adversarial crops ``(K,S,S,3)`` and their metadata atomically."""
    with atomic_open(path, "wb") as f:
        np.savez_compressed(f, x=np.ascontiguousarray(x, dtype=np.uint8), meta=json.dumps(jsonable(meta)))


def read_example(path: Path) -> tuple[np.ndarray, dict[str, Any]] | None:
    """``(uint8 crops, metadata)`` of a stored video, or None when absent or unreadable."""
    try:
        with np.load(path, allow_pickle=False) as z:
            return z["x"], json.loads(str(z["meta"]))
    except (OSError, ValueError, KeyError):
        return None


class StoreReader(VideoReader):
    """What :class:`~harness.stream.UnitDataset` reads instead of the face cache: the stored
    adversarial crops of each video (``(K,S,S,3)`` uint8, in the order of the video's crops).
    Small and picklable (per video, its store path)."""

    def __init__(self, paths: dict[str, str]) -> None:
        self.paths = dict(paths)

    def load(self, video_id: str) -> np.ndarray:
        """The stored crops of ``video_id``; a clear error if the file is gone."""
        got = read_example(Path(self.paths[video_id]))
        if got is None:
            raise FileNotFoundError(
                f"stored adversarial example of {video_id} vanished: {self.paths[video_id]}"
            )
        return got[0]


__all__ = [
    "StoreReader",
    "chunks",
    "crops_sha256",
    "read_example",
    "store_key",
    "store_path",
    "store_root",
    "video_key",
    "video_seed",
    "write_example",
]
