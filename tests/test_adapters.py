"""Dataset adapters on the quirk-by-quirk miniature layouts of the real datasets (layouts.py):
labels, ids, groups, originals, identities, official splits, skipped entries, clear errors, and
leak-free seeded manifests for every layout variant. The checks every registered adapter gets, on
its own example tree, are in test_dataset_conformance.py."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import layouts
import pytest
from conformance import assert_leak_free
from layouts import Media

from harness.datasets import DATASETS
from harness.datasets._base import FAKE, REAL, DatasetError, DatasetIndex
from harness.splits import Manifest, make_manifest


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> Media:
    return Media(tmp_path_factory.mktemp("media"))


def index_of(name: str, root: Path, **options: Any) -> DatasetIndex:
    return DATASETS.get(name)(root, **options).index()


def skipped_reasons(index: DatasetIndex) -> dict[str, str]:
    return {s.video_id: s.reason for s in index.skipped}


def assert_official(manifest: Manifest, index: DatasetIndex) -> None:
    """Test split = the official test list; nothing in train/val shares a group or identity with it."""
    listed = {v.video_id for v in index.videos if v.official_split == "test"}
    assert {r.video_id for r in manifest.split("test")} == listed
    test_groups = {r.group for r in manifest.split("test")}
    test_ids = {i for r in manifest.split("test") for i in (r.target_id, r.source_id) if i}
    for r in manifest.split("train") + manifest.split("val"):
        assert r.group not in test_groups, r
        assert not ({r.target_id, r.source_id} & test_ids), r


# ---------------------------------------------------------------------------------------------
# Every adapter on its fixture: leak-free manifests, same seed -> same hash.
@dataclass(frozen=True)
class Case:
    name: str
    write: Callable[[Media, Path], Path]
    options: dict[str, Any] = field(default_factory=dict)
    official: bool = True


CASES = {
    "celebdf": Case("celebdf", layouts.write_celebdf),
    "celebdf-videos-Youtube": Case(
        "celebdf", lambda m, r: layouts.write_celebdf(m, r, videos_level=True, youtube="Youtube-real")
    ),
    "dfdc": Case("dfdc", layouts.write_dfdc),
    "dfdc-group-by-part": Case("dfdc", layouts.write_dfdc, {"group_by": "part"}),
    "dfdc-single-part": Case("dfdc", layouts.write_dfdc_single_part, official=False),
    "dfdc_faces": Case("dfdc_faces", layouts.write_dfdc_faces),
    "dfdc_faces-flat": Case("dfdc_faces", lambda m, r: layouts.write_dfdc_faces(m, r, faces_level=False)),
    "dfdc_faces-kaggle": Case("dfdc_faces", layouts.write_kaggle_faces, official=False),
    "ffpp": Case("ffpp", layouts.write_ffpp),
    "ffpp-root-splits": Case("ffpp", lambda m, r: layouts.write_ffpp(m, r, split_dir="")),
    "ffpp-no-splits": Case("ffpp", lambda m, r: layouts.write_ffpp(m, r, split_dir=None), official=False),
    "folder": Case("folder", layouts.write_folder, official=False),
    "synthetic": Case("synthetic", layouts.write_synthetic, {"generate": False}, official=False),
}


@pytest.mark.parametrize("case_id", sorted(CASES))
def test_manifests_are_leak_free_and_seeded(case_id: str, tmp_path: Path, media: Media) -> None:
    case = CASES[case_id]
    root = case.write(media, tmp_path / "data")
    index = index_of(case.name, root, **case.options)
    assert index.official_test_available is case.official

    manifest = make_manifest(index, "random", seed=0)
    assert_leak_free(manifest, index)
    assert all(manifest.counts()[s]["real"] + manifest.counts()[s]["fake"] for s in ("train", "val", "test"))
    # A fresh index of the same tree gives the same manifest; the seed does change it.
    again = make_manifest(index_of(case.name, root, **case.options), "random", seed=0)
    assert again.hash == manifest.hash and again.rows == manifest.rows
    assert len({make_manifest(index, "random", seed=s).hash for s in range(1, 9)}) > 1

    if "official" in DATASETS.get(case.name).protocols and case.official:
        official = make_manifest(index, "official", seed=0)
        assert_leak_free(official, index)
        assert_official(official, index)
        assert make_manifest(index, "official", seed=0).hash == official.hash
    else:
        with pytest.raises(DatasetError, match="official test list"):
            make_manifest(index, "official")


# Cases whose metadata names a fake's donor, and the donor has real videos of its own.
DONOR_CASES = {
    "celebdf",
    "celebdf-videos-Youtube",
    "dfdc",
    "dfdc-group-by-part",
    "ffpp",
    "ffpp-root-splits",
    "ffpp-no-splits",
    "synthetic",
}


@pytest.mark.parametrize("case_id", sorted(CASES))
def test_random_protocol_keeps_every_identity_on_one_side(case_id: str, tmp_path: Path, media: Media) -> None:
    """A donor's own videos share the split of every fake that carries its face (issue 9, defect 5)."""
    case = CASES[case_id]
    index = index_of(case.name, case.write(media, tmp_path / "data"), **case.options)
    records = index.by_id()
    for v in index.videos:
        assert {v.target_id, v.source_id} - {None} <= set(v.identities), v
    real_ids = {i for v in index.videos if v.label == REAL for i in v.identities}
    donors = {v.source_id for v in index.videos if v.label == FAKE and v.source_id is not None}
    assert bool(donors & real_ids) is (case_id in DONOR_CASES)
    for seed in range(10):
        manifest = make_manifest(index, "random", seed=seed)
        sides: dict[str, set[str]] = defaultdict(set)
        groups: dict[str, set[str]] = defaultdict(set)
        for r in manifest.rows:
            for identity in records[r.video_id].identities:
                sides[identity].add(r.split)
                groups[identity].add(r.group)
        # One group per identity (whatever the seed), hence one split per identity.
        assert not {i: g for i, g in groups.items() if len(g) > 1}, "identity in two groups"
        crossing = {i: sorted(s) for i, s in sides.items() if len(s) > 1}
        assert not crossing, f"seed {seed}: identities in two splits {crossing}"


@pytest.mark.parametrize(
    ("case_id", "video_id", "identities"),
    [
        ("celebdf", "Celeb-synthesis/id1_id0_0000", ("id0", "id1")),
        ("celebdf", "Celeb-real/id0_0001", ("id0",)),
        ("celebdf", "YouTube-real/00001", ()),
        ("dfdc", "dfdc_train_part_0/b", ("dfdc_train_part_0/a",)),  # the part names no donor
        ("dfdc", "dfdc_train_part_0/a", ("dfdc_train_part_0/a",)),
        ("dfdc", "dfdc_preview_set/method_A/555/555_D/555_D_002", ("111", "555")),
        ("dfdc", "test/t1", ()),
        ("dfdc_faces", "faces/b", ("faces/a",)),
        ("ffpp", "manipulated_sequences/Deepfakes/c23/videos/003_002", ("002", "003")),
        ("ffpp", "original_sequences/youtube/c23/videos/004", ("004",)),
        ("folder", "DF/f1", ()),
        ("synthetic", "fake/id00_id01_0001", ("id00", "id01")),
    ],
)
def test_each_adapter_reports_every_identity_of_a_video(
    case_id: str, video_id: str, identities: tuple[str, ...], tmp_path: Path, media: Media
) -> None:
    case = CASES[case_id]
    index = index_of(case.name, case.write(media, tmp_path / "data"), **case.options)
    assert index.by_id()[video_id].identities == identities


@pytest.mark.parametrize(
    ("size", "fakes_per_real"),
    [("tiny", 1.0), ("tiny", 0.5), ("default", 1.0), ("default", 3.0), ("large", 1.0)],
)
def test_synthetic_plan_draws_donors_within_circles_so_every_split_is_filled(
    size: str, fakes_per_real: float
) -> None:
    """Donors from anyone would link every identity into one leakage group (nothing held out)."""
    from harness.datasets._base import VideoRecord
    from harness.datasets.synthetic import SIZES, _identity_name, _plan_circles, _plan_videos

    spec = SIZES[size]
    circles = _plan_circles(spec, fakes_per_real)
    assert len(circles) >= 3 and sorted(i for c in circles for i in c) == list(range(spec.identities))
    circle_of = {i: n for n, c in enumerate(circles) for i in c}
    reals, fakes = _plan_videos(spec, 0, fakes_per_real)
    assert all(circle_of[f.donor] == circle_of[f.real.identity] for f in fakes)
    name = _identity_name
    videos = [
        VideoRecord(r.video_id, r.video_id, REAL, name(r.identity), target_id=name(r.identity)) for r in reals
    ]
    videos += [
        VideoRecord(
            f.video_id,
            f.video_id,
            FAKE,
            name(f.real.identity),
            original=f.real.video_id,
            source_id=name(f.donor),
            target_id=name(f.real.identity),
        )
        for f in fakes
    ]
    manifest = make_manifest(DatasetIndex("synthetic", Path("/plan"), videos), "random", seed=0)
    assert all(manifest.split(s) for s in ("train", "val", "test"))
    assert len({r.group for r in manifest.rows}) >= len(circles)  # a circle with no fake stays apart


# ---------------------------------------------------------------------------------------------
# Celeb-DF
@pytest.mark.parametrize(
    ("videos_level", "youtube"), [(False, "YouTube-real"), (True, "Youtube-real")], ids=["v2", "videos-level"]
)
def test_celebdf_records(videos_level: bool, youtube: str, tmp_path: Path, media: Media) -> None:
    root = layouts.write_celebdf(media, tmp_path, videos_level=videos_level, youtube=youtube)
    index = index_of("celebdf", root)
    by_id = index.by_id()
    prefix = "videos/" if videos_level else ""

    assert len(index.videos) == 8 + 10 + 5  # foo.mp4 and notes.txt are not records
    assert sum(v.label == FAKE for v in index.videos) == 10
    fake = by_id["Celeb-synthesis/id1_id0_0000"]
    assert (fake.path, fake.label, fake.group) == (f"{prefix}Celeb-synthesis/id1_id0_0000.mp4", FAKE, "id1")
    assert (fake.original, fake.target_id, fake.source_id) == ("Celeb-real/id1_0000", "id1", "id0")
    absent_original = by_id["Celeb-synthesis/id7_id6_0000"]
    assert absent_original.original == "Celeb-real/id7_0000" and "Celeb-real/id7_0000" not in by_id
    real = by_id["Celeb-real/id0_0001"]
    assert (real.label, real.group, real.target_id, real.source_id) == (REAL, "id0", "id0", None)
    youtube_real = by_id["YouTube-real/00003"]  # the corrupt one is indexed; extraction skips it later
    assert youtube_real.path == f"{prefix}{youtube}/00003.mp4"
    assert (youtube_real.label, youtube_real.group, youtube_real.target_id) == (
        REAL,
        "YouTube-real/00003",
        None,
    )

    assert index.official_test_available
    assert {v.video_id for v in index.videos if v.official_split == "test"} == {
        "YouTube-real/00000",
        "Celeb-real/id0_0000",
        "Celeb-synthesis/id1_id0_0000",
    }
    assert {v.official_split for v in index.videos} == {None, "test"}
    reasons = skipped_reasons(index)
    assert set(reasons) == {"Celeb-real/foo", "Celeb-synthesis/id9_id8_0003"}
    assert "List_of_testing_videos.txt" in reasons["Celeb-synthesis/id9_id8_0003"]
    assert "idT_NNNN" in reasons["Celeb-real/foo"]


def test_celebdf_official_protocol_drops_every_video_sharing_an_identity(
    tmp_path: Path, media: Media
) -> None:
    index = index_of("celebdf", layouts.write_celebdf(media, tmp_path))
    manifest = make_manifest(index, "official", seed=0)
    assert {r.video_id for r in manifest.split("test")} == {
        "YouTube-real/00000",
        "Celeb-real/id0_0000",
        "Celeb-synthesis/id1_id0_0000",
    }
    # id0 and id1 are in the test list (as target or donor): every other video of theirs goes.
    assert {d.video_id for d in manifest.dropped} == {
        "Celeb-real/id0_0001",
        "Celeb-real/id1_0000",
        "Celeb-synthesis/id0_id1_0000",
        "Celeb-synthesis/id0_id2_0001",
        "Celeb-synthesis/id3_id1_0001",  # donor id1 only: dropped for the identity, not the group
    }
    assert len(manifest.dropped) == 5
    assert len(manifest.rows) == len(index.videos) - 5
    kept_ids = {i for r in manifest.rows if r.split != "test" for i in (r.target_id, r.source_id)}
    assert not kept_ids & {"id0", "id1"}
    assert {s.video_id for s in manifest.skipped} == {"Celeb-real/foo", "Celeb-synthesis/id9_id8_0003"}


def test_celebdf_without_test_list_offers_random_only(tmp_path: Path, media: Media) -> None:
    index = index_of("celebdf", layouts.write_celebdf(media, tmp_path, test_list=None))
    assert not index.official_test_available
    assert all(v.official_split is None for v in index.videos)
    with pytest.raises(DatasetError, match="protocol random"):
        make_manifest(index, "official")


@pytest.mark.parametrize(
    ("lines", "match"),
    [
        (["1 Celeb-real/id0_0000.mp4", "1 Celeb-synthesis/id0_id1_0000.mp4"], "line 2.*listed as real"),
        (["0 YouTube-real/00001.mp4"], "line 1.*listed as fake"),
        (["real Celeb-real/id0_0000.mp4"], "line 1"),
        (["1 Elsewhere/id0_0000.mp4"], "line 1.*Elsewhere"),
    ],
    ids=["fake-listed-real", "real-listed-fake", "bad-label", "unknown-folder"],
)
def test_celebdf_bad_test_list_line_is_named(
    lines: list[str], match: str, tmp_path: Path, media: Media
) -> None:
    root = layouts.write_celebdf(media, tmp_path, test_list=lines)
    with pytest.raises(DatasetError, match=f"List_of_testing_videos.txt {match}"):
        index_of("celebdf", root)


def test_celebdf_test_list_with_videos_prefix_matches(tmp_path: Path, media: Media) -> None:
    root = layouts.write_celebdf(
        media, tmp_path, videos_level=True, test_list=["1 videos/Celeb-real/id2_0000.mp4"]
    )
    index = index_of("celebdf", root)
    assert [v.video_id for v in index.videos if v.official_split == "test"] == ["Celeb-real/id2_0000"]


def test_celebdf_root_without_class_folders(tmp_path: Path) -> None:
    (tmp_path / "something").mkdir()
    with pytest.raises(DatasetError, match="Celeb-synthesis"):
        index_of("celebdf", tmp_path)


# ---------------------------------------------------------------------------------------------
# DFDC
def test_dfdc_records_of_every_layout(tmp_path: Path, media: Media) -> None:
    index = index_of("dfdc", layouts.write_dfdc(media, tmp_path))
    by_id = index.by_id()

    b = by_id["dfdc_train_part_0/b"]
    assert (b.path, b.label, b.original, b.group, b.official_split) == (
        "dfdc_train_part_0/b.mp4",
        FAKE,
        "dfdc_train_part_0/a",
        "dfdc_train_part_0/a",
        None,
    )
    assert by_id["dfdc_train_part_0/c"].group == by_id["dfdc_train_part_0/a"].group == "dfdc_train_part_0/a"
    f = by_id["dfdc_train_part_0/f"]  # original g.mp4 is neither listed nor on disk: still recorded
    assert (f.original, f.group) == ("dfdc_train_part_0/g", "dfdc_train_part_0/g")
    assert by_id["dfdc_train_part_0/d"].original is None and by_id["dfdc_train_part_0/h"].label == REAL
    j = by_id["train/dfdc_train_part_1/j"]  # a part two folders down
    assert (j.original, j.group) == ("train/dfdc_train_part_1/i", "train/dfdc_train_part_1/i")

    tests = {v.video_id: v for v in index.videos if v.official_split == "test"}
    assert {k: v.label for k, v in tests.items() if k.startswith("test/")} == {
        "test/t1": FAKE,
        "test/t2": REAL,
        "test/t4": REAL,
    }
    assert tests["test/t1"].group == "test/t1" and tests["test/t1"].original is None
    # The full release: validation/labels.csv is official val, test/metadata.json's is_fake is test.
    assert {k: v.label for k, v in tests.items() if k.startswith("private_test/")} == {
        "private_test/p1": FAKE,
        "private_test/p2": REAL,
        "private_test/p3": FAKE,
    }
    assert {v.video_id: v.label for v in index.videos if v.official_split == "val"} == {
        "validation/v1": FAKE,
        "validation/v2": REAL,
    }

    preview_fake = by_id["dfdc_preview_set/method_A/111/111_A/111_A_001"]
    assert preview_fake.label == FAKE and preview_fake.official_split == "train"
    assert preview_fake.original == "dfdc_preview_set/original_videos/111/111_A_001"
    assert (preview_fake.group, preview_fake.target_id, preview_fake.source_id) == ("111", "111", "444")
    preview_real = by_id["dfdc_preview_set/original_videos/222/222_B_001"]
    assert (preview_real.label, preview_real.official_split, preview_real.group) == (REAL, "test", "222")
    assert preview_real.source_id is None

    assert len(index.videos) == 6 + 4 + 3 + 2 + 3 + 8
    reasons = skipped_reasons(index)
    assert reasons == {
        "dfdc_train_part_0/e": "listed in dfdc_train_part_0/metadata.json but missing",
        "dfdc_train_part_0/zz": "not listed in dfdc_train_part_0/metadata.json (no label)",
        "test/t3": "listed in test/labels.csv but missing",
        "dfdc_preview_set/method_B/666/666_E/666_E_001": "listed in dfdc_preview_set/dataset.json but missing",
    }


def test_dfdc_official_protocol(tmp_path: Path, media: Media) -> None:
    index = index_of("dfdc", layouts.write_dfdc(media, tmp_path))
    manifest = make_manifest(index, "official", seed=0)
    assert {r.video_id for r in manifest.split("test")} == {
        "test/t1",
        "test/t2",
        "test/t4",
        "private_test/p1",
        "private_test/p2",
        "private_test/p3",
        "dfdc_preview_set/original_videos/222/222_B_001",
        "dfdc_preview_set/method_B/222/222_B/222_B_001",
    }
    assert {"validation/v1", "validation/v2"} <= {r.video_id for r in manifest.split("val")}
    # The test fake 222 carries donor 333: every video of identity 333 leaves training.
    assert {d.video_id for d in manifest.dropped} == {
        "dfdc_preview_set/original_videos/333/333_C_001",
        "dfdc_preview_set/method_A/333/333_C/333_C_001",
    }
    # Train parts have no official split: the manifest divides them into train and val.
    parts = [r for r in manifest.rows if "dfdc_train_part_" in r.video_id]
    assert {r.split for r in parts} == {"train", "val"}


def test_dfdc_group_by_part_keeps_each_part_whole(tmp_path: Path, media: Media) -> None:
    index = index_of("dfdc", layouts.write_dfdc(media, tmp_path), group_by="part")
    parts = {v.video_id: v.group for v in index.videos if "dfdc_train_part_" in v.video_id}
    assert set(parts.values()) == {"dfdc_train_part_0", "dfdc_train_part_1"}
    assert index.by_id()["test/t1"].group == "test/t1"  # only train parts are grouped by part
    manifest = make_manifest(index, "random", seed=3)
    for part in set(parts.values()):
        assert len({r.split for r in manifest.rows if parts.get(r.video_id) == part}) == 1


def test_dfdc_single_part_at_the_root(tmp_path: Path, media: Media) -> None:
    index = index_of("dfdc", layouts.write_dfdc_single_part(media, tmp_path / "train_sample_videos"))
    by_id = index.by_id()
    assert set(by_id) == set("abcdfhijkl")
    assert (by_id["j"].path, by_id["j"].original, by_id["j"].group) == ("j.mp4", "i", "i")
    assert not index.official_test_available
    assert skipped_reasons(index) == {"e": "listed in metadata.json but missing"}
    by_part = index_of("dfdc", tmp_path / "train_sample_videos", group_by="part")
    assert {v.group for v in by_part.videos} == {"train_sample_videos"}


@pytest.mark.parametrize(
    ("file", "content", "match"),
    [
        ("dfdc_train_part_0/metadata.json", '{"a.mp4": {"label": "REAL"', "metadata.json is not valid JSON"),
        ("dfdc_train_part_0/metadata.json", '["a.mp4"]', "metadata.json must map file names"),
        ("dfdc_train_part_0/metadata.json", '{"a.mp4": {"split": "train"}}', "'a.mp4' has no label"),
        ("dfdc_train_part_0/metadata.json", '{"a.mp4": {"label": "MAYBE"}}', "'a.mp4': unknown label"),
        ("test/labels.csv", "name,fake\nt1.mp4,1\n", "labels.csv must start with the header"),
        ("test/labels.csv", "filename,label\nt1.mp4,1\nt2.mp4,yes\n", "labels.csv line 3: unknown label"),
        ("private_test/metadata.json", '{"p1.mp4": {"is_fake": 2}}', "'p1.mp4': unknown label"),
        ("dfdc_preview_set/dataset.json", "{oops", "dataset.json is not valid JSON"),
        ("dfdc_preview_set/dataset.json", '{"x.mp4": {"label": "fake", "set": "dev"}}', "unknown set 'dev'"),
    ],
)
def test_dfdc_malformed_metadata_names_the_file(
    file: str, content: str, match: str, tmp_path: Path, media: Media
) -> None:
    root = layouts.write_dfdc(media, tmp_path)
    (root / file).write_text(content)
    with pytest.raises(DatasetError, match=match):
        index_of("dfdc", root)


def test_dfdc_video_in_two_listings_is_an_error(tmp_path: Path, media: Media) -> None:
    root = layouts.write_dfdc(media, tmp_path)
    (root / "test" / "metadata.json").write_text(
        json.dumps({"t1.mp4": {"label": "FAKE", "original": "t2.mp4"}})
    )
    with pytest.raises(DatasetError, match="listed in both"):
        index_of("dfdc", root)


def test_dfdc_rejects_unknown_group_by_and_empty_root(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="group_by"):
        DATASETS.get("dfdc")(tmp_path, group_by="actor")
    with pytest.raises(DatasetError, match="metadata.json.*labels.csv.*dataset.json"):
        index_of("dfdc", tmp_path)


# ---------------------------------------------------------------------------------------------
# DFDC faces
@pytest.mark.parametrize("faces_level", [True, False], ids=["faces-folder", "flat"])
def test_dfdc_faces_records(faces_level: bool, tmp_path: Path, media: Media) -> None:
    index = index_of("dfdc_faces", layouts.write_dfdc_faces(media, tmp_path, faces_level=faces_level))
    p = "faces/" if faces_level else ""
    by_id = index.by_id()
    assert set(by_id) == {p + s for s in ("a", "b", "c", "e", "g", "h", "k", "m")}
    b = by_id[p + "b"]
    assert (b.path, b.label, b.media, b.original, b.group, b.official_split) == (
        p + "b",
        FAKE,
        "frames",
        p + "a",
        p + "a",
        "train",
    )
    assert by_id[p + "a"].group == p + "a"
    assert (by_id[p + "c"].official_split, by_id[p + "h"].official_split) == ("val", "val")
    assert (by_id[p + "e"].label, by_id[p + "e"].official_split) == (REAL, "test")
    g = by_id[p + "g"]  # original x.mp4 has no faces on disk: its id is still recorded
    assert (g.label, g.original, g.group) == (FAKE, p + "x", p + "x")
    reasons = skipped_reasons(index)
    assert set(reasons) == {p + "d", "f"}
    assert reasons[p + "d"] == "face folder holds no images"
    assert reasons["f"].startswith("no face folder or image for f.mp4")
    assert index.official_test_available


def test_dfdc_faces_kaggle_single_images(tmp_path: Path, media: Media) -> None:
    index = index_of("dfdc_faces", layouts.write_kaggle_faces(media, tmp_path))
    by_id = index.by_id()
    assert set(by_id) == {f"faces_224/{s}" for s in ("aa", "bb", "cc", "dd", "ee", "ff", "hh", "ii", "jj")}
    bb = by_id["faces_224/bb"]
    assert (bb.path, bb.media, bb.label, bb.original, bb.group) == (
        "faces_224/bb.jpg",
        "image",
        FAKE,
        "faces_224/aa",
        "faces_224/aa",
    )
    assert by_id["faces_224/ff"].original == "faces_224/zz"
    assert all(v.official_split is None for v in index.videos)
    assert set(skipped_reasons(index)) == {"gg"}


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("filename,split,original\na.mp4,train,\n", "must have a header"),
        ("filename,split,original,label\na.mp4,holdout,,REAL\n", "line 2: unknown split 'holdout'"),
        (
            "filename,split,original,label\na.mp4,train,,REAL\nb.mp4,train,FAKE\n",
            "line 3: expected 4 columns",
        ),
        ("filename,split,original,label\na.mp4,train,,SORT_OF\n", "line 2: unknown label"),
    ],
)
def test_dfdc_faces_malformed_metadata(content: str, match: str, tmp_path: Path, media: Media) -> None:
    root = layouts.write_dfdc_faces(media, tmp_path)
    (root / "metadata.csv").write_text(content)
    with pytest.raises(DatasetError, match=f"metadata.csv.*{match}"):
        index_of("dfdc_faces", root)


def test_dfdc_faces_without_metadata(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no metadata.csv"):
        index_of("dfdc_faces", tmp_path)


# ---------------------------------------------------------------------------------------------
# FaceForensics++
ORIG = "original_sequences/youtube/c23/videos"
DF = "manipulated_sequences/Deepfakes/c23/videos"


def test_ffpp_records(tmp_path: Path, media: Media) -> None:
    index = index_of("ffpp", layouts.write_ffpp(media, tmp_path))
    by_id = index.by_id()
    assert len(index.videos) == 9 + 3 * 10  # 003 absent; junk.mp4 skipped; c40 ignored
    assert not any("/c40/" in v.path for v in index.videos)
    fake = by_id[f"{DF}/003_002"]
    assert (fake.path, fake.label, fake.original) == (f"{DF}/003_002.mp4", FAKE, f"{ORIG}/003")
    assert (fake.target_id, fake.source_id, fake.group, fake.official_split) == (
        "003",
        "002",
        "pair:002_003",
        "train",
    )
    assert f"{ORIG}/003" not in by_id
    real = by_id[f"{ORIG}/004"]
    assert (real.label, real.group, real.target_id, real.official_split) == (
        REAL,
        "pair:004_005",
        "004",
        "val",
    )
    assert by_id["manipulated_sequences/Face2Face/c23/videos/009_008"].official_split == "test"
    assert skipped_reasons(index) == {
        "manipulated_sequences/NeuralTextures/c23/videos/junk": "name is not T_S (target_source video numbers)"
    }


def test_ffpp_official_protocol_follows_the_split_files(tmp_path: Path, media: Media) -> None:
    index = index_of("ffpp", layouts.write_ffpp(media, tmp_path))
    manifest = make_manifest(index, "official", seed=0)
    pairs = {split: {n for p in ps for n in p} for split, ps in layouts.FFPP_SPLITS.items()}
    for split, numbers in pairs.items():
        rows = manifest.split(split)
        assert rows and {r.target_id for r in rows} == numbers
        assert {r.source_id for r in rows if r.label == FAKE} == numbers
    assert len(manifest.split("test")) == 4 + 3 * 4  # 006-009 and a_b, b_a of two pairs per method
    assert not manifest.dropped


def test_ffpp_without_split_files_groups_pairs_read_off_the_fakes(tmp_path: Path, media: Media) -> None:
    index = index_of("ffpp", layouts.write_ffpp(media, tmp_path, split_dir=None))
    by_id = index.by_id()
    assert by_id[f"{ORIG}/000"].group == by_id[f"{DF}/001_000"].group == "pair:000_001"
    assert all(v.official_split is None for v in index.videos)


def test_ffpp_compression_and_methods_options(tmp_path: Path, media: Media) -> None:
    root = layouts.write_ffpp(media, tmp_path)
    c40 = index_of("ffpp", root, compression="c40")
    assert {v.video_id for v in c40.videos} == {
        "original_sequences/youtube/c40/videos/000",
        "manipulated_sequences/Deepfakes/c40/videos/000_001",
    }
    c40_fake = c40.by_id()["manipulated_sequences/Deepfakes/c40/videos/000_001"]
    assert c40_fake.original == "original_sequences/youtube/c40/videos/000"
    only_df = index_of("ffpp", root, methods=["deepfakes"])
    assert {v.path.split("/")[1] for v in only_df.videos if v.label == FAKE} == {"Deepfakes"}
    with pytest.raises(DatasetError, match="FaceShifter"):
        index_of("ffpp", root, methods=["FaceShifter"])
    with pytest.raises(ValueError, match="unknown methods"):
        DATASETS.get("ffpp")(root, methods=["Morphing"])
    with pytest.raises(DatasetError, match="compressions present: c23, c40"):
        index_of("ffpp", root, compression="raw")


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ('[["006", "007"', "test.json is not valid JSON"),
        ('{"006": "007"}', "test.json must be a JSON list of pairs"),
        ('[["006", "007", "008"]]', "test.json must be a JSON list of pairs"),
        ('[["000", "009"]]', "video 000 is in a pair of both"),
    ],
)
def test_ffpp_malformed_split_file(content: str, match: str, tmp_path: Path, media: Media) -> None:
    root = layouts.write_ffpp(media, tmp_path)
    (root / "splits" / "test.json").write_text(content)
    with pytest.raises(DatasetError, match=match):
        index_of("ffpp", root)


# ---------------------------------------------------------------------------------------------
# Folder
def test_folder_records(tmp_path: Path, media: Media) -> None:
    index = index_of("folder", layouts.write_folder(media, tmp_path))
    got = {v.video_id: (v.path, v.label, v.media, v.group) for v in index.videos}
    assert got == {
        "DF/f1": ("DF/f1.mp4", FAKE, "video", "DF/f1"),
        "DF/f2": ("DF/f2.jpg", FAKE, "image", "DF/f2"),
        "Real/r1": ("Real/r1.mp4", REAL, "video", "Real/r1"),
        "Real/r2": ("Real/r2.mp4", REAL, "video", "Real/r2"),
        "Real/r4": ("Real/r4.mp4", REAL, "video", "Real/r4"),
        "Real/stills": ("Real/stills", REAL, "video", "Real/stills"),  # a folder of frames: one video
        "fakes/f3": ("fakes/f3.mp4", FAKE, "video", "fakes/f3"),
        "fakes/f4": ("fakes/f4.mp4", FAKE, "video", "fakes/f4"),
    }
    assert DATASETS.get("folder").protocols == ("random",)


def test_folder_reads_a_sub_folder_of_frames_as_one_video(tmp_path: Path, media: Media) -> None:
    """The layout `harness run --save-adversarial` writes: class/<video>/<frame>.png."""
    import numpy as np

    from harness.faces import read_frames

    for i in (2, 0, 1):  # written out of order: frames are read in name order
        media.image(tmp_path / "fake" / "vid__a" / f"{i:06d}.png")
    media.image(tmp_path / "real" / "b" / "000000.png")
    media.image(tmp_path / "real" / "still.png")
    index = index_of("folder", tmp_path)
    got = {v.video_id: (v.path, v.media) for v in index.videos}
    assert got == {
        "fake/vid__a": ("fake/vid__a", "video"),
        "real/b": ("real/b", "video"),
        "real/still": ("real/still.png", "image"),
    }
    indices, frames, count = read_frames(tmp_path / "fake" / "vid__a", num_frames=8)
    assert (indices, count) == ([0, 1, 2], 3) and all(isinstance(f, np.ndarray) for f in frames)


def test_folder_same_stem_twice_is_skipped_not_duplicated(tmp_path: Path, media: Media) -> None:
    media.video(tmp_path / "real" / "x.mp4")
    media.image(tmp_path / "real" / "x.png")
    index = index_of("folder", tmp_path)
    assert [v.path for v in index.videos] == ["real/x.mp4"]
    assert skipped_reasons(index) == {"real/x": "same id as real/x.mp4; rename one"}


def test_folder_without_class_folders_names_the_accepted_ones(tmp_path: Path, media: Media) -> None:
    media.video(tmp_path / "videos" / "a.mp4")
    with pytest.raises(
        DatasetError, match=r"has no class folder.*real, reals, original.*fake, fakes, df, deepfake"
    ):
        index_of("folder", tmp_path)
