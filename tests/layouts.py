"""Writers of miniature dataset trees for the adapter tests (torchvision's dataset-test approach).

Each ``write_*`` function lays out one real on-disk layout under ``root`` with tiny real files
(an 8-frame 64x64 H.264 clip, a 16x16 PNG/JPEG), one corrupt ``.mp4`` (random bytes) and the
metadata quirks the adapter must survive. What each tree holds is spelled out in its docstring;
the tests assert against those literals.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np


class Media:
    """Copies one tiny clip and one tiny image (written once per session) wherever a tree needs them."""

    def __init__(self, workdir: Path) -> None:
        self.clip = write_tiny_mp4(workdir / "tiny.mp4")
        self.png = write_tiny_image(workdir / "tiny.png")
        self.jpg = write_tiny_image(workdir / "tiny.jpg")

    def video(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.clip, path)
        return path

    def image(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.png if path.suffix.lower() == ".png" else self.jpg, path)
        return path

    @staticmethod
    def corrupt(path: Path) -> Path:
        """Random bytes under a video suffix: adapters index it, face extraction skips it later."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(512))
        return path


def write_tiny_mp4(path: Path, frames: int = 8, size: int = 64) -> Path:
    """An 8-frame ``size`` x ``size`` noise clip encoded with libx264 (about 20 kB)."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=8)
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        for _ in range(frames):
            frame = av.VideoFrame.from_ndarray(
                rng.integers(0, 256, (size, size, 3), dtype=np.uint8), format="rgb24"
            )
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def write_tiny_image(path: Path, size: int = 16) -> Path:
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(0).integers(0, 256, (size, size, 3), dtype=np.uint8)
    ok, data = cv2.imencode(path.suffix, pixels)
    assert ok, path
    path.write_bytes(data.tobytes())
    return path


# ---------------------------------------------------------------------------------------------
# Celeb-DF
CELEB_REAL = ["id0_0000", "id0_0001", "id1_0000", "id2_0000", "id3_0000", "id4_0000", "id5_0000", "id6_0000"]
CELEB_FAKE = [
    "id0_id1_0000",
    "id0_id2_0001",
    "id1_id0_0000",
    "id2_id3_0000",
    "id3_id2_0000",
    "id3_id1_0001",  # its original Celeb-real/id3_0001 is absent
    "id4_id5_0000",
    "id5_id4_0000",
    "id6_id4_0000",
    "id7_id6_0000",  # its original Celeb-real/id7_0000 is absent
]
YOUTUBE_REAL = ["00000", "00001", "00002", "00003", "00004"]  # 00003 is corrupt
CELEB_TEST_LIST = [
    "1 YouTube-real/00000.mp4",
    "1 Celeb-real/id0_0000.mp4",
    "0 Celeb-synthesis/id1_id0_0000.mp4",
    "0 Celeb-synthesis/id9_id8_0003.mp4",  # not on disk
    "",
]


def write_celebdf(
    media: Media,
    root: Path,
    *,
    videos_level: bool = False,
    youtube: str = "YouTube-real",
    test_list: list[str] | None = CELEB_TEST_LIST,
) -> Path:
    """Celeb-DF: 8 Celeb-real, 10 Celeb-synthesis, 5 YouTube-real (one corrupt), a badly named
    ``Celeb-real/foo.mp4``, a stray ``notes.txt``; class folders at the root or under ``videos/``;
    the test list always at the root (paths without ``videos/``)."""
    base = root / "videos" if videos_level else root
    for stem in CELEB_REAL:
        media.video(base / "Celeb-real" / f"{stem}.mp4")
    media.video(base / "Celeb-real" / "foo.mp4")
    (base / "Celeb-real" / "notes.txt").write_text("not a video")
    for stem in CELEB_FAKE:
        media.video(base / "Celeb-synthesis" / f"{stem}.mp4")
    for stem in YOUTUBE_REAL:
        target = base / youtube / f"{stem}.mp4"
        if stem == "00003":
            media.corrupt(target)
        else:
            media.video(target)
    if test_list is not None:
        (root / "List_of_testing_videos.txt").write_text("\n".join(test_list))
    return root


# ---------------------------------------------------------------------------------------------
# DFDC
DFDC_PART0 = {
    "a.mp4": {"label": "REAL", "split": "train", "original": None},
    "b.mp4": {"label": "FAKE", "split": "train", "original": "a.mp4"},
    "c.mp4": {"label": "FAKE", "split": "train", "original": "a.mp4"},
    "d.mp4": {"label": "REAL", "split": "train"},  # no "original" key at all
    "e.mp4": {"label": "FAKE", "split": "train", "original": "d.mp4"},  # not on disk
    "f.mp4": {"label": "FAKE", "split": "train", "original": "g.mp4"},  # original g absent
    "h.mp4": {"label": "REAL", "split": "train", "original": None},  # corrupt
}
DFDC_PART1 = {
    "i.mp4": {"label": "REAL", "split": "train", "original": None},
    "j.mp4": {"label": "FAKE", "split": "train", "original": "i.mp4"},
    "k.mp4": {"label": "REAL", "split": "train", "original": None},
    "l.mp4": {"label": "FAKE", "split": "train", "original": "k.mp4"},
}
DFDC_LABELS = "filename,label\nt1.mp4,1\nt2.mp4,0\nt3.mp4,1\nt4.mp4,0\n"  # t3 not on disk
DFDC_VALIDATION = "filename,label\nv1.mp4,1\nv2.mp4,0\n"
DFDC_TEST_METADATA = {"p1.mp4": {"is_fake": 1}, "p2.mp4": {"is_fake": 0}, "p3.mp4": {"is_fake": True}}
DFDC_PREVIEW = {
    "original_videos/111/111_A_001.mp4": {
        "label": "real",
        "set": "train",
        "target_id": "111",
        "swapped_id": "111",
    },
    "method_A/111/111_A/111_A_001.mp4": {
        "label": "fake",
        "set": "train",
        "target_id": "111",
        "swapped_id": "444",
        "source_video": "111_A_001.mp4",
        "augmentations": [],
    },
    "original_videos/222/222_B_001.mp4": {
        "label": "real",
        "set": "test",
        "target_id": "222",
        "swapped_id": "222",
    },
    "method_B/222/222_B/222_B_001.mp4": {
        "label": "fake",
        "set": "test",
        "target_id": "222",
        "swapped_id": "333",
    },
    "original_videos/333/333_C_001.mp4": {
        "label": "real",
        "set": "train",
        "target_id": "333",
        "swapped_id": "333",
    },
    "method_A/333/333_C/333_C_001.mp4": {
        "label": "fake",
        "set": "train",
        "target_id": "333",
        "swapped_id": "555",
    },
    "original_videos/555/555_D_001.mp4": {
        "label": "real",
        "set": "train",
        "target_id": "555",
        "swapped_id": "555",
    },
    "method_A/555/555_D/555_D_002.mp4": {
        "label": "fake",
        "set": "train",
        "target_id": "555",
        "swapped_id": "111",
    },
    "method_B/666/666_E/666_E_001.mp4": {
        "label": "fake",
        "set": "train",
        "target_id": "666",
        "swapped_id": "111",
    },
}
DFDC_PREVIEW_MISSING = "method_B/666/666_E/666_E_001.mp4"


def write_dfdc(media: Media, root: Path) -> Path:
    """Full DFDC: train parts ``dfdc_train_part_0/`` and ``train/dfdc_train_part_1/`` (``e.mp4``
    listed but missing, ``h.mp4`` corrupt, ``zz.mp4`` on disk but unlisted), the labelled test set
    ``test/labels.csv`` (``t3.mp4`` missing), the full release's ``validation/labels.csv`` and
    ``private_test/metadata.json`` (``is_fake``), and the preview ``dfdc_preview_set/dataset.json``
    (one listed fake missing)."""
    for part, meta in (("dfdc_train_part_0", DFDC_PART0), ("train/dfdc_train_part_1", DFDC_PART1)):
        folder = root / part
        folder.mkdir(parents=True)
        (folder / "metadata.json").write_text(json.dumps(meta))
        for name in meta:
            if name == "h.mp4":
                media.corrupt(folder / name)
            elif name != "e.mp4":
                media.video(folder / name)
    media.video(root / "dfdc_train_part_0" / "zz.mp4")
    for folder, table in (("test", DFDC_LABELS), ("validation", DFDC_VALIDATION)):
        (root / folder).mkdir()
        (root / folder / "labels.csv").write_text(table)
        for line in table.splitlines()[1:]:
            if not line.startswith("t3"):
                media.video(root / folder / line.split(",")[0])
    (root / "private_test").mkdir()
    (root / "private_test" / "metadata.json").write_text(json.dumps(DFDC_TEST_METADATA))
    for name in DFDC_TEST_METADATA:
        media.video(root / "private_test" / name)
    preview = root / "dfdc_preview_set"
    preview.mkdir()
    (preview / "dataset.json").write_text(json.dumps(DFDC_PREVIEW))
    for key in DFDC_PREVIEW:
        if key != DFDC_PREVIEW_MISSING:
            media.video(preview / key)
    return root


def write_dfdc_single_part(media: Media, root: Path) -> Path:
    """Kaggle's ``train_sample_videos``: one ``metadata.json`` (both parts' entries) directly at
    the root; ``e.mp4`` listed but missing."""
    root.mkdir(parents=True, exist_ok=True)
    meta = {**DFDC_PART0, **DFDC_PART1}
    (root / "metadata.json").write_text(json.dumps(meta))
    for name in meta:
        if name != "e.mp4":
            media.video(root / name)
    return root


# ---------------------------------------------------------------------------------------------
# DFDC faces
DFDC_FACES_CSV = """filename,split,original,label
a.mp4,train,,REAL
b.mp4,train,a.mp4,FAKE
c.mp4,val,,REAL
d.mp4,val,c.mp4,FAKE
e.mp4,test,,0
f.mp4,test,e.mp4,1
g.mp4,test,x.mp4,1
h.mp4,validation,,REAL
k.mp4,train,,REAL
m.mp4,train,k.mp4,FAKE
"""


def write_dfdc_faces(media: Media, root: Path, *, faces_level: bool = True) -> Path:
    """Faces of ``metadata.csv``'s videos in ``faces/<stem>/`` (or ``<stem>/`` at the root):
    ``d``'s folder is empty, ``f`` has no folder, ``g``'s original ``x`` has none either."""
    base = root / "faces" if faces_level else root
    root.mkdir(parents=True, exist_ok=True)
    (root / "metadata.csv").write_text(DFDC_FACES_CSV)
    for stem in ("a", "b", "e", "g", "h", "k", "m"):
        for i in range(2):
            media.image(base / stem / f"{i}.jpg")
    for i in range(2):
        media.image(base / "c" / f"{i}.png")
    (base / "d").mkdir(parents=True)
    return root


KAGGLE_FACES_CSV = """videoname,original_width,original_height,label,original
aa.mp4,129,129,REAL,
bb.mp4,129,129,FAKE,aa.mp4
cc.mp4,129,129,FAKE,aa.mp4
dd.mp4,129,129,REAL,
ee.mp4,129,129,FAKE,dd.mp4
ff.mp4,129,129,FAKE,zz.mp4
gg.mp4,129,129,REAL,
hh.mp4,129,129,REAL,
ii.mp4,129,129,FAKE,hh.mp4
jj.mp4,129,129,REAL,
"""


def write_kaggle_faces(media: Media, root: Path) -> Path:
    """Kaggle "deepfake-faces": one ``faces_224/<stem>.jpg`` per video; ``gg``'s image is missing."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "metadata.csv").write_text(KAGGLE_FACES_CSV)
    for stem in ("aa", "bb", "cc", "dd", "ee", "ff", "hh", "ii", "jj"):
        media.image(root / "faces_224" / f"{stem}.jpg")
    return root


# ---------------------------------------------------------------------------------------------
# FaceForensics++
FFPP_SPLITS = {
    "train": [["000", "001"], ["002", "003"]],
    "val": [["004", "005"]],
    "test": [["006", "007"], ["008", "009"]],
}
FFPP_NUMBERS = [f"{i:03d}" for i in range(10)]


def ffpp_fakes() -> list[str]:
    """``a_b`` and ``b_a`` of every official pair."""
    return [f"{a}_{b}" for pairs in FFPP_SPLITS.values() for p in pairs for a, b in (p, p[::-1])]


def write_ffpp(
    media: Media,
    root: Path,
    *,
    split_dir: str | None = "splits",
    methods: tuple[str, ...] = ("Deepfakes", "Face2Face", "NeuralTextures"),
) -> Path:
    """FF++ at c23: originals 000-009 except 003 (absent; ``008`` corrupt), the fakes of every
    official pair for each method, ``NeuralTextures/c23/videos/junk.mp4``, and a c40 copy of two
    videos that the default compression must ignore. Split files under ``split_dir`` (``""``:
    root, ``None``: none)."""
    videos = root / "original_sequences" / "youtube" / "c23" / "videos"
    for n in FFPP_NUMBERS:
        if n == "008":
            media.corrupt(videos / f"{n}.mp4")
        elif n != "003":
            media.video(videos / f"{n}.mp4")
    for method in methods:
        for stem in ffpp_fakes():
            media.video(root / "manipulated_sequences" / method / "c23" / "videos" / f"{stem}.mp4")
    if "NeuralTextures" in methods:
        media.video(root / "manipulated_sequences" / "NeuralTextures" / "c23" / "videos" / "junk.mp4")
    media.video(root / "original_sequences" / "youtube" / "c40" / "videos" / "000.mp4")
    media.video(root / "manipulated_sequences" / "Deepfakes" / "c40" / "videos" / "000_001.mp4")
    if split_dir is not None:
        folder = root / split_dir
        folder.mkdir(parents=True, exist_ok=True)
        for split, pairs in FFPP_SPLITS.items():
            (folder / f"{split}.json").write_text(json.dumps(pairs))
    return root


# ---------------------------------------------------------------------------------------------
# Folder
def write_folder(media: Media, root: Path) -> Path:
    """``Real/`` (videos, a nested image, a corrupt clip), ``DF/`` and ``fakes/`` (videos and an
    image), plus ``README.txt`` and ``other/`` that must be ignored."""
    media.video(root / "Real" / "r1.mp4")
    media.video(root / "Real" / "r2.mp4")
    media.image(root / "Real" / "stills" / "r3.png")
    media.corrupt(root / "Real" / "r4.mp4")
    media.video(root / "DF" / "f1.mp4")
    media.image(root / "DF" / "f2.jpg")
    media.video(root / "fakes" / "f3.mp4")
    media.video(root / "fakes" / "f4.mp4")
    media.video(root / "other" / "o1.mp4")
    (root / "Real" / "README.txt").write_text("ignored")
    return root


# ---------------------------------------------------------------------------------------------
# Synthetic (the embedded benchmark's layout and metadata.json, written by hand)
SYNTHETIC_REAL = ["id00_0001", "id01_0001", "id02_0001", "id03_0001", "id04_0001", "id05_0001"]
SYNTHETIC_REAL += ["id06_0001", "id07_0001"]
SYNTHETIC_FAKE = [
    "id00_id01_0001",  # donor id01 has its own real video ...
    "id01_id02_0001",  # ... and so has id02: id00, id01, id02 are one leakage group (a chain)
    "id03_id04_0001",
    "id04_id03_0001",
    "id06_id07_0001",
    "id07_id06_0001",
]


def write_synthetic(media: Media, root: Path) -> Path:
    """A finished-looking synthetic benchmark (index it with ``generate=False``): 8 reals, 6 fakes
    whose donors (``id01``, ``id02``, ...) have real videos of their own; ``id05`` is in no fake."""
    videos = []
    for stem in SYNTHETIC_REAL:
        media.video(root / "real" / f"{stem}.mp4")
        videos.append(
            {
                "video_id": f"real/{stem}",
                "path": f"real/{stem}.mp4",
                "label": 0,
                "target_id": stem[:4],
                "source_id": None,
                "original": None,
            }
        )
    for stem in SYNTHETIC_FAKE:
        media.video(root / "fake" / f"{stem}.mp4")
        target, source, number = stem.split("_")
        videos.append(
            {
                "video_id": f"fake/{stem}",
                "path": f"fake/{stem}.mp4",
                "label": 1,
                "target_id": target,
                "source_id": source,
                "original": f"real/{target}_{number}",
            }
        )
    (root / "metadata.json").write_text(json.dumps({"dataset": "synthetic", "videos": videos}))
    return root
