"""Any collection of your own: a root with a real and a fake folder of videos, images or frames.

Class folders are matched case-insensitively: real = ``real``, ``reals``, ``original``,
``originals``; fake = ``fake``, ``fakes``, ``df``, ``deepfake``, ``deepfakes``. Below a class
folder, found recursively:

* a video file is one video;
* an image directly in the class folder is one still (a one-frame video);
* a sub-folder holding images is one video: its images are the frames, in file-name order
  (what ``harness run --save-adversarial`` writes, and a common way to ship extracted frames),
  whatever its name (``clip.mp4/0000.png`` is an image sequence too).

A folder named like a video or image that holds no images, a symbolic link loop, and a link to a
place outside the root (see :class:`~harness.datasets._base.RootGuard`) are reported as skipped,
never silently left out. Hidden entries (names starting with ``.``) are ignored.

Each is its own leakage group with no known identities (the folder says nothing about who is in
a video, so only the random protocol is offered).
"""

from __future__ import annotations

from pathlib import Path

from harness.datasets import register_dataset
from harness.datasets._base import (
    FAKE,
    IMAGE_SUFFIXES,
    REAL,
    VIDEO_SUFFIXES,
    DatasetAdapter,
    DatasetError,
    DatasetIndex,
    Example,
    RootGuard,
    Skipped,
    VideoRecord,
    not_a_file,
    placeholder,
    rel,
    strip_suffix,
)

REAL_NAMES = ("real", "reals", "original", "originals")
FAKE_NAMES = ("fake", "fakes", "df", "deepfake", "deepfakes")


@register_dataset
class Folder(DatasetAdapter):
    """A root with real/ and fake/ (or df/, deepfake/, ...) subfolders of videos or images."""

    protocols = ("random",)

    def index(self) -> DatasetIndex:
        """One record per video or image file under the class folders."""
        self.require_root()
        classes = self._class_folders()
        records: dict[str, VideoRecord] = {}
        skipped: list[Skipped] = []
        guard = RootGuard(self.root)
        media_suffixes = VIDEO_SUFFIXES + IMAGE_SUFFIXES
        for label, folder in classes:
            entries = [
                f
                for f in sorted(folder.rglob("*"))
                if not any(part.startswith(".") for part in f.relative_to(folder).parts)
            ]
            # Links that loop or lead out of the root; a sequence holding one is refused whole.
            refused = {f: why for f in entries if f.is_symlink() and (why := guard.check(rel(f, self.root)))}
            sequences = {
                f.parent for f in entries if f.suffix.lower() in IMAGE_SUFFIXES and f.parent != folder
            }
            for f in entries:
                suffix = f.suffix.lower()
                path = rel(f, self.root)
                if f in refused:
                    skipped.append(Skipped(strip_suffix(path), path, refused[f]))
                    continue
                if f in sequences and f.is_dir():
                    media = "video"  # an image sequence: decoded frame by frame
                    bad = next((p for p in refused if p.parent == f), None)
                    if bad is not None:
                        skipped.append(Skipped(path, path, f"frame {bad.name!r} {refused[bad]}"))
                        continue
                elif suffix in VIDEO_SUFFIXES and f.is_file():
                    media = "video"
                elif suffix in IMAGE_SUFFIXES and f.is_file() and f.parent == folder:
                    media = "image"
                elif suffix in media_suffixes and not f.is_file():
                    why = not_a_file(f)
                    if f.is_dir():
                        why += " (and it holds no images, so it is not an image sequence)"
                    skipped.append(Skipped(path, path, why))
                    continue
                else:
                    continue  # other files, and images that are frames of a sequence
                video_id = strip_suffix(path) if f.is_file() else path
                if video_id in records:
                    skipped.append(
                        Skipped(video_id, path, f"same id as {records[video_id].path}; rename one")
                    )
                    continue
                records[video_id] = VideoRecord(video_id, path, label, group=video_id, media=media)
        return DatasetIndex(
            dataset=self.name,
            root=self.root,
            videos=sorted(records.values(), key=lambda v: v.video_id),
            skipped=skipped,
        )

    @classmethod
    def write_example(cls, root: Path) -> Example:
        """Videos, a still and a frame folder under ``real/`` and ``fake/`` (no metadata: nothing
        can be listed and missing)."""
        for label in ("real", "fake"):
            for n in range(3):
                placeholder(root / label / f"{label}{n}.mp4")
            placeholder(root / label / f"{label}_still.png")
            for i in range(2):
                placeholder(root / label / f"{label}_frames" / f"{i:04d}.png")
        return Example(root)

    def _class_folders(self) -> list[tuple[int, Path]]:
        found: list[tuple[int, Path]] = []
        for child in sorted(self.root.iterdir()):
            if not child.is_dir():
                continue
            if child.name.lower() in REAL_NAMES:
                found.append((REAL, child))
            elif child.name.lower() in FAKE_NAMES:
                found.append((FAKE, child))
        if not found:
            raise DatasetError(
                f"folder: {self.root} has no class folder; put real videos or images in one of "
                f"{', '.join(REAL_NAMES)} and fakes in one of {', '.join(FAKE_NAMES)} (any case)"
            )
        return found
