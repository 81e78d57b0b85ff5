"""What every dataset adapter produces: an index of videos with labels and leakage groups.

An adapter reads a dataset's real on-disk layout and returns a :class:`DatasetIndex`: one
:class:`VideoRecord` per video (or image, or folder of pre-cropped faces) and one
:class:`Skipped` per entry it could not use (a file listed in metadata but absent, ...). The split
manifest (:mod:`harness.splits`) and face extraction (:mod:`harness.faces`)
work on that index only, so every dataset goes through the same path.

Import-light: no torch, no PyAV here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

REAL, FAKE = 0, 1
Media = Literal["video", "image", "frames"]
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


class DatasetError(ValueError):
    """A dataset root or metadata file that cannot be used (the message names the file and fix)."""


@dataclass(frozen=True)
class VideoRecord:
    """One labelled video of a dataset.

    ``video_id`` is stable and unique within the dataset: the path relative to the root without
    its suffix, with ``/`` separators (never parsed from path positions elsewhere). ``group`` is
    the leakage unit (identity, original video or FF++ pair): a group never spans two splits, and
    a fake always lands with its ``original``. ``identities`` names every person or source video
    whose face is in the video (target and donors, as far as the metadata says; ``target_id`` and
    ``source_id`` are always among them): the random protocol keeps all videos sharing one on the
    same side of every split.
    """

    video_id: str
    path: str  # relative to the dataset root (POSIX separators)
    label: int  # REAL = 0, FAKE = 1
    group: str
    original: str | None = None  # video_id of the original (target) video of a fake
    source_id: str | None = None  # donor identity of a fake (the face pasted in)
    target_id: str | None = None  # identity in the original video
    official_split: str | None = None  # "train" | "val" | "test" from the dataset's own metadata
    media: Media = "video"  # "image": one still; "frames": a folder of pre-cropped face images
    identities: tuple[str, ...] = ()  # every identity/source in the video (sorted, unique)

    def __post_init__(self) -> None:
        named = {i for i in (*self.identities, self.target_id, self.source_id) if i}
        object.__setattr__(self, "identities", tuple(sorted(named)))
        if self.label not in (REAL, FAKE):
            raise ValueError(f"{self.video_id}: label must be 0 (real) or 1 (fake), got {self.label!r}")
        if self.official_split not in (None, "train", "val", "test"):
            raise ValueError(f"{self.video_id}: unknown official split {self.official_split!r}")


@dataclass(frozen=True)
class Skipped:
    """An entry left out, with the reason (reported by `harness data prepare` and in results)."""

    video_id: str
    path: str
    reason: str
    stage: str = "index"  # "index" (adapter) or "faces" (extraction)


@dataclass
class DatasetIndex:
    """Everything an adapter found under ``root``."""

    dataset: str
    root: Path
    videos: list[VideoRecord]
    skipped: list[Skipped] = field(default_factory=list)
    official_test_available: bool = False

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for v in self.videos:
            if v.video_id in seen:
                raise DatasetError(f"{self.dataset}: duplicate video id {v.video_id!r} under {self.root}")
            seen.add(v.video_id)

    def by_id(self) -> dict[str, VideoRecord]:
        return {v.video_id: v for v in self.videos}

    def abspath(self, record: VideoRecord) -> Path:
        return self.root / record.path


@dataclass(frozen=True)
class Example:
    """A miniature tree of a dataset's real layout, for the conformance tests.

    What :meth:`DatasetAdapter.write_example` returns: ``root`` (where it wrote the tree),
    ``options`` (the adapter options to index it with) and ``missing`` (video ids the tree's
    metadata lists but whose files are absent: the index must report each as :class:`Skipped`).
    """

    root: Path
    options: dict[str, Any] = field(default_factory=dict)
    missing: tuple[str, ...] = ()


def placeholder(path: Path) -> Path:
    """A stand-in media file for an example tree: indexing reads names and metadata, never pixels."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"example media: not decodable")
    return path


class DatasetAdapter:
    """Base class of dataset adapters: ``index()`` reads the layout under ``root``.

    Subclasses set ``protocols`` (the split protocols they support: ``"random"`` always,
    ``"official"`` where the dataset publishes a test list) and implement :meth:`index` and
    :meth:`write_example`. ``name`` is the registry key (set by ``@register_dataset``).
    ``group_by`` options (e.g. DFDC's ``"original"`` or ``"part"``) are adapter options.
    """

    name: ClassVar[str] = ""  # the registry key, set by the registry
    protocols: ClassVar[tuple[str, ...]] = ("random",)
    needs_root: ClassVar[bool] = True  # False: the adapter can make its own data (synthetic)
    progress: bool = True  # adapters that make or scan data may show progress; open_dataset sets it

    def __init__(self, root: str | os.PathLike[str], **options: Any) -> None:
        self.root = Path(root).expanduser()
        if options:
            raise TypeError(f"dataset {self.name!r} has no options {sorted(options)}")

    def index(self) -> DatasetIndex:  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def write_example(cls, root: Path) -> Example:
        """Write a miniature tree of this dataset's real layout under ``root`` (both labels, at
        least three independent groups, and one file its metadata lists but that is absent,
        where the layout has metadata). The conformance tests index it: a registered dataset is
        tested by being registered. The example lives with the adapter, as TFDS and Hugging Face
        ``datasets`` keep a dataset's dummy data next to its builder, so a plugin brings its own.
        """
        raise NotImplementedError(
            f"dataset {cls.name!r} has no example tree: implement {cls.__qualname__}.write_example(root) "
            "(a miniature tree of its real layout; see harness.datasets.folder for a small one)"
        )

    def require_root(self) -> None:
        if not self.root.is_dir():
            raise DatasetError(f"{self.name}: dataset root {self.root} does not exist or is not a folder")


def rel(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` with POSIX separators."""
    return path.relative_to(root).as_posix()


def strip_suffix(relpath: str) -> str:
    """``"a/b/c.mp4"`` -> ``"a/b/c"``: the video id of a file."""
    p = Path(relpath)
    return (p.parent / p.stem).as_posix() if p.suffix else relpath


CACHE_ENV = "HARNESS_CACHE"


def cache_root(override: str | os.PathLike[str] | None = None) -> Path:
    """Where generated data and face caches live: ``override`` > ``$HARNESS_CACHE`` >
    ``$XDG_CACHE_HOME/deepfake-harness`` > ``~/.cache/deepfake-harness``."""
    if override is not None:
        return Path(override).expanduser()
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "deepfake-harness"
