"""The Deepfake Detection Challenge (Dolhansky et al., "The DeepFake Detection Challenge (DFDC)
Dataset", 2020) and its preview release (Dolhansky et al., 2019).

Layouts, any of which may sit at the root or one or two folders below it (all are indexed when
several co-exist, as in the full release's ``train/``, ``validation/`` and ``test/``):

* train parts: ``dfdc_train_part_N/metadata.json`` (or one ``metadata.json`` at the root, as in
  Kaggle's ``train_sample_videos``) mapping ``"x.mp4"`` to ``{"label": "FAKE"|"REAL",
  "split": "train", "original": "y.mp4"}``; the original is a file of the same part;
* the labelled test set: ``labels.csv`` (``filename,label``, 1 = fake) next to its mp4s; in a
  folder named ``validation``/``val``/``valid`` (the full release's public validation set) its
  videos are official val, elsewhere official test;
* the full release's ``test/metadata.json``, whose entries carry ``"is_fake": 0|1`` instead of a
  label: official test;
* the preview release: ``dataset.json`` mapping ``"method_A/.../x.mp4"`` or
  ``"original_videos/.../x.mp4"`` to ``{"label": "fake"|"real", "set": "train"|"test",
  "target_id": ..., "swapped_id": ..., "source_video"?: ...}``.

The train parts' ``split`` is always ``"train"`` and says nothing more, so those videos get no
official split: the manifest divides them into train and val.

Identities (what the random protocol keeps on one side): a train part names no donor, so a video's
only known source is its original (a real video is its own); the preview names both the target
(``target_id``) and the donor (``swapped_id``) of each fake; ``labels.csv`` names nothing.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator
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

GROUP_BY = ("original", "part")
_LABELS = {"fake": FAKE, "real": REAL, "1": FAKE, "0": REAL}
_SETS = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}


def parse_label(value: object, where: str) -> int:
    """``"FAKE"``/``"fake"``/``1`` -> FAKE, ``"REAL"``/``"real"``/``0`` -> REAL; else an error at ``where``."""
    key = str(value).strip().lower()
    if key in ("1.0", "0.0"):
        key = key[0]
    if key not in _LABELS:
        raise DatasetError(f"{where}: unknown label {value!r}; use FAKE/REAL or 1 (fake)/0 (real)")
    return _LABELS[key]


def find_files(root: Path, name: str, depth: int = 2) -> list[Path]:
    """``root/name``, ``root/*/name``, ... down to ``depth`` folders, hidden folders left out."""
    found: list[Path] = []
    for level in range(depth + 1):
        for p in root.glob("/".join(["*"] * level + [name])):
            parts = p.relative_to(root).parts[:-1]
            if p.is_file() and not any(part.startswith(".") for part in parts):
                found.append(p)
    return sorted(found)


def _join(folder: str, name: str) -> str:
    return f"{folder}/{name}" if folder else name


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatasetError(
            f"dfdc: {path} is not valid JSON ({exc}); re-extract it from the DFDC archive"
        ) from exc


@register_dataset
class DFDC(DatasetAdapter):
    """DFDC: train parts' metadata.json, the labelled test set's labels.csv, the preview's dataset.json.

    ``group_by="original"`` (default) groups each fake with its original; ``"part"`` makes each
    train part one group (stricter: the parts were filmed apart, so actors rarely span parts).
    """

    protocols = ("random", "official")

    def __init__(self, root: str | os.PathLike[str], *, group_by: str = "original", **options: Any) -> None:
        super().__init__(root, **options)
        if group_by not in GROUP_BY:
            raise ValueError(f"dfdc: group_by must be one of {GROUP_BY}, got {group_by!r}")
        self.group_by = group_by

    def index(self) -> DatasetIndex:
        """Index every layout found under the root (see the module docstring)."""
        self.require_root()
        metadata = find_files(self.root, "metadata.json")
        labels = find_files(self.root, "labels.csv")
        previews = find_files(self.root, "dataset.json")
        if not (metadata or labels or previews):
            raise DatasetError(
                f"dfdc: found none of metadata.json (train parts), labels.csv (labelled test set) or "
                f"dataset.json (preview) under {self.root} or two folders below it; point the root "
                "at the unpacked DFDC folder"
            )
        records: dict[str, VideoRecord] = {}
        origin: dict[str, Path] = {}
        skipped: list[Skipped] = []
        self._guard = RootGuard(self.root)

        def add(record: VideoRecord, source: Path) -> None:
            if record.video_id in records:
                raise DatasetError(
                    f"dfdc: {record.path} is listed in both {origin[record.video_id]} and {source}; "
                    "remove it from one of them"
                )
            records[record.video_id] = record
            origin[record.video_id] = source

        readers = (
            [(p, self._metadata) for p in metadata]
            + [(p, self._labels_csv) for p in labels]
            + [(p, self._preview) for p in previews]
        )
        for path, read in readers:
            for item in read(self._guard.require(path, "dfdc")):
                if isinstance(item, Skipped):
                    skipped.append(item)
                else:
                    add(item, path)
        # Files in a train part that no metadata names have no label: report them.
        known = set(records) | {s.video_id for s in skipped}
        for path in metadata:
            for f in sorted(path.parent.iterdir()):
                video_id = strip_suffix(rel(f, self.root))
                if f.suffix.lower() in VIDEO_SUFFIXES and video_id not in known:
                    meta = rel(path, self.root)
                    why = f"not listed in {meta} (no label)" if f.is_file() else not_a_file(f)
                    skipped.append(Skipped(video_id, rel(f, self.root), why))
        videos = sorted(records.values(), key=lambda v: v.video_id)
        return DatasetIndex(
            dataset=self.name,
            root=self.root,
            videos=videos,
            skipped=skipped,
            official_test_available=any(v.official_split == "test" for v in videos),
        )

    @classmethod
    def write_example(cls, root: Path) -> Example:
        """A train part (three originals, a fake of each, one more fake listed but not on disk) and
        a labelled test set."""
        part = root / "dfdc_train_part_0"
        meta: dict[str, dict[str, Any]] = {}
        for real, fake in (("a", "b"), ("c", "d"), ("e", "f")):
            meta[f"{real}.mp4"] = {"label": "REAL", "split": "train"}
            meta[f"{fake}.mp4"] = {"label": "FAKE", "split": "train", "original": f"{real}.mp4"}
        for name in meta:
            placeholder(part / name)
        meta["g.mp4"] = {"label": "FAKE", "split": "train", "original": "e.mp4"}
        (part / "metadata.json").write_text(json.dumps(meta))
        for name in ("t1.mp4", "t2.mp4"):
            placeholder(root / "test" / name)
        (root / "test" / "labels.csv").write_text("filename,label\nt1.mp4,1\nt2.mp4,0\n")
        return Example(root, missing=("dfdc_train_part_0/g",))

    def _metadata(self, path: Path) -> Iterator[VideoRecord | Skipped]:
        """A train part's ``metadata.json`` (``label``) or the test set's (``is_fake``)."""
        data = _read_json(path)
        if not isinstance(data, dict):
            raise DatasetError(
                f"dfdc: {path} must map file names to {{'label': 'FAKE'|'REAL', ...}}, got "
                f"{type(data).__name__}; re-extract it from the DFDC archive"
            )
        part = path.parent
        folder = rel(part, self.root) if part != self.root else ""
        meta = rel(path, self.root)
        for name, entry in sorted(data.items()):
            where = f"dfdc: {path} entry {name!r}"
            if not isinstance(entry, dict) or not ("label" in entry or "is_fake" in entry):
                raise DatasetError(f"{where} has no label; re-extract the file from the DFDC archive")
            if "label" in entry:
                label = parse_label(entry["label"], where)
                split = str(entry.get("split") or "").lower()
                official = _SETS[split] if split in _SETS and _SETS[split] != "train" else None
            else:
                value = entry["is_fake"]
                label = parse_label(int(value) if isinstance(value, bool) else value, where)
                official = "test"
            source = entry.get("original")
            refused = self._refuse(f"{meta}: key", folder, name)
            if refused is None and label == FAKE and source:
                # An original is only an id here, but one named outside the root is refused too.
                problem = self._guard.check(str(source), folder)
                if problem is not None:
                    why = f"{meta}: key {name!r} names an original {str(source)!r} that {problem}"
                    refused = Skipped(strip_suffix(_join(folder, name)), _join(folder, name), why)
            if refused is not None:
                yield refused
                continue
            path_rel = _join(folder, name)
            video_id = strip_suffix(path_rel)
            original = strip_suffix(_join(folder, str(source))) if label == FAKE and source else None
            by_part = self.group_by == "part" and official is None
            group = part.name if by_part else (original or video_id)
            if not (part / name).is_file():
                yield Skipped(video_id, path_rel, self._missing(part / name, f"listed in {meta}"))
                continue
            yield VideoRecord(
                video_id,
                path_rel,
                label,
                group,
                original=original,
                official_split=official,
                identities=(original or video_id,),  # the source video: no donor is named
            )

    def _labels_csv(self, path: Path) -> Iterator[VideoRecord | Skipped]:
        """The labelled test (or validation) set: ``filename,label`` next to its mp4s."""
        folder = path.parent
        table = rel(path, self.root)
        try:
            with path.open(newline="", encoding="utf-8") as f:
                rows = list(csv.reader(f))
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise DatasetError(
                f"dfdc: cannot read {path} ({exc}); re-extract it from the DFDC archive"
            ) from exc
        header = [h.strip().lower() for h in rows[0]] if rows else []
        if "filename" not in header or "label" not in header:
            raise DatasetError(
                f"dfdc: {path} must start with the header 'filename,label', got {rows[0] if rows else 'an empty file'}"
            )
        col_name, col_label = header.index("filename"), header.index("label")
        official = "val" if folder.name.lower() in ("validation", "val", "valid") else "test"
        for lineno, row in enumerate(rows[1:], 2):
            if not any(cell.strip() for cell in row):
                continue
            if len(row) <= max(col_name, col_label) or not row[col_name].strip():
                raise DatasetError(f"dfdc: {path} line {lineno}: expected 'filename,label', got {row}")
            name = row[col_name].strip()
            label = parse_label(row[col_label], f"dfdc: {path} line {lineno}")
            base = rel(folder, self.root) if folder != self.root else ""
            refused = self._refuse(f"{table} line {lineno}:", base, name) or self._refuse(
                f"{table} line {lineno}:", _join(base, "videos"), name
            )
            if refused is not None:
                yield refused
                continue
            found = next((c for c in (folder / name, folder / "videos" / name) if c.is_file()), None)
            if found is None:
                path_rel = rel(folder / name, self.root)
                why = self._missing(folder / name, f"listed in {table}")
                yield Skipped(strip_suffix(path_rel), path_rel, why)
                continue
            path_rel = rel(found, self.root)
            video_id = strip_suffix(path_rel)
            yield VideoRecord(video_id, path_rel, label, group=video_id, official_split=official)

    def _preview(self, path: Path) -> Iterator[VideoRecord | Skipped]:
        """The preview's ``dataset.json``: grouped by ``target_id``, donor in ``swapped_id``."""
        data = _read_json(path)
        if not isinstance(data, dict):
            raise DatasetError(
                f"dfdc: {path} must map video paths to {{'label': 'fake'|'real', 'set': ...}}, got "
                f"{type(data).__name__}; re-extract it from the DFDC preview archive"
            )
        base = path.parent
        folder = rel(base, self.root) if base != self.root else ""
        listing = rel(path, self.root)
        parsed: list[tuple[str, dict[str, Any], int]] = []
        reals: dict[str, str] = {}  # listed path without suffix -> video id, for each real
        stems: dict[str, list[str]] = {}  # file stem -> video ids of the reals with that stem
        for key, entry in sorted(data.items()):
            where = f"dfdc: {path} entry {key!r}"
            if not isinstance(entry, dict) or "label" not in entry:
                raise DatasetError(f"{where} has no label; re-extract the file from the DFDC preview archive")
            label = parse_label(entry["label"], where)
            parsed.append((key, entry, label))
            if label == REAL:
                video_id = strip_suffix(_join(folder, key))
                reals[strip_suffix(key)] = video_id
                stems.setdefault(Path(key).stem, []).append(video_id)

        def resolve(source: object) -> str | None:
            """The video id of a fake's original (``source_video`` / ``original``), if listed."""
            if not source:
                return None
            text = str(source).replace("\\", "/")
            if strip_suffix(text) in reals:
                return reals[strip_suffix(text)]
            matches = stems.get(Path(text).stem, [])
            return matches[0] if len(matches) == 1 else None

        for key, entry, label in parsed:
            where = f"dfdc: {path} entry {key!r}"
            split = entry.get("set")
            if split is not None and str(split).lower() not in _SETS:
                raise DatasetError(f"{where}: unknown set {split!r}; expected 'train' or 'test'")
            official = _SETS[str(split).lower()] if split is not None else None
            target = _ident(entry.get("target_id"))
            swapped = _ident(entry.get("swapped_id")) if label == FAKE else None
            original = resolve(entry.get("source_video") or entry.get("original")) if label == FAKE else None
            refused = self._refuse(f"{listing}: key", folder, key)
            if refused is not None:
                yield refused
                continue
            path_rel = _join(folder, key)
            video_id = strip_suffix(path_rel)
            if not (base / key).is_file():
                yield Skipped(video_id, path_rel, self._missing(base / key, f"listed in {listing}"))
                continue
            yield VideoRecord(
                video_id,
                path_rel,
                label,
                group=target or original or video_id,
                original=original,
                source_id=swapped,
                target_id=target,
                official_split=official,
            )

    def _refuse(self, where: str, folder: str, name: str) -> Skipped | None:
        """A skipped entry if ``name`` (listed in a metadata file of ``folder``) leaves the root.

        ``where`` names the file and key or line, e.g. ``"part/metadata.json: key"``; nothing is
        looked up on disk for a refused name.
        """
        problem = self._guard.check(name, folder)
        if problem is None:
            return None
        return Skipped(strip_suffix(name), name, f"{where} {name!r} {problem}")

    @staticmethod
    def _missing(path: Path, listed: str) -> str:
        """``"listed in X but missing"``, or why the listed entry is not a file (a folder, a loop)."""
        if not (path.is_symlink() or path.exists()):
            return f"{listed} but missing"
        return f"{listed} but {not_a_file(path)}"


def _ident(value: object) -> str | None:
    return None if value is None or str(value).strip() == "" else str(value).strip()
