"""Every dataset path stays under its root (issue 20).

Metadata names files: a DFDC ``metadata.json`` key, a ``labels.csv`` row, a preview
``dataset.json`` key, a ``dfdc_faces`` ``metadata.csv`` row, a Celeb-DF test list line. A name that
is absolute or climbs out with ``..`` must be refused in the skipped report (naming the file, and
the line where the format has lines) before anything is looked up on disk; a symbolic link inside
the tree that leads out of the root is refused too (the strict choice: ``realpath`` must stay
under the root). Each test puts a real file at the escaping place, so an adapter that followed the
name would index it, and records every file-system call: nothing under ``outside/`` may be
stat'ed, listed or opened. Smaller: folders named like media files and symbolic link loops are
listed as skipped, not silently left out, while image-sequence folders keep working.
"""

from __future__ import annotations

import builtins
import io
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.datasets import DATASETS, DatasetError, DatasetIndex, Skipped, VideoRecord, placeholder

KINDS = ("relative", "absolute")


@pytest.fixture
def place(tmp_path: Path) -> tuple[Path, Path]:
    """``(root, outside)``: the dataset root and a sibling folder it must never reach."""
    base = tmp_path.resolve()
    return base / "root", base / "outside"


@pytest.fixture
def touched(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every path stat'ed, listed or opened while the test runs (normalised, absolute)."""
    seen: list[str] = []

    def watch(fn: Any) -> Any:
        def inner(*args: Any, **kwargs: Any) -> Any:
            if args and isinstance(args[0], (str, bytes, os.PathLike)):
                seen.append(os.path.normpath(os.path.abspath(os.fsdecode(args[0]))))
            return fn(*args, **kwargs)

        return inner

    for name in ("stat", "lstat", "listdir", "scandir"):
        monkeypatch.setattr(os, name, watch(getattr(os, name)))
    monkeypatch.setattr(io, "open", watch(io.open))
    monkeypatch.setattr(builtins, "open", watch(builtins.open))
    yield seen


def outside_calls(touched: list[str], outside: Path) -> list[str]:
    return [p for p in touched if p == str(outside) or p.startswith(str(outside) + os.sep)]


def index_of(name: str, root: Path) -> DatasetIndex:
    return DATASETS.get(name)(root).index()


def escaping(kind: str, outside: Path, climb: int, name: str = "x.mp4") -> str:
    """The name of ``outside/name`` as metadata ``climb`` folders below the shared parent spells it."""
    return "../" * climb + f"outside/{name}" if kind == "relative" else str(outside / name)


def refused(index: DatasetIndex, listed: str) -> Skipped:
    """The one skipped entry that names ``listed``; nothing indexed from it."""
    hits = [s for s in index.skipped if listed in s.reason]
    assert len(hits) == 1, index.skipped
    assert all("outside" not in v.path for v in index.videos), index.videos
    return hits[0]


# ---------------------------------------------------------------------------------------------
# DatasetIndex: the net under every adapter (and plugin)
def test_dataset_index_refuses_records_outside_its_root(place: tuple[Path, Path], touched: list[str]) -> None:
    root, outside = place
    bait = placeholder(outside / "x.mp4")
    linked = placeholder(outside / "linked.mp4")
    placeholder(root / "ok.mp4")
    (root / "link.mp4").symlink_to(linked)
    (root / "loop.mp4").symlink_to("loop.mp4")
    records = [
        VideoRecord(vid, path, 0, group=vid)
        for vid, path in (
            ("ok", "ok.mp4"),
            ("up", "../outside/x.mp4"),
            ("abs", str(bait)),
            ("inner", "sub/../ok.mp4"),
            ("link", "link.mp4"),
            ("loop", "loop.mp4"),
        )
    ]
    touched.clear()
    index = DatasetIndex("unit", root, records)
    assert [v.video_id for v in index.videos] == ["ok"]
    reasons = {s.video_id: s.reason for s in index.skipped}
    assert reasons == {
        "up": "'../outside/x.mp4' escapes the dataset root",
        "abs": f"{str(bait)!r} is an absolute path: it escapes the dataset root (paths are relative to it)",
        "inner": "'sub/../ok.mp4' uses '..' (name the file below the dataset root directly)",
        "link": f"'link.mp4' is a symbolic link to {linked}, outside the dataset root",
        "loop": "'loop.mp4' is a symbolic link loop",
    }
    # Only the link inside the root is followed (to see where it leads); the names are not.
    assert str(bait) not in touched
    assert set(outside_calls(touched, outside)) <= {str(outside), str(linked)}


# ---------------------------------------------------------------------------------------------
# DFDC: train-part metadata.json, the test set's metadata.json (is_fake), labels.csv, preview
def _dfdc_tree(root: Path) -> None:
    part = root / "dfdc_train_part_0"
    meta = {"a.mp4": {"label": "REAL", "split": "train"}, "b.mp4": {"label": "FAKE", "original": "a.mp4"}}
    for name in meta:
        placeholder(part / name)
    (part / "metadata.json").write_text(json.dumps(meta))
    for name in ("t1.mp4", "t2.mp4"):
        placeholder(root / "test" / name)
    (root / "test" / "labels.csv").write_text("filename,label\nt1.mp4,1\nt2.mp4,0\n")
    preview = {"original_videos/1/r.mp4": {"label": "real", "set": "train", "target_id": "1"}}
    placeholder(root / "preview" / "original_videos" / "1" / "r.mp4")
    (root / "preview" / "dataset.json").write_text(json.dumps(preview))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("listing", ["metadata.json", "is_fake metadata.json", "labels.csv", "dataset.json"])
def test_dfdc_refuses_a_listed_path_outside_the_root(
    listing: str, kind: str, place: tuple[Path, Path], touched: list[str]
) -> None:
    root, outside = place
    placeholder(outside / "x.mp4")
    placeholder(outside / "videos" / "x.mp4")
    _dfdc_tree(root)
    name = escaping(kind, outside, 2)
    if listing == "metadata.json":
        meta = json.loads((root / "dfdc_train_part_0" / "metadata.json").read_text())
        meta[name] = {"label": "FAKE", "split": "train", "original": "a.mp4"}
        (root / "dfdc_train_part_0" / "metadata.json").write_text(json.dumps(meta))
        where = f"dfdc_train_part_0/metadata.json: key {name!r}"
    elif listing == "is_fake metadata.json":
        (root / "private").mkdir()
        (root / "private" / "metadata.json").write_text(json.dumps({name: {"is_fake": 1}}))
        where = f"private/metadata.json: key {name!r}"
    elif listing == "labels.csv":
        (root / "test" / "labels.csv").write_text(f"filename,label\nt1.mp4,1\n{name},1\nt2.mp4,0\n")
        where = f"test/labels.csv line 3: {name!r}"
    else:
        data = json.loads((root / "preview" / "dataset.json").read_text())
        data[name] = {"label": "fake", "set": "test", "target_id": "1", "swapped_id": "2"}
        (root / "preview" / "dataset.json").write_text(json.dumps(data))
        where = f"preview/dataset.json: key {name!r}"
    touched.clear()
    index = index_of("dfdc", root)
    problem = "escapes the dataset root" if kind == "relative" else "is an absolute path: it escapes"
    assert refused(index, name).reason.startswith(f"{where} {problem}")
    assert outside_calls(touched, outside) == []
    assert len(index.videos) == 5  # the rest of the dataset is indexed as before


@pytest.mark.parametrize("kind", KINDS)
def test_dfdc_refuses_an_original_named_outside_the_root(
    kind: str, place: tuple[Path, Path], touched: list[str]
) -> None:
    root, outside = place
    placeholder(outside / "y.mp4")
    _dfdc_tree(root)
    meta = json.loads((root / "dfdc_train_part_0" / "metadata.json").read_text())
    source = escaping(kind, outside, 2, "y.mp4")
    meta["b.mp4"]["original"] = source
    (root / "dfdc_train_part_0" / "metadata.json").write_text(json.dumps(meta))
    touched.clear()
    index = index_of("dfdc", root)
    entry = refused(index, source)
    assert entry.video_id == "dfdc_train_part_0/b"
    meta = "dfdc_train_part_0/metadata.json"
    assert entry.reason.startswith(f"{meta}: key 'b.mp4' names an original {source!r} that ")
    assert "dfdc_train_part_0/b" not in {v.video_id for v in index.videos}
    assert outside_calls(touched, outside) == []


@pytest.mark.parametrize("target", KINDS)
def test_dfdc_refuses_a_listed_file_that_links_out_of_the_root(target: str, place: tuple[Path, Path]) -> None:
    root, outside = place
    bait = placeholder(outside / "x.mp4")
    _dfdc_tree(root)
    link = root / "dfdc_train_part_0" / "a.mp4"
    link.unlink()
    link.symlink_to(os.path.relpath(bait, link.parent) if target == "relative" else bait)
    index = index_of("dfdc", root)
    entry = refused(index, "'a.mp4' is a symbolic link")
    assert entry.reason == (
        f"dfdc_train_part_0/metadata.json: key 'a.mp4' is a symbolic link to {bait}, outside the dataset root"
    )
    assert "dfdc_train_part_0/a" not in {v.video_id for v in index.videos}


def test_dfdc_metadata_file_linked_from_outside_is_an_error(place: tuple[Path, Path]) -> None:
    root, outside = place
    _dfdc_tree(root)
    (outside / "part").mkdir(parents=True)
    (outside / "part" / "metadata.json").write_text(json.dumps({"z.mp4": {"label": "REAL"}}))
    (root / "linked").symlink_to(outside / "part")
    with pytest.raises(DatasetError, match=r"linked/metadata.json lies in a folder linked to .*outside"):
        index_of("dfdc", root)


def test_dfdc_lists_folders_named_like_videos_and_link_loops(place: tuple[Path, Path]) -> None:
    root, _ = place
    _dfdc_tree(root)
    part = root / "dfdc_train_part_0"
    (part / "a.mp4").unlink()
    (part / "a.mp4").mkdir()  # listed in metadata.json, but a folder
    (part / "extra.mp4").mkdir()  # not listed, a folder
    (part / "loop.mp4").symlink_to("loop.mp4")  # not listed, a loop
    reasons = {s.video_id: s.reason for s in index_of("dfdc", root).skipped}
    assert reasons == {
        "dfdc_train_part_0/a": "listed in dfdc_train_part_0/metadata.json but is a folder named like a "
        "media file, not a file",
        "dfdc_train_part_0/extra": "is a folder named like a media file, not a file",
        "dfdc_train_part_0/loop": "is a symbolic link loop",
    }


# ---------------------------------------------------------------------------------------------
# DFDC faces: metadata.csv's filename and original columns
def _faces_tree(root: Path, extra: str) -> None:
    for stem in ("a", "b"):
        placeholder(root / "faces" / stem / "0.jpg")
    (root / "metadata.csv").write_text(f"filename,split,original,label\na.mp4,train,,REAL\n{extra}\n")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("column", ["filename", "original"])
def test_dfdc_faces_refuses_a_name_outside_the_root(
    column: str, kind: str, place: tuple[Path, Path], touched: list[str]
) -> None:
    root, outside = place
    placeholder(outside / "x" / "0.jpg")  # a face folder for video x.mp4 ...
    placeholder(outside / "x.jpg")  # ... and a single face image
    name = escaping(kind, outside, 2)
    row = f"{name},train,a.mp4,FAKE" if column == "filename" else f"b.mp4,train,{name},FAKE"
    _faces_tree(root, row)
    touched.clear()
    index = index_of("dfdc_faces", root)
    what = "" if column == "filename" else "original "
    assert refused(index, name).reason.startswith(f"metadata.csv line 3: {what}{name!r} ")
    assert [v.video_id for v in index.videos] == ["faces/a"]
    assert outside_calls(touched, outside) == []


def test_dfdc_faces_refuses_a_face_folder_or_crop_that_links_out(place: tuple[Path, Path]) -> None:
    root, outside = place
    bait = placeholder(outside / "crops" / "0.jpg")
    _faces_tree(root, "b.mp4,train,a.mp4,FAKE\nc.mp4,train,a.mp4,FAKE")
    (root / "faces" / "c").symlink_to(bait.parent)  # the whole face folder
    (root / "faces" / "b" / "1.jpg").symlink_to(bait)  # one crop of a folder
    reasons = {s.video_id: s.reason for s in index_of("dfdc_faces", root).skipped}
    assert reasons == {
        "faces/b": f"'1.jpg' is a symbolic link to {bait}, outside the dataset root",
        "faces/c": f"is a symbolic link to {bait.parent}, outside the dataset root",
    }


# ---------------------------------------------------------------------------------------------
# Celeb-DF: the test list, and links in the class folders
def _celebdf_tree(root: Path, lines: list[str]) -> None:
    for stem in ("id0_0000", "id1_0000"):
        placeholder(root / "Celeb-real" / f"{stem}.mp4")
    placeholder(root / "Celeb-synthesis" / "id0_id1_0000.mp4")
    placeholder(root / "YouTube-real" / "00000.mp4")
    (root / "List_of_testing_videos.txt").write_text("\n".join(["1 YouTube-real/00000.mp4", *lines]) + "\n")


@pytest.mark.parametrize("kind", KINDS)
def test_celebdf_refuses_a_test_list_line_outside_the_root(
    kind: str, place: tuple[Path, Path], touched: list[str]
) -> None:
    root, outside = place
    bait = placeholder(outside / "YouTube-real" / "00001.mp4")
    name = "YouTube-real/../../outside/YouTube-real/00001.mp4" if kind == "relative" else str(bait)
    _celebdf_tree(root, [f"1 {name}"])
    touched.clear()
    index = index_of("celebdf", root)  # before: an error for the whole list
    problem = "escapes the dataset root" if kind == "relative" else "is an absolute path"
    assert refused(index, name).reason.startswith(f"List_of_testing_videos.txt line 2: {name!r} {problem}")
    assert {v.video_id for v in index.videos if v.official_split == "test"} == {"YouTube-real/00000"}
    assert outside_calls(touched, outside) == []


@pytest.mark.parametrize("target", KINDS)
def test_celebdf_refuses_a_video_that_links_out_of_the_root(target: str, place: tuple[Path, Path]) -> None:
    root, outside = place
    bait = placeholder(outside / "id2_0000.mp4")
    _celebdf_tree(root, [])
    link = root / "Celeb-real" / "id2_0000.mp4"
    link.symlink_to(os.path.relpath(bait, link.parent) if target == "relative" else bait)
    index = index_of("celebdf", root)
    entry = refused(index, "id2_0000.mp4")
    assert entry.reason == (
        f"'Celeb-real/id2_0000.mp4' is a symbolic link to {bait}, outside the dataset root"
    )
    assert "Celeb-real/id2_0000" not in {v.video_id for v in index.videos}


def test_celebdf_lists_folders_named_like_videos_and_link_loops(place: tuple[Path, Path]) -> None:
    root, _ = place
    _celebdf_tree(root, [])
    (root / "Celeb-real" / "id5_0000.mp4").mkdir()
    (root / "YouTube-real" / "00009.mp4").symlink_to("00009.mp4")
    reasons = {s.video_id: s.reason for s in index_of("celebdf", root).skipped}
    assert reasons == {
        "Celeb-real/id5_0000": "is a folder named like a media file, not a file",
        "YouTube-real/00009": "is a symbolic link loop",
    }


# ---------------------------------------------------------------------------------------------
# FaceForensics++: split files list numbers, never paths; links in the video folders
def _ffpp_tree(root: Path, pairs: list[list[str]]) -> Path:
    videos = root / "original_sequences" / "youtube" / "c23" / "videos"
    for n in ("000", "001"):
        placeholder(videos / f"{n}.mp4")
    for stem in ("000_001", "001_000"):
        placeholder(root / "manipulated_sequences" / "Deepfakes" / "c23" / "videos" / f"{stem}.mp4")
    (root / "splits").mkdir()
    (root / "splits" / "test.json").write_text(json.dumps(pairs))
    return videos


@pytest.mark.parametrize("kind", KINDS)
def test_ffpp_refuses_a_split_entry_that_is_a_path(
    kind: str, place: tuple[Path, Path], touched: list[str]
) -> None:
    root, outside = place
    placeholder(outside / "002.mp4")
    name = escaping(kind, outside, 5, "002")
    _ffpp_tree(root, [["000", "001"], [name, "003"]])
    touched.clear()
    index = index_of("ffpp", root)
    entry = refused(index, repr(name))
    assert entry.reason == (
        f"splits/test.json: pair [{name!r}, '003']: {name!r} is not a video number (split files list numbers)"
    )
    assert outside_calls(touched, outside) == []
    assert {v.official_split for v in index.videos} == {"test"}


@pytest.mark.parametrize("target", KINDS)
def test_ffpp_refuses_a_video_that_links_out_of_the_root(target: str, place: tuple[Path, Path]) -> None:
    root, outside = place
    bait = placeholder(outside / "002.mp4")
    videos = _ffpp_tree(root, [["000", "001"]])
    link = videos / "002.mp4"
    link.symlink_to(os.path.relpath(bait, link.parent) if target == "relative" else bait)
    (videos / "004.mp4").mkdir()
    (videos / "005.mp4").symlink_to("005.mp4")
    index = index_of("ffpp", root)
    reasons = {s.video_id.rsplit("/", 1)[-1]: s.reason for s in index.skipped}
    assert reasons == {
        "002": f"'original_sequences/youtube/c23/videos/002.mp4' is a symbolic link to {bait}, outside the "
        "dataset root",
        "004": "is a folder named like a media file, not a file",
        "005": "is a symbolic link loop",
    }
    assert len(index.videos) == 4


# ---------------------------------------------------------------------------------------------
# Folder: no metadata, so only links can lead out; media-named folders and loops
@pytest.mark.parametrize("target", KINDS)
def test_folder_refuses_links_out_of_the_root(target: str, place: tuple[Path, Path]) -> None:
    root, outside = place
    bait = placeholder(outside / "x.mp4")
    frame = placeholder(outside / "frames" / "0000.png")
    placeholder(root / "real" / "ok.mp4")
    placeholder(root / "fake" / "seq" / "0000.png")

    def link(path: Path, to: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.symlink_to(os.path.relpath(to, path.parent) if target == "relative" else to)

    link(root / "real" / "x.mp4", bait)  # a video
    link(root / "real" / "dir", frame.parent)  # a folder
    link(root / "fake" / "seq" / "0001.png", frame)  # one frame of a sequence
    index = index_of("folder", root)
    assert [v.video_id for v in index.videos] == ["real/ok"]
    reasons = {s.path: s.reason for s in index.skipped}
    assert reasons == {
        "real/x.mp4": f"is a symbolic link to {bait}, outside the dataset root",
        "real/dir": f"is a symbolic link to {frame.parent}, outside the dataset root",
        "fake/seq/0001.png": f"is a symbolic link to {frame}, outside the dataset root",
        "fake/seq": f"frame '0001.png' is a symbolic link to {frame}, outside the dataset root",
    }


def test_folder_class_folder_linked_out_of_the_root_is_refused(place: tuple[Path, Path]) -> None:
    root, outside = place
    placeholder(outside / "reals" / "x.mp4")
    placeholder(root / "fake" / "f.mp4")
    root.joinpath("real").symlink_to(outside / "reals")
    index = index_of("folder", root)
    assert [v.video_id for v in index.videos] == ["fake/f"]
    assert [s.reason for s in index.skipped] == [
        f"'real/x.mp4' lies in a folder linked to {outside / 'reals'}, outside the dataset root"
    ]


def test_folder_lists_media_named_folders_and_loops_but_keeps_sequences(place: tuple[Path, Path]) -> None:
    root, _ = place
    placeholder(root / "real" / "ok.mp4")
    placeholder(root / "real" / "clip.mp4" / "0000.png")  # an image sequence named like a video
    (root / "real" / "empty.mp4").mkdir()  # a folder named like a video, no images
    placeholder(root / "fake" / "still.png" / "notes.txt")  # named like an image, no images
    placeholder(root / "fake" / "f.mp4")
    (root / "fake" / "loop.mp4").symlink_to("loop.mp4")
    (root / "fake" / "gone.mp4").symlink_to("nowhere.mp4")
    index = index_of("folder", root)
    got = {v.video_id: (v.path, v.media) for v in index.videos}
    assert got == {
        "fake/f": ("fake/f.mp4", "video"),
        "real/clip.mp4": ("real/clip.mp4", "video"),  # still read as an image sequence
        "real/ok": ("real/ok.mp4", "video"),
    }
    no_images = " (and it holds no images, so it is not an image sequence)"
    assert {s.path: s.reason for s in index.skipped} == {
        "real/empty.mp4": "is a folder named like a media file, not a file" + no_images,
        "fake/still.png": "is a folder named like a media file, not a file" + no_images,
        "fake/loop.mp4": "is a symbolic link loop",
        "fake/gone.mp4": "is a broken symbolic link",
    }
