"""Celeb-DF v1 and v2 (Li et al., "Celeb-DF: A Large-scale Challenging Dataset for DeepFake
Forensics", CVPR 2020).

Layout (v1 and v2 alike; each folder may sit under an extra ``videos/`` level)::

    Celeb-real/idT_NNNN.mp4             real, person idT
    YouTube-real/NNNNN.mp4              real, no identity given (also spelled Youtube-real)
    Celeb-synthesis/idT_idS_NNNN.mp4    fake: Celeb-real/idT_NNNN with idS's face pasted in
    List_of_testing_videos.txt          "1 YouTube-real/00170.mp4" (1 = real, 0 = fake)

Video ids leave out the ``videos/`` level and use the ``YouTube-real`` spelling, so every variant
of the layout gives the same ids as the official test list. The leakage group is the identity in
the original (``idT``) for Celeb-real and Celeb-synthesis, and the video itself for YouTube-real.
A fake's identities are its target ``idT`` and its donor ``idS``: the random protocol keeps the
donor's own videos on the side of every fake that carries its face.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from harness.datasets import register_dataset
from harness.datasets._base import (
    FAKE,
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

TEST_LIST = "List_of_testing_videos.txt"
FOLDERS: dict[str, int] = {"Celeb-real": REAL, "YouTube-real": REAL, "Celeb-synthesis": FAKE}
_REAL_NAME = re.compile(r"^(id\d+)_(\d+)$")
_FAKE_NAME = re.compile(r"^(id\d+)_(id\d+)_(\d+)$")


def canonical_folder(name: str) -> str | None:
    """The official spelling of a Celeb-DF class folder (``Youtube-real`` -> ``YouTube-real``)."""
    for canon in FOLDERS:
        if name.lower() == canon.lower():
            return canon
    return None


@register_dataset
class CelebDF(DatasetAdapter):
    """Celeb-DF v1/v2: Celeb-real, YouTube-real, Celeb-synthesis and the official test list."""

    protocols = ("random", "official")

    def index(self) -> DatasetIndex:
        """Index every video of the three class folders and mark the official test list."""
        self.require_root()
        folders = self._class_folders()
        records: dict[str, VideoRecord] = {}
        skipped: list[Skipped] = []
        for canon, directory in folders:
            for f in sorted(directory.iterdir()):
                if f.name.startswith(".") or f.suffix.lower() not in VIDEO_SUFFIXES:
                    continue
                video_id, path = f"{canon}/{f.stem}", rel(f, self.root)
                if not f.is_file():
                    skipped.append(Skipped(video_id, path, not_a_file(f)))
                    continue
                if video_id in records:
                    skipped.append(Skipped(video_id, path, f"same video as {records[video_id].path}"))
                    continue
                record = _record(video_id, path, canon, f.stem)
                if isinstance(record, str):
                    skipped.append(Skipped(video_id, path, record))
                else:
                    records[video_id] = record

        test_list = self._test_list()
        if test_list is not None:
            skipped_ids = {s.video_id for s in skipped}
            guard = RootGuard(self.root)
            for lineno, video_id, listed_path in _read_test_list(guard.require(test_list, "celebdf")):
                if video_id is None:  # the line names a path outside the root
                    problem = guard.check(listed_path)
                    reason = f"{TEST_LIST} line {lineno}: {listed_path!r} {problem}"
                    skipped.append(Skipped(strip_suffix(listed_path), listed_path, reason))
                elif video_id in records:
                    records[video_id] = dataclasses.replace(records[video_id], official_split="test")
                elif video_id not in skipped_ids:
                    skipped.append(
                        Skipped(
                            video_id,
                            listed_path,
                            f"listed in {TEST_LIST} (line {lineno}) but not found on disk",
                        )
                    )
        return DatasetIndex(
            dataset=self.name,
            root=self.root,
            videos=sorted(records.values(), key=lambda v: v.video_id),
            skipped=skipped,
            official_test_available=test_list is not None,
        )

    @classmethod
    def write_example(cls, root: Path) -> Example:
        """Three target/donor pairs (a real video each, one fake each), two YouTube-real videos,
        and a test list naming one fake that is not on disk."""
        for t, s in (("id0", "id1"), ("id2", "id3"), ("id4", "id5")):
            placeholder(root / "Celeb-real" / f"{t}_0000.mp4")
            placeholder(root / "Celeb-real" / f"{s}_0000.mp4")
            placeholder(root / "Celeb-synthesis" / f"{t}_{s}_0000.mp4")
        for n in ("00000", "00001"):
            placeholder(root / "YouTube-real" / f"{n}.mp4")
        listed = [
            "1 YouTube-real/00000.mp4",
            "0 Celeb-synthesis/id4_id5_0000.mp4",
            "0 Celeb-synthesis/id6_id7_0000.mp4",
        ]
        (root / TEST_LIST).write_text("\n".join(listed) + "\n")
        return Example(root, missing=("Celeb-synthesis/id6_id7_0000",))

    def _class_folders(self) -> list[tuple[str, Path]]:
        """``(canonical name, folder)`` for each class folder, at the root or under ``videos/``."""
        found: list[tuple[str, Path]] = []
        for base in (self.root, self.root / "videos"):
            if not base.is_dir():
                continue
            for child in sorted(base.iterdir()):
                canon = canonical_folder(child.name)
                if canon is not None and child.is_dir():
                    found.append((canon, child))
        if not found:
            raise DatasetError(
                f"celebdf: no Celeb-real/, YouTube-real/ or Celeb-synthesis/ folder under {self.root} "
                f"(nor under {self.root / 'videos'}); point the root at the unpacked Celeb-DF folder"
            )
        return found

    def _test_list(self) -> Path | None:
        for candidate in (self.root / TEST_LIST, self.root / "videos" / TEST_LIST):
            if candidate.is_file():
                return candidate
        return None


def _record(video_id: str, path: str, folder: str, stem: str) -> VideoRecord | str:
    """The record of one file, or the reason it cannot be placed without leakage."""
    if folder == "YouTube-real":
        return VideoRecord(video_id, path, REAL, group=video_id)
    if folder == "Celeb-real":
        m = _REAL_NAME.match(stem)
        if m is None:
            return "name is not idT_NNNN, so its identity (the leakage group) is unknown"
        return VideoRecord(
            video_id, path, REAL, group=m.group(1), target_id=m.group(1), identities=(m.group(1),)
        )
    m = _FAKE_NAME.match(stem)
    if m is None:
        return "name is not idT_idS_NNNN, so its original and identities are unknown"
    target, source, clip = m.groups()
    return VideoRecord(
        video_id,
        path,
        FAKE,
        group=target,
        original=f"Celeb-real/{target}_{clip}",
        source_id=source,
        target_id=target,
        identities=(target, source),
    )


def _read_test_list(path: Path) -> list[tuple[int, str | None, str]]:
    """``(line number, video id, listed path)`` for each line; a contradiction is an error.

    A path that is absolute or climbs out with ``..`` gets no video id (None): the caller
    reports it as skipped. The list only marks videos found on disk, so no listed path is ever
    opened; it must still name a file under the root.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(
            f"celebdf: cannot read {path} ({exc}); restore it from the Celeb-DF release"
        ) from exc
    out: list[tuple[int, str, str]] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 2 or fields[0] not in ("0", "1"):
            raise DatasetError(
                f"celebdf: {path} line {lineno}: expected '<1 real | 0 fake> <folder>/<file>', got "
                f"{line.strip()!r}; restore the file from the Celeb-DF release"
            )
        if RootGuard.lexical(fields[1]) is not None:
            out.append((lineno, None, fields[1]))
            continue
        parts = [p for p in fields[1].replace("\\", "/").split("/") if p]
        if parts and parts[0].lower() == "videos":
            parts = parts[1:]
        folder = canonical_folder(parts[0]) if len(parts) == 2 else None
        if folder is None:
            raise DatasetError(
                f"celebdf: {path} line {lineno}: {fields[1]!r} is not in Celeb-real/, YouTube-real/ "
                "or Celeb-synthesis/; fix the line or restore the file from the Celeb-DF release"
            )
        listed = REAL if fields[0] == "1" else FAKE
        if listed != FOLDERS[folder]:
            said, holds = ("real", "fake") if listed == REAL else ("fake", "real")
            raise DatasetError(
                f"celebdf: {path} line {lineno}: {fields[1]!r} is listed as {said} but {folder}/ holds "
                f"{holds} videos; fix the label (1 = real, 0 = fake) on that line"
            )
        out.append((lineno, f"{folder}/{Path(parts[1]).stem}", fields[1]))
    return out
