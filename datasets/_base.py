"""What every dataset adapter produces: an index of videos with labels and leakage groups.

An adapter reads a dataset's real on-disk layout and returns a :class:`DatasetIndex`: one
:class:`VideoRecord` per video (or image, or folder of pre-cropped faces) and one
:class:`Skipped` per entry it could not use (a file listed in metadata but absent, ...). The split
manifest (:mod:`harness.splits`) and face extraction (:mod:`harness.faces`)
work on that index only, so every dataset goes through the same path.

Import-light: no torch, no PyAV here.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
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
    """Everything an adapter found under ``root``.

    A record whose file is not under the root (see :class:`RootGuard`) is moved to ``skipped``
    with its reason, so nothing outside the dataset folder is ever decoded, scored or attacked.
    """

    dataset: str
    root: Path
    videos: list[VideoRecord]
    skipped: list[Skipped] = field(default_factory=list)
    official_test_available: bool = False

    def __post_init__(self) -> None:
        # Every record's file must lie under the root, whoever made the record (adapters check
        # the paths their metadata names before touching the disk; this catches the rest).
        guard = RootGuard(self.root)
        self.skipped = list(self.skipped)
        kept: list[VideoRecord] = []
        for v in self.videos:
            problem = guard.check(v.path)
            if problem is None:
                kept.append(v)
            else:
                self.skipped.append(Skipped(v.video_id, v.path, f"{v.path!r} {problem}"))
        self.videos = kept
        seen: set[str] = set()
        for v in self.videos:
            if v.video_id in seen:
                raise DatasetError(f"{self.dataset}: duplicate video id {v.video_id!r} under {self.root}")
            seen.add(v.video_id)

    def by_id(self) -> dict[str, VideoRecord]:
        return {v.video_id: v for v in self.videos}

    def abspath(self, record: VideoRecord) -> Path:
        return self.root / record.path


class RootGuard:
    """The one check that keeps every path of a dataset under its root.

    Metadata (a DFDC ``metadata.json`` key, a ``labels.csv`` row, a test list line) names files
    relative to its folder; a name that is absolute or climbs out with ``..`` would make the
    harness index, decode, score and attack a file from anywhere, so adapters ask
    :meth:`check` before they touch a named path, and :class:`DatasetIndex` asks again for every
    record. The lexical tests come first: an absolute or climbing path is refused without any
    file-system call on it. Symbolic links are followed only where they stay under the root
    (the strict choice: ``realpath`` of the path must lie under ``realpath`` of the root), so
    a link in a downloaded archive cannot reach out either; a link loop is refused with its
    reason. One guard per ``index()`` call (it caches the real path of each folder it sees).
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._real_root = Path(os.path.realpath(root))
        self._real_dirs: dict[str, Path] = {}

    def check(self, name: str, within: str = "") -> str | None:
        """Why ``name`` may not be used, or None when it may.

        ``name`` is relative to ``within`` (a folder relative to the root, POSIX separators;
        the root itself by default), as metadata in that folder spells it. The reason reads
        after the name: ``"'../x.mp4' escapes the dataset root"``. A path that does not exist is
        not refused here (the adapter reports it as missing).
        """
        problem = self.lexical(name, within)
        if problem is not None:
            return problem
        relpath = f"{within}/{name}" if within else name
        parts = [p for p in relpath.split("/") if p not in ("", ".")]
        if not parts:
            return None
        parent = "/".join(parts[:-1])
        if parent not in self._real_dirs:
            self._real_dirs[parent] = Path(os.path.realpath(self.root.joinpath(*parts[:-1])))
        real = self._real_dirs[parent] / parts[-1]
        if not self._inside(self._real_dirs[parent]):
            return f"lies in a folder linked to {self._real_dirs[parent]}, outside the dataset root"
        if not os.path.islink(real):
            return None
        try:
            os.stat(real)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                return "is a symbolic link loop"
        target = Path(os.path.realpath(real))
        if not self._inside(target):
            return f"is a symbolic link to {target}, outside the dataset root"
        return None

    @staticmethod
    def lexical(name: str, within: str = "") -> str | None:
        """Why ``name`` (relative to folder ``within``) leaves the root by its spelling alone
        (absolute, or ``..``), or None.

        Touches nothing on disk. A backslash counts as a separator here on every system, so a
        Windows-style ``..\\x.mp4`` is refused too.
        """
        if "\0" in name:
            return "contains a NUL character"
        posix = name.replace("\\", "/")
        if PurePosixPath(posix).is_absolute() or PureWindowsPath(name).anchor:
            return "is an absolute path: it escapes the dataset root (paths are relative to it)"
        parts = [p for p in f"{within}/{posix}".split("/") if p not in ("", ".")]
        if ".." not in parts:
            return None
        depth = 0
        for part in parts:
            depth += -1 if part == ".." else 1
            if depth < 0:
                return "escapes the dataset root"
        return "uses '..' (name the file below the dataset root directly)"

    def require(self, path: Path, dataset: str) -> Path:
        """``path`` (a metadata file found under the root) if :meth:`check` allows it; else a
        :class:`DatasetError` naming it, since its entries cannot be trusted either."""
        problem = self.check(path.relative_to(self.root).as_posix())
        if problem is not None:
            raise DatasetError(
                f"{dataset}: {path} {problem}; symbolic links are followed only within the dataset "
                "root: copy the file (or bind-mount its folder) under the root"
            )
        return path

    def _inside(self, real: Path) -> bool:
        return real == self._real_root or real.is_relative_to(self._real_root)


def not_a_file(path: Path) -> str:
    """Why a directory entry named like a media file is not one (a folder, a broken link, a
    link loop), for the skipped report: such an entry is listed, never silently ignored."""
    if path.is_symlink():
        try:
            os.stat(path)
        except OSError as exc:
            return "is a symbolic link loop" if exc.errno == errno.ELOOP else "is a broken symbolic link"
    if path.is_dir():
        return "is a folder named like a media file, not a file"
    return "is not a regular file"


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
