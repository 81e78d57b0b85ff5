"""Leak-free split manifests."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

from harness.datasets._base import DatasetError, DatasetIndex, VideoRecord
from harness.splits import (
    GROUPING,
    Manifest,
    ManifestRow,
    check_disjoint,
    make_manifest,
    merged_groups,
)


def celeb_like(
    n_ids: int = 12, reals: int = 3, test_ids: tuple[int, ...] = (), pairs: bool = False
) -> DatasetIndex:
    """Identity-grouped reals, fakes made from them with donors, a few identity-less videos.

    Donors: the next identity (a ring: every identity is linked to every other) or, with ``pairs``,
    the partner in pairs (0, 1), (2, 3), ... (``n_ids / 2`` leakage groups, as in FF++)."""
    videos = []
    for t in range(n_ids):
        for k in range(reals):
            split = "test" if t in test_ids and k == 0 else None
            videos.append(
                VideoRecord(
                    f"real/id{t}_{k}",
                    f"real/id{t}_{k}.mp4",
                    0,
                    f"id{t}",
                    target_id=f"id{t}",
                    official_split=split,
                )
            )
            s = t ^ 1 if pairs else (t + 1) % n_ids
            videos.append(
                VideoRecord(
                    f"fake/id{t}_id{s}_{k}",
                    f"fake/id{t}_id{s}_{k}.mp4",
                    1,
                    f"id{t}",
                    original=f"real/id{t}_{k}",
                    source_id=f"id{s}",
                    target_id=f"id{t}",
                    official_split=split,
                )
            )
    for k in range(4):
        videos.append(VideoRecord(f"yt/{k}", f"yt/{k}.mp4", 0, f"yt/{k}"))
    return DatasetIndex("unit", Path("/data"), videos)


def assert_leak_free(manifest: Manifest) -> None:
    split_of = {r.video_id: r.split for r in manifest.rows}
    assert len(split_of) == len(manifest.rows)
    groups: dict[str, set[str]] = defaultdict(set)
    for r in manifest.rows:
        groups[r.group].add(r.split)
        if r.original in split_of:
            assert split_of[r.original] == r.split, r
    assert all(len(s) == 1 for s in groups.values())


def test_random_split_is_group_disjoint_and_fills_every_split() -> None:
    manifest = make_manifest(celeb_like(pairs=True), "random", seed=0)
    assert_leak_free(manifest)
    counts = manifest.counts()
    for split in ("train", "val", "test"):
        assert counts[split]["real"] > 0 and counts[split]["fake"] > 0, counts
    assert 0.5 < (counts["train"]["real"] + counts["train"]["fake"]) / len(manifest.rows) < 0.85


def test_same_seed_same_manifest_and_hash_other_seed_differs() -> None:
    a, b = make_manifest(celeb_like(pairs=True), seed=1), make_manifest(celeb_like(pairs=True), seed=1)
    assert a.hash == b.hash and a.rows == b.rows
    assert make_manifest(celeb_like(pairs=True), seed=2).hash != a.hash


def test_fakes_follow_their_original_even_if_the_adapter_grouped_them_apart() -> None:
    videos = [
        VideoRecord("o1", "o1.mp4", 0, "g-o1"),
        VideoRecord("f1", "f1.mp4", 1, "g-f1", original="o1"),
        *[VideoRecord(f"x{i}", f"x{i}.mp4", i % 2, f"x{i}") for i in range(10)],
    ]
    for seed in range(10):
        m = make_manifest(DatasetIndex("unit", Path("/d"), videos), seed=seed)
        assert_leak_free(m)
        rows = {r.video_id: r for r in m.rows}
        assert rows["f1"].split == rows["o1"].split and rows["f1"].group == rows["o1"].group


def test_official_protocol_tests_exactly_the_list_and_drops_shared_identities() -> None:
    index = celeb_like(test_ids=(0, 5))
    m = make_manifest(index, "official", seed=0)
    assert_leak_free(m)
    listed = {v.video_id for v in index.videos if v.official_split == "test"}
    assert {r.video_id for r in m.split("test")} == listed
    train_val = [r for r in m.rows if r.split != "test"]
    test_ids = {"id0", "id5", "id1", "id6"}  # targets and donors of the test list
    assert not any({r.target_id, r.source_id} & test_ids for r in train_val)
    # id0, id5: 2 more reals and 2 more fakes each; id4/id5 fakes use donors id5/id6; id1/id6... as targets
    dropped = {d.video_id for d in m.dropped}
    assert "real/id0_1" in dropped and "fake/id4_id5_0" in dropped and "real/id1_0" in dropped
    assert len(m.rows) + len(m.dropped) == len(index.videos)
    assert m.split("val"), "train/val come from what is left"


def test_official_protocol_without_a_test_list_is_a_clear_error() -> None:
    with pytest.raises(DatasetError, match="official test list"):
        make_manifest(celeb_like(), "official")


def test_check_disjoint_catches_planted_leaks() -> None:
    rows = (
        ManifestRow("a", "a.mp4", 0, "train", "g1"),
        ManifestRow("b", "b.mp4", 1, "test", "g1"),
    )
    with pytest.raises(DatasetError, match="group 'g1'"):
        check_disjoint(Manifest("u", "/", "random", 0, (0.7, 0.15, 0.15), rows))
    rows = (
        ManifestRow("a", "a.mp4", 0, "train", "g1"),
        ManifestRow("b", "b.mp4", 1, "test", "g2", original="a"),
    )
    with pytest.raises(DatasetError, match="original 'a'"):
        check_disjoint(Manifest("u", "/", "random", 0, (0.7, 0.15, 0.15), rows))


def test_manifest_round_trip_and_tamper_detection(tmp_path: Path) -> None:
    m = make_manifest(celeb_like(pairs=True), seed=0)
    path = m.save(tmp_path / "m.json")
    assert Manifest.load(path) == m
    data = json.loads(path.read_text())
    assert data["hash"] == m.hash and data["counts"] == m.counts()
    data["rows"][0]["split"] = "test" if data["rows"][0]["split"] != "test" else "train"
    path.write_text(json.dumps(data))
    with pytest.raises(DatasetError, match="hash mismatch"):
        Manifest.load(path)


def test_bad_ratios_are_rejected() -> None:
    with pytest.raises(ValueError, match="ratios"):
        make_manifest(celeb_like(), ratios=(0.5, 0.5, 0.5))


def test_official_protocol_unmarked_videos_follow_their_groups_official_split() -> None:
    videos = [VideoRecord("t", "t.mp4", 0, "t", official_split="test")]
    for i in range(6):
        split = "val" if i % 3 == 0 else "train"
        videos.append(VideoRecord(f"r{i}", f"r{i}.mp4", 0, f"g{i}", official_split=split))
        videos.append(VideoRecord(f"f{i}", f"f{i}.mp4", 1, f"g{i}", original=f"r{i}"))  # no official split
    for seed in range(5):
        m = make_manifest(DatasetIndex("unit", Path("/d"), videos), "official", seed=seed)
        rows = {r.video_id: r.split for r in m.rows}
        assert all(rows[f"f{i}"] == rows[f"r{i}"] for i in range(6))


def test_merged_groups_follow_chains_of_shared_identities() -> None:
    videos = [
        VideoRecord("ab", "ab.mp4", 1, "gA", target_id="A", source_id="B"),  # A-B
        VideoRecord("bc", "bc.mp4", 1, "gB", target_id="B", source_id="C"),  # B-C
        VideoRecord("c", "c.mp4", 0, "gC", identities=("C",)),
        VideoRecord("d", "d.mp4", 0, "gD", identities=("D",)),
        VideoRecord("named-A", "x.mp4", 0, "A"),  # a group named "A" is not identity A
    ]
    assert videos[0].identities == ("A", "B")  # target and donor are always identities
    merged = merged_groups(videos)
    assert merged["ab"] == merged["bc"] == merged["c"] == "gA"  # A-B, B-C: A, B, C are one group
    assert (merged["d"], merged["named-A"]) == ("gD", "A")
    assert len(set(merged_groups(videos, by_identity=False).values())) == 5


def test_random_protocol_puts_each_identity_target_or_donor_on_one_side() -> None:
    index = celeb_like(pairs=True)
    for seed in range(10):
        m = make_manifest(index, "random", seed=seed)
        sides: dict[str, set[str]] = defaultdict(set)
        for r in m.rows:
            for identity in (r.target_id, r.source_id):
                if identity:
                    sides[identity].add(r.split)
        assert all(len(s) == 1 for s in sides.values()), (seed, sides)


def test_check_disjoint_catches_an_identity_in_two_splits() -> None:
    rows = (
        ManifestRow("a", "a.mp4", 0, "train", "g1", identities=("B",)),
        ManifestRow("b", "b.mp4", 1, "test", "g2", identities=("A", "B")),
    )
    with pytest.raises(DatasetError, match="identity 'B'"):
        check_disjoint(Manifest("u", "/", "random", 0, (0.7, 0.15, 0.15), rows))


def test_manifest_records_its_grouping_rule_in_content_and_hash(tmp_path: Path) -> None:
    m = make_manifest(celeb_like(pairs=True), seed=0)
    data = m.to_dict()
    assert data["grouping"] == GROUPING["random"] and data["manifest_version"] == 2
    assert data["rows"][0]["identities"]
    path = m.save(tmp_path / "m.json")
    assert Manifest.load(path).rows == m.rows
    data["grouping"], data["manifest_version"] = "original only", 1
    path.write_text(json.dumps(data))
    with pytest.raises(DatasetError, match="manifest version 1"):
        Manifest.load(path)


def test_official_lists_that_share_an_identity_are_kept_and_warned_about() -> None:
    videos = [
        VideoRecord("t", "t.mp4", 0, "t", target_id="T", official_split="test"),
        VideoRecord("r", "r.mp4", 0, "r", target_id="R", official_split="train"),
        VideoRecord("f", "f.mp4", 1, "f", target_id="X", source_id="R", official_split="val"),
    ]
    with pytest.warns(UserWarning, match="share 1 identities.*'R' in train and val"):
        m = make_manifest(DatasetIndex("unit", Path("/d"), videos), "official")
    assert {r.video_id: r.split for r in m.rows} == {"t": "test", "r": "train", "f": "val"}
