"""Leak-free train/val/test splits written to a hashed manifest.

Rules (a leak is a bug):

* video-disjoint always;
* group-disjoint: a group (identity, original video, FF++ pair) never spans two splits, and a
  fake always shares its split with its original (groups linked through ``original`` are merged);
* ``protocol="official"``: test is exactly the dataset's published test list; every other video
  that shares a group, an original or an identity (target or donor) with it is dropped from
  train/val, and the drop is reported;
* ``protocol="random"``: groups are also merged through every identity the videos share (a
  fake's target and donor alike, :attr:`VideoRecord.identities`): the connected components are
  assigned whole to splits by a seeded shuffle that fills the requested ratios per label, so no
  identity, target or donor, is on two sides.

The manifest (video id, path, label, split, group, original, identities, the grouping rule, ...)
carries a content hash that goes into every checkpoint and result. Same index + protocol + seed
-> same manifest and hash.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import warnings
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from harness.datasets import FAKE, REAL, DatasetError, DatasetIndex, Skipped, VideoRecord
from harness.fileio import json_bytes, same_content, write_bytes_atomic

SPLITS = ("train", "val", "test")
DEFAULT_RATIOS = (0.7, 0.15, 0.15)
MANIFEST_VERSION = 2
GROUPING = {
    "random": "components of groups linked by original and by shared identities (target and donor)",
    "official": "official test list; groups linked by original; train/val sharing an identity dropped",
}


def grouping_rule(protocol: str) -> str:
    """How a protocol forms its leakage groups (recorded in the manifest and its hash)."""
    return GROUPING.get(protocol, "")


@dataclass(frozen=True)
class ManifestRow:
    video_id: str
    path: str
    label: int
    split: str
    group: str
    original: str | None = None
    source_id: str | None = None
    target_id: str | None = None
    media: str = "video"
    identities: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "identities", tuple(self.identities))  # JSON gives a list


@dataclass(frozen=True)
class Manifest:
    """A split assignment; ``hash`` is the SHA-256 of its canonical content."""

    dataset: str
    root: str
    protocol: str
    seed: int
    ratios: tuple[float, float, float]
    rows: tuple[ManifestRow, ...]
    dropped: tuple[Skipped, ...] = ()
    skipped: tuple[Skipped, ...] = ()
    hash: str = field(default="")

    def __post_init__(self) -> None:
        object.__setattr__(self, "rows", tuple(sorted(self.rows, key=lambda r: r.video_id)))
        object.__setattr__(self, "hash", content_hash(self.dataset, self.protocol, self.rows))

    @property
    def short_hash(self) -> str:
        return self.hash[:12]

    def split(self, name: str) -> list[ManifestRow]:
        if name not in SPLITS:
            raise ValueError(f"unknown split {name!r}; use one of {SPLITS}")
        return [r for r in self.rows if r.split == name]

    def counts(self) -> dict[str, dict[str, int]]:
        """``{split: {"real": n, "fake": n}}``."""
        out = {s: {"real": 0, "fake": 0} for s in SPLITS}
        for r in self.rows:
            out[r.split]["fake" if r.label == FAKE else "real"] += 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "manifest_version": MANIFEST_VERSION,
            "dataset": self.dataset,
            "root": self.root,
            "protocol": self.protocol,
            "seed": self.seed,
            "ratios": list(self.ratios),
            "grouping": grouping_rule(self.protocol),
            "hash": self.hash,
            "counts": self.counts(),
            "rows": [asdict(r) for r in self.rows],
            "dropped": [asdict(s) for s in self.dropped],
            "skipped": [asdict(s) for s in self.skipped],
        }

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the manifest as JSON, atomically; an identical file is left as it is (a complete
        cache on a read-only, shared file system stays usable)."""
        data = json_bytes(self.to_dict())
        if not same_content(path, data):
            write_bytes_atomic(path, data)
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Manifest:
        p = Path(path)
        try:
            data = json.loads(p.read_text())
            if data.get("manifest_version") != MANIFEST_VERSION:
                raise ValueError(f"manifest version {data.get('manifest_version')}, not {MANIFEST_VERSION}")
            manifest = cls(
                dataset=data["dataset"],
                root=data["root"],
                protocol=data["protocol"],
                seed=int(data["seed"]),
                ratios=tuple(data["ratios"]),  # type: ignore[arg-type]
                rows=tuple(ManifestRow(**r) for r in data["rows"]),
                dropped=tuple(Skipped(**s) for s in data.get("dropped", [])),
                skipped=tuple(Skipped(**s) for s in data.get("skipped", [])),
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise DatasetError(f"split manifest {p} is unreadable ({exc}); delete it to rebuild") from exc
        if data.get("hash") and data["hash"] != manifest.hash:
            raise DatasetError(f"split manifest {p} was edited (hash mismatch); delete it to rebuild")
        return manifest


def content_hash(dataset: str, protocol: str, rows: Iterable[ManifestRow]) -> str:
    """Hash of what determines train/test membership (not the machine-specific root)."""
    canonical = [
        [r.video_id, r.path, r.label, r.split, r.group, r.original, list(r.identities)]
        for r in sorted(rows, key=lambda r: r.video_id)
    ]
    payload = json.dumps(
        [dataset, protocol, grouping_rule(protocol), canonical], separators=(",", ":"), sort_keys=True
    )
    return hashlib.sha256(payload.encode()).hexdigest()


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)  # deterministic representative


def merged_groups(videos: list[VideoRecord], by_identity: bool = True) -> dict[str, str]:
    """video_id -> merged group: the connected components of groups linked by a fake's
    ``original`` and, with ``by_identity``, by any identity (target or donor) two videos share.
    A component is named after its smallest group name (deterministic)."""
    by_id = {v.video_id: v for v in videos}
    uf = _UnionFind()
    for v in videos:
        key = "g:" + v.group  # groups and identities live apart: "id1" the group is not "id1" the person
        uf.find(key)
        if v.original is not None and v.original in by_id:
            uf.union(key, "g:" + by_id[v.original].group)
        if by_identity:
            for identity in v.identities:
                uf.union(key, "i:" + identity)
    name: dict[str, str] = {}
    for v in videos:
        root = uf.find("g:" + v.group)
        name[root] = min(name.get(root, v.group), v.group)
    return {v.video_id: name[uf.find("g:" + v.group)] for v in videos}


def shared_identities(videos: Iterable[VideoRecord], splits: dict[str, str]) -> dict[str, list[str]]:
    """identity -> the splits it appears in, for each identity in more than one."""
    sides: dict[str, set[str]] = defaultdict(set)
    for v in videos:
        if v.video_id in splits:
            for identity in v.identities:
                sides[identity].add(splits[v.video_id])
    return {i: sorted(s) for i, s in sorted(sides.items()) if len(s) > 1}


def make_manifest(
    index: DatasetIndex,
    protocol: str = "random",
    seed: int = 0,
    ratios: tuple[float, float, float] = DEFAULT_RATIOS,
) -> Manifest:
    """Assign every indexed video to train/val/test without leakage (see module docstring)."""
    if len(ratios) != 3 or min(ratios) < 0 or abs(sum(ratios) - 1) > 1e-6:
        raise ValueError(f"split ratios must be three non-negative numbers summing to 1, got {ratios}")
    videos = list(index.videos)
    if not videos:
        raise DatasetError(f"{index.dataset}: no usable videos under {index.root}")
    group_of = merged_groups(videos, by_identity=protocol != "official")
    dropped: list[Skipped] = []
    assignment: dict[str, str] = {}

    if protocol == "official":
        test = [v for v in videos if v.official_split == "test"]
        if not test:
            raise DatasetError(
                f"{index.dataset}: --protocol official needs the dataset's official test list, "
                f"none found under {index.root}; use --protocol random"
            )
        test_groups = {group_of[v.video_id] for v in test}
        test_ids = {i for v in test for i in v.identities}
        test_originals = {v.original or v.video_id for v in test}
        rest: list[VideoRecord] = []
        for v in videos:
            if v.official_split == "test":
                assignment[v.video_id] = "test"
                continue
            why = None
            if group_of[v.video_id] in test_groups:
                why = f"shares group {group_of[v.video_id]!r} with the official test list"
            elif (v.original or v.video_id) in test_originals:
                why = "shares its original video with the official test list"
            elif test_ids.intersection(v.identities):
                shared = sorted(test_ids.intersection(v.identities))
                why = f"shares identity {shared[0]!r} with the official test list"
            if why:
                dropped.append(Skipped(v.video_id, v.path, why, stage="split"))
            else:
                rest.append(v)
        official = [v for v in rest if v.official_split in ("train", "val")]
        for v in official:
            assignment[v.video_id] = v.official_split  # type: ignore[assignment]
        # A video without an official split follows its group's official split, if it has one.
        group_split = {group_of[v.video_id]: v.official_split for v in official}
        unassigned = []
        for v in rest:
            if v.official_split in ("train", "val"):
                continue
            if group_of[v.video_id] in group_split:
                assignment[v.video_id] = group_split[group_of[v.video_id]]  # type: ignore[assignment]
            else:
                unassigned.append(v)
        if unassigned:
            tv = ratios[0] + ratios[1]
            sub = (ratios[0] / tv, ratios[1] / tv, 0.0) if tv > 0 else (1.0, 0.0, 0.0)
            # Videos the dataset leaves unsplit are divided like the random protocol does.
            linked = [replace(v, group=group_of[v.video_id]) for v in unassigned]
            assignment.update(_group_split(unassigned, merged_groups(linked), sub, seed))
        # The published train/val lists are respected as they are, but a shared identity is said.
        leaks = shared_identities(official, assignment)
        if leaks:
            first = next(iter(leaks))
            warnings.warn(
                f"{index.dataset}: the official train/val lists share {len(leaks)} identities "
                f"(e.g. {first!r} in {' and '.join(leaks[first])}); kept as published",
                stacklevel=2,
            )
    elif protocol == "random":
        assignment = _group_split(videos, group_of, ratios, seed)
    else:
        raise ValueError(f"unknown split protocol {protocol!r}; use 'random' or 'official'")

    kept = {v.video_id: v for v in videos if v.video_id in assignment}
    rows = tuple(
        ManifestRow(
            video_id=v.video_id,
            path=v.path,
            label=v.label,
            split=assignment[v.video_id],
            group=group_of[v.video_id],
            original=v.original,
            source_id=v.source_id,
            target_id=v.target_id,
            media=v.media,
            identities=v.identities,
        )
        for v in kept.values()
    )
    manifest = Manifest(
        dataset=index.dataset,
        root=str(Path(index.root).absolute()),
        protocol=protocol,
        seed=seed,
        ratios=tuple(float(r) for r in ratios),  # type: ignore[arg-type]
        rows=rows,
        dropped=tuple(dropped),
        skipped=tuple(index.skipped),
    )
    check_disjoint(manifest)
    return manifest


def _group_split(
    videos: list[VideoRecord], group_of: dict[str, str], ratios: tuple[float, float, float], seed: int
) -> dict[str, str]:
    """Seeded assignment of whole groups, filling each split's share of reals and of fakes."""
    members: dict[str, list[VideoRecord]] = defaultdict(list)
    for v in videos:
        members[group_of[v.video_id]].append(v)
    groups = sorted(members)
    random.Random(seed).shuffle(groups)
    # Larger groups first (stable after the shuffle) so small ones can even out the ratios.
    groups.sort(key=lambda g: -len(members[g]))
    totals = Counter(v.label for v in videos)
    target = {(s, lab): ratios[i] * totals[lab] for i, s in enumerate(SPLITS) for lab in (REAL, FAKE)}
    current: Counter[tuple[str, int]] = Counter()
    active = [s for i, s in enumerate(SPLITS) if ratios[i] > 0]
    out: dict[str, str] = {}
    for i, g in enumerate(groups):
        counts = Counter(v.label for v in members[g])
        empty = [s for s in active if not any(current[(s, lab)] for lab in (REAL, FAKE))]
        if empty and len(groups) - i <= len(empty):
            best = empty[0]  # make sure every requested split gets at least one group
        else:

            def need(s: str, counts: Counter[int] = counts) -> float:
                return sum(
                    n * (target[(s, lab)] - current[(s, lab)]) / max(totals[lab], 1)
                    for lab, n in counts.items()
                )

            best = max(active, key=need)
        for v in members[g]:
            out[v.video_id] = best
            current[(best, v.label)] += 1
    return out


def check_disjoint(manifest: Manifest) -> None:
    """Raise :class:`DatasetError` if a video, group or fake/original pair crosses splits."""
    seen: dict[str, str] = {}
    group_split: dict[str, str] = {}
    for r in manifest.rows:
        if r.video_id in seen:
            raise DatasetError(f"leak: video {r.video_id!r} appears twice in the manifest")
        seen[r.video_id] = r.split
        if group_split.setdefault(r.group, r.split) != r.split:
            raise DatasetError(f"leak: group {r.group!r} is in both {group_split[r.group]!r} and {r.split!r}")
    if manifest.protocol == "official":
        test_ids = {i for r in manifest.rows if r.split == "test" for i in _ids(r)}
        for r in manifest.rows:
            shared = test_ids & _ids(r) if r.split != "test" else set()
            if shared:
                raise DatasetError(
                    f"leak: {r.video_id!r} in {r.split!r} shares identity {sorted(shared)[0]!r} with test"
                )
    else:
        identity_split: dict[str, str] = {}
        for r in manifest.rows:
            for i in sorted(_ids(r)):
                if identity_split.setdefault(i, r.split) != r.split:
                    raise DatasetError(
                        f"leak: identity {i!r} is in both {identity_split[i]!r} and {r.split!r}"
                    )
    for r in manifest.rows:
        if r.original is not None and r.original in seen and seen[r.original] != r.split:
            raise DatasetError(
                f"leak: fake {r.video_id!r} is in {r.split!r} but its original {r.original!r} "
                f"is in {seen[r.original]!r}"
            )


def _ids(row: ManifestRow) -> set[str]:
    """Every identity of a manifest row (``target_id``/``source_id`` for rows written without)."""
    return {i for i in (*row.identities, row.target_id, row.source_id) if i}
