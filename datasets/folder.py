"""Any collection of your own: a root with a real and a fake folder of videos or images.

Class folders are matched case-insensitively: real = ``real``, ``reals``, ``original``,
``originals``; fake = ``fake``, ``fakes``, ``df``, ``deepfake``, ``deepfakes``. Files are found
recursively; each is its own leakage group with no known identities (the folder says nothing about
who is in a video, so only the random protocol is offered).
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
    Skipped,
    VideoRecord,
    rel,
    strip_suffix,
)

REAL_NAMES = ("real", "reals", "original", "originals")
FAKE_NAMES = ("fake", "fakes", "df", "deepfake", "deepfakes")


@register_dataset("folder")
class Folder(DatasetAdapter):
    """A root with real/ and fake/ (or df/, deepfake/, ...) subfolders of videos or images."""

    name = "folder"
    protocols = ("random",)

    def index(self) -> DatasetIndex:
        """One record per video or image file under the class folders."""
        self.require_root()
        classes = self._class_folders()
        records: dict[str, VideoRecord] = {}
        skipped: list[Skipped] = []
        for label, folder in classes:
            for f in sorted(folder.rglob("*")):
                suffix = f.suffix.lower()
                if suffix not in VIDEO_SUFFIXES + IMAGE_SUFFIXES or not f.is_file():
                    continue
                path = rel(f, self.root)
                if any(part.startswith(".") for part in Path(path).parts):
                    continue
                video_id = strip_suffix(path)
                if video_id in records:
                    skipped.append(
                        Skipped(video_id, path, f"same id as {records[video_id].path}; rename one")
                    )
                    continue
                media = "video" if suffix in VIDEO_SUFFIXES else "image"
                records[video_id] = VideoRecord(video_id, path, label, group=video_id, media=media)
        return DatasetIndex(
            dataset=self.name,
            root=self.root,
            videos=sorted(records.values(), key=lambda v: v.video_id),
            skipped=skipped,
        )

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
