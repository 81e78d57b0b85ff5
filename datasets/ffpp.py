"""FaceForensics++ (Rössler et al., "FaceForensics++: Learning to Detect Manipulated Facial
Images", ICCV 2019).

Layout (as written by the official download script)::

    original_sequences/youtube/{raw,c23,c40}/videos/NNN.mp4
    manipulated_sequences/{Deepfakes,Face2Face,FaceSwap,NeuralTextures,FaceShifter}/{raw,c23,c40}/videos/T_S.mp4
    train.json, val.json, test.json      (at the root or under splits/)

A fake ``T_S`` shows target video ``T`` with the face of source video ``S``. The split files list
pairs ``["a", "b"]``: videos ``a``, ``b`` and fakes ``a_b``, ``b_a`` of every method belong to that
pair's split, and the pair is the leakage group. Without split files the pairs are read off the
fakes present (``T`` and ``S`` of every fake form one group), so a source face never sits on the
other side of a split either; a video in no fake is its own group. A video's identities are the
source video numbers whose faces it shows: ``T`` and ``S`` for a fake ``T_S``, ``N`` for an original.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

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

METHODS = ("Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures", "FaceShifter")
COMPRESSIONS = {"raw": ("raw", "c0"), "c0": ("c0", "raw"), "c23": ("c23",), "c40": ("c40",)}
SPLIT_FILES = ("train", "val", "test")
_REAL_NAME = re.compile(r"^(\d+)$")
_FAKE_NAME = re.compile(r"^(\d+)_(\d+)$")


@register_dataset
class FFPP(DatasetAdapter):
    """FaceForensics++: original/manipulated sequences at one compression, official split pairs.

    ``compression``: ``"raw"`` (also found as ``c0``), ``"c23"`` (default) or ``"c40"``.
    ``methods``: manipulation folders to index (default: every one of :data:`METHODS` present).
    """

    protocols = ("random", "official")

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        compression: str = "c23",
        methods: Sequence[str] | None = None,
        **options: Any,
    ) -> None:
        super().__init__(root, **options)
        if compression not in COMPRESSIONS:
            raise ValueError(f"ffpp: compression must be one of {sorted(COMPRESSIONS)}, got {compression!r}")
        self.compression = compression
        if isinstance(methods, str):
            methods = [methods]
        canon = {m.lower(): m for m in METHODS}
        unknown = [m for m in methods or () if m.lower() not in canon]
        if unknown:
            raise ValueError(f"ffpp: unknown methods {unknown}; known: {', '.join(METHODS)}")
        self.methods = tuple(canon[m.lower()] for m in methods) if methods is not None else None

    def index(self) -> DatasetIndex:
        """Index the originals and the chosen methods' fakes at the chosen compression."""
        self.require_root()
        originals = self._videos_dir(self.root / "original_sequences" / "youtube")
        method_dirs = self._method_dirs()
        if originals is None and not method_dirs:
            raise DatasetError(
                f"ffpp: no original_sequences/youtube/{self.compression}/videos nor "
                f"manipulated_sequences/<method>/{self.compression}/videos under {self.root} "
                f"(compressions present: {self._compressions_present() or 'none'}); point the root at "
                "the FaceForensics++ download folder or choose compression= accordingly"
            )
        skipped: list[Skipped] = []
        splits = self._read_splits(skipped)
        official = {n: split for split, pairs in splits.items() for pair in pairs for n in pair}
        pair_of = {n: pair for pairs in splits.values() for pair in pairs for n in pair}

        # Original video id of number n: known even when the file is absent.
        c_dir = originals.parent.name if originals is not None else COMPRESSIONS[self.compression][0]
        orig_prefix = f"original_sequences/youtube/{c_dir}/videos"

        reals: list[tuple[str, str, Path]] = []  # (number, video id, file)
        for f in _video_files(originals, skipped, self.root):
            video_id, path = strip_suffix(rel(f, self.root)), rel(f, self.root)
            m = _REAL_NAME.match(f.stem)
            if m is None:
                skipped.append(Skipped(video_id, path, "name is not NNN (an FF++ original video number)"))
            else:
                reals.append((m.group(1), video_id, f))

        fakes: list[tuple[str, str, str, str]] = []  # (target, source, video id, path)
        for method_dir in method_dirs:
            for f in _video_files(method_dir, skipped, self.root):
                video_id, path = strip_suffix(rel(f, self.root)), rel(f, self.root)
                m = _FAKE_NAME.match(f.stem)
                if m is None:
                    skipped.append(Skipped(video_id, path, "name is not T_S (target_source video numbers)"))
                    continue
                target, source = m.groups()
                if target in pair_of and source in pair_of and pair_of[target] != pair_of[source]:
                    skipped.append(
                        Skipped(
                            video_id,
                            path,
                            f"target {target} and source {source} are in different official pairs "
                            f"({'_'.join(pair_of[target])}, {'_'.join(pair_of[source])})",
                        )
                    )
                    continue
                fakes.append((target, source, video_id, path))

        component = _components(list(pair_of.values()) + [(t, s) for t, s, _, _ in fakes])

        def group(n: str) -> str:
            members = component.get(n)
            return "pair:" + "_".join(members) if members and len(members) > 1 else f"{orig_prefix}/{n}"

        records = [
            VideoRecord(
                video_id,
                rel(f, self.root),
                REAL,
                group=group(n),
                target_id=n,
                official_split=official.get(n),
                identities=(n,),
            )
            for n, video_id, f in reals
        ]
        records += [
            VideoRecord(
                video_id,
                path,
                FAKE,
                group=group(target),
                original=f"{orig_prefix}/{target}",
                source_id=source,
                target_id=target,
                official_split=official.get(target) or official.get(source),
                identities=(target, source),
            )
            for target, source, video_id, path in fakes
        ]
        return DatasetIndex(
            dataset=self.name,
            root=self.root,
            videos=sorted(records, key=lambda v: v.video_id),
            skipped=skipped,
            official_test_available=bool(splits.get("test")),
        )

    @classmethod
    def write_example(cls, root: Path) -> Example:
        """Originals 000-005 at c23, the fakes of three pairs for two methods, and the split files
        (one pair each); FF++ lists pairs, not files, so nothing is listed and missing."""
        pairs = {"train": [["000", "001"]], "val": [["002", "003"]], "test": [["004", "005"]]}
        (root / "splits").mkdir(parents=True)
        for split, listed in pairs.items():
            (root / "splits" / f"{split}.json").write_text(json.dumps(listed))
            for a, b in listed:
                for n in (a, b):
                    placeholder(root / "original_sequences" / "youtube" / "c23" / "videos" / f"{n}.mp4")
                for method in ("Deepfakes", "FaceSwap"):
                    for t, s in ((a, b), (b, a)):
                        placeholder(
                            root / "manipulated_sequences" / method / "c23" / "videos" / f"{t}_{s}.mp4"
                        )
        return Example(root)

    def _videos_dir(self, sequence: Path) -> Path | None:
        """``<sequence>/<compression>/videos`` (``raw`` and ``c0`` are one compression)."""
        for name in COMPRESSIONS[self.compression]:
            candidate = sequence / name / "videos"
            if candidate.is_dir():
                return candidate
        return None

    def _method_dirs(self) -> list[Path]:
        manipulated = self.root / "manipulated_sequences"
        on_disk = (
            {p.name.lower(): p for p in manipulated.iterdir() if p.is_dir()} if manipulated.is_dir() else {}
        )
        wanted = self.methods if self.methods is not None else METHODS
        found: list[Path] = []
        for method in wanted:
            videos = self._videos_dir(on_disk[method.lower()]) if method.lower() in on_disk else None
            if videos is not None:
                found.append(videos)
            elif self.methods is not None:
                raise DatasetError(
                    f"ffpp: method {method} asked for, but {manipulated / method / self.compression / 'videos'} "
                    "does not exist; download it or leave it out of methods="
                )
        return found

    def _compressions_present(self) -> str:
        present = {p.parent.name for p in self.root.glob("*_sequences/*/*/videos")}
        return ", ".join(sorted(present))

    def _read_splits(self, skipped: list[Skipped]) -> dict[str, list[tuple[str, ...]]]:
        """``{split: [sorted pair, ...]}`` from the official split files that exist.

        The files list video numbers, never paths: an entry that is not a number (a path like
        ``../x``, say) is reported in ``skipped`` and left out of its pair; nothing it names is
        looked up on disk.
        """
        splits: dict[str, list[tuple[str, ...]]] = {}
        where: dict[str, Path] = {}
        guard = RootGuard(self.root)
        for split in SPLIT_FILES:
            path = next(
                (
                    p
                    for p in (self.root / f"{split}.json", self.root / "splits" / f"{split}.json")
                    if p.is_file()
                ),
                None,
            )
            if path is None:
                continue
            try:
                data = json.loads(guard.require(path, "ffpp").read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise DatasetError(
                    f"ffpp: {path} is not valid JSON ({exc}); restore it from the FF++ repository"
                ) from exc
            if not isinstance(data, list) or not all(
                isinstance(pair, list) and len(pair) == 2 and all(isinstance(x, (str, int)) for x in pair)
                for pair in data
            ):
                raise DatasetError(
                    f'ffpp: {path} must be a JSON list of pairs like [["953", "974"], ...]; restore it '
                    "from the FaceForensics++ repository (dataset/splits/)"
                )
            listing = rel(path, self.root)
            pairs = []
            for pair in data:
                numbers = [_number(x) for x in pair]
                for n in numbers:
                    if not _REAL_NAME.match(n):
                        why = (
                            f"{listing}: pair {pair}: {n!r} is not a video number (split files list numbers)"
                        )
                        skipped.append(Skipped(n, n, why))
                kept = tuple(sorted(n for n in numbers if _REAL_NAME.match(n)))
                if kept:
                    pairs.append(kept)
            for pair in pairs:
                for n in pair:
                    if n in where:
                        raise DatasetError(
                            f"ffpp: video {n} is in a pair of both {where[n]} and {path}; "
                            "restore the official split files"
                        )
                    where[n] = path
            splits[split] = pairs
        return splits


def _number(x: str | int) -> str:
    return f"{x:03d}" if isinstance(x, int) else x.strip()


def _video_files(folder: Path | None, skipped: list[Skipped], root: Path) -> list[Path]:
    """The video files of ``folder``; an entry named like a video that is not a file (a folder,
    a link loop) is reported in ``skipped``."""
    if folder is None:
        return []
    found = []
    for f in sorted(folder.iterdir()):
        if f.name.startswith(".") or f.suffix.lower() not in VIDEO_SUFFIXES:
            continue
        if f.is_file():
            found.append(f)
        else:
            skipped.append(Skipped(strip_suffix(rel(f, root)), rel(f, root), not_a_file(f)))
    return found


def _components(links: Iterable[Sequence[str]]) -> dict[str, tuple[str, ...]]:
    """Video number -> the sorted numbers linked to it (through pairs and fakes)."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for link in links:
        first, *rest = link
        for other in rest:
            a, b = find(first), find(other)
            if a != b:
                parent[max(a, b)] = min(a, b)
    members: dict[str, list[str]] = {}
    for x in list(parent):
        members.setdefault(find(x), []).append(x)
    return {x: tuple(sorted(group)) for group in members.values() for x in group}
