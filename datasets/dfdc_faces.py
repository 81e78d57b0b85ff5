"""DFDC faces cropped beforehand (no face extraction needed), as shared on Kaggle.

``metadata.csv`` names one DFDC video per row: ``filename,split,original,label`` (or Kaggle
"deepfake-faces"' ``videoname,original_width,original_height,label,original``); ``label`` is
``FAKE``/``REAL`` or 1 (fake)/0 (real); ``split`` (optional) is train/val/valid/validation/test.
The faces of video ``abc.mp4`` are either a folder of crops (``faces/abc/*.jpg`` or ``abc/*.png``:
media ``"frames"``) or one image (``faces_224/abc.jpg``: media ``"image"``), looked up in
``faces/``, then any other ``faces*`` folder, then the root.

The metadata names no donor: a video's only known source (its identity for the splits) is its
``original`` (a real video is its own).
"""

from __future__ import annotations

import csv
from pathlib import Path

from harness.datasets import register_dataset
from harness.datasets._base import (
    FAKE,
    IMAGE_SUFFIXES,
    DatasetAdapter,
    DatasetError,
    DatasetIndex,
    Example,
    RootGuard,
    Skipped,
    VideoRecord,
    placeholder,
    rel,
    strip_suffix,
)
from harness.datasets.dfdc import parse_label

METADATA = "metadata.csv"
NAME_COLUMNS = ("filename", "videoname")
SPLITS = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}
_EMPTY = ("", "nan", "none", "null")


class _Faces:
    """Where the faces of a video live: one directory listing per folder, read once."""

    def __init__(self, root: Path) -> None:
        self.root = root
        others = sorted(
            p
            for p in root.iterdir()
            if p.is_dir() and p.name.lower().startswith("faces") and p.name != "faces"
        )
        self.bases = [p for p in [root / "faces", *others] if p.is_dir()] + [root]
        self._listings: dict[Path, tuple[dict[str, Path], dict[str, Path]]] = {}

    def _listing(self, folder: Path) -> tuple[dict[str, Path], dict[str, Path]]:
        """``(sub-folders by name, images by stem)`` of ``folder``."""
        if folder not in self._listings:
            dirs: dict[str, Path] = {}
            images: dict[str, Path] = {}
            if folder.is_dir():
                for p in sorted(folder.iterdir()):
                    if p.is_dir():
                        dirs[p.name] = p
                    elif p.suffix.lower() in IMAGE_SUFFIXES:
                        images.setdefault(p.stem, p)
            self._listings[folder] = (dirs, images)
        return self._listings[folder]

    def find(self, video: str) -> tuple[Path, Path] | None:
        """``(base folder, faces folder or image)`` of ``video`` (a file name like ``abc.mp4``)."""
        sub, stem = Path(video).parent, Path(video).stem
        for base in self.bases:
            dirs, images = self._listing(base / sub)
            if stem in dirs and not (base == self.root and dirs[stem] in self.bases):
                return base, dirs[stem]
            if stem in images:
                return base, images[stem]
        return None

    def id_of(self, found: Path) -> str:
        return rel(found, self.root) if found.is_dir() else strip_suffix(rel(found, self.root))


@register_dataset
class DFDCFaces(DatasetAdapter):
    """DFDC pre-cropped faces: one image folder (or image) per video plus metadata.csv."""

    protocols = ("random", "official")

    def index(self) -> DatasetIndex:
        """One record per metadata row whose faces are on disk; the others are skipped."""
        self.require_root()
        path = self.root / METADATA
        if not path.is_file():
            raise DatasetError(
                f"dfdc_faces: no {METADATA} in {self.root}; point the root at the folder that holds "
                f"{METADATA} and the face crops"
            )
        guard = RootGuard(self.root)
        rows = _read_rows(guard.require(path, "dfdc_faces"))
        faces = _Faces(self.root)
        records: dict[str, VideoRecord] = {}
        skipped: list[Skipped] = []
        seen: dict[str, int] = {}
        for lineno, row in rows:
            where = f"dfdc_faces: {path} line {lineno}"
            video = row["name"]
            label = parse_label(row["label"], where)
            split_text = row["split"].lower()
            if split_text not in SPLITS and split_text not in _EMPTY:
                raise DatasetError(f"{where}: unknown split {row['split']!r}; use one of {sorted(SPLITS)}")
            source = row["original"] if label == FAKE and row["original"].lower() not in _EMPTY else ""
            # Names are looked up in every faces folder: none may climb out of the root.
            problem = next(
                (
                    f"{what}{name!r} {why}"
                    for what, name in (("", video), ("original ", source))
                    if name and (why := guard.check(name)) is not None
                ),
                None,
            )
            if problem is not None:
                skipped.append(Skipped(strip_suffix(video), video, f"{METADATA} line {lineno}: {problem}"))
                continue
            if video in seen:
                skipped.append(
                    Skipped(
                        strip_suffix(video),
                        video,
                        f"listed again in {METADATA} (first on line {seen[video]})",
                    )
                )
                continue
            seen[video] = lineno
            found = faces.find(video)
            if found is None:
                looked = ", ".join(rel(b, self.root) if b != self.root else "." for b in faces.bases)
                skipped.append(
                    Skipped(
                        strip_suffix(video),
                        video,
                        f"no face folder or image for {video} (looked in {looked})",
                    )
                )
                continue
            base, location = found
            video_id = faces.id_of(location)
            location_rel = rel(location, self.root)
            problem = guard.check(location_rel)
            if problem is None and location.is_dir():
                frames = [p for p in location.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES]
                if not frames:
                    problem = "face folder holds no images"
                # The crops of a folder are read one by one: each must stay under the root too.
                problem = next(
                    (f"{p.name!r} {why}" for p in frames if (why := guard.check(rel(p, self.root)))),
                    problem,
                )
            if problem is not None:
                skipped.append(Skipped(video_id, location_rel, problem))
                continue
            original = None
            if source:
                hit = faces.find(source)
                # An original with no faces on disk keeps the id it would have next to this fake.
                original = (
                    faces.id_of(hit[1])
                    if hit
                    else rel(base / Path(source).parent / Path(source).stem, self.root)
                )
            records[video_id] = VideoRecord(
                video_id,
                rel(location, self.root),
                label,
                group=original or video_id,
                original=original,
                official_split=SPLITS.get(split_text),
                media="frames" if location.is_dir() else "image",
                identities=(original or video_id,),
            )
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
        """Three real/fake pairs (train, val, test) with two face crops each in ``faces/<stem>/``,
        and one more fake in ``metadata.csv`` whose faces are not on disk."""
        rows = _example_rows()
        for row in rows[1:]:
            stem = row.split(".mp4")[0]
            for i in range(2):
                placeholder(root / "faces" / stem / f"{i:04d}.jpg")
        rows.append("g.mp4,test,e.mp4,FAKE")
        (root / METADATA).write_text("\n".join(rows) + "\n")
        return Example(root, missing=("g",))


def _example_rows() -> list[str]:
    rows = ["filename,split,original,label"]
    for real, fake, split in (("a", "b", "train"), ("c", "d", "val"), ("e", "f", "test")):
        rows += [f"{real}.mp4,{split},,REAL", f"{fake}.mp4,{split},{real}.mp4,FAKE"]
    return rows


def _read_rows(path: Path) -> list[tuple[int, dict[str, str]]]:
    """``(line number, {"name", "label", "split", "original"})`` per data row of ``metadata.csv``."""
    try:
        with path.open(newline="", encoding="utf-8") as f:
            table = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"dfdc_faces: cannot read {path} ({exc}); restore it from the dataset") from exc
    header = [h.strip().lower() for h in table[0]] if table else []
    name_col = next((header.index(c) for c in NAME_COLUMNS if c in header), None)
    if name_col is None or "label" not in header:
        raise DatasetError(
            f"dfdc_faces: {path} must have a header with 'filename' (or 'videoname') and 'label' "
            f"columns, got {table[0] if table else 'an empty file'}"
        )
    cols = {"name": name_col, "label": header.index("label")}
    for optional in ("split", "original"):
        if optional in header:
            cols[optional] = header.index(optional)
    out: list[tuple[int, dict[str, str]]] = []
    for lineno, row in enumerate(table[1:], 2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header) or not row[name_col].strip():
            raise DatasetError(
                f"dfdc_faces: {path} line {lineno}: expected {len(header)} columns {header}, got {row}"
            )
        values = {key: row[i].strip() for key, i in cols.items()}
        out.append((lineno, {"split": "", "original": "", **values}))
    return out
