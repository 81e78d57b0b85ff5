"""Any collection of your own: a root with a real and a fake folder of videos, images or frames.

Class folders are matched case-insensitively: real = ``real``, ``reals``, ``original``,
``originals``; fake = ``fake``, ``fakes``, ``df``, ``deepfake``, ``deepfakes``. Below a class
folder, found recursively:

* a video file is one video;
* an image directly in the class folder is one still (a one-frame video);
* a sub-folder holding images is one video: its images are the frames, in file-name order
  (what ``harness run --save-adversarial`` writes, and a common way to ship extracted frames).

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
    Skipped,
    VideoRecord,
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
        for label, folder in classes:
            sequences = {
                f.parent
                for f in folder.rglob("*")
                if f.suffix.lower() in IMAGE_SUFFIXES and f.parent != folder
            }
            for f in sorted(folder.rglob("*")):
                suffix = f.suffix.lower()
                if f in sequences and f.is_dir():
                    media = "video"  # an image sequence: decoded frame by frame
                elif suffix in VIDEO_SUFFIXES and f.is_file():
                    media = "video"
                elif suffix in IMAGE_SUFFIXES and f.is_file() and f.parent == folder:
                    media = "image"
                else:
                    continue  # other files, and images that are frames of a sequence
                path = rel(f, self.root)
                if any(part.startswith(".") for part in Path(path).parts):
                    continue
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
