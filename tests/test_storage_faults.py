"""Storage faults on purpose: a full disk, a read-only or forbidden folder, a damaged cache entry.

Tests run as root, where ``chmod`` stops nothing, so the faults are simulated where the kernel
would report them: ``fsync`` (where a full disk surfaces for buffered writes), ``open``,
``os.replace`` and ``mkdir``, all raising the ``OSError`` the kernel gives (no file name for a
failed write, as a real one).
"""

from __future__ import annotations

import builtins
import contextlib
import errno
import io
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from helpers import REPO_ROOT
from test_leaderboard import write_result

from harness.cli import main
from harness.fileio import write_json_atomic
from harness.leaderboard import write_leaderboards
from harness.results import ResultStore

MESONET = REPO_ROOT / "tests" / "data" / "mesonet"
_real_fsync = os.fsync


def _fd_path(fd: int) -> str:
    return os.readlink(f"/proc/self/fd/{fd}")


def fail_fsync(monkeypatch: pytest.MonkeyPatch, code: int, when: Callable[[str], bool]) -> None:
    """Make ``fsync`` of the files ``when(path)`` picks fail with ``code`` (a disk that filled up)."""

    def fsync(fd: int) -> None:
        if when(_fd_path(fd)):
            raise OSError(code, os.strerror(code))  # as the kernel reports it: no file name
        _real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)


def _under(path: object, root: Path) -> bool:
    if isinstance(path, int):
        return False
    try:
        return Path(os.fsdecode(os.fspath(path))).absolute().is_relative_to(root)  # type: ignore[arg-type]
    except TypeError:
        return False


@contextlib.contextmanager
def read_only(root: Path, code: int = errno.EROFS) -> Iterator[list[str]]:
    """Every write under ``root`` fails with ``code`` (a read-only mount); yields the refused paths."""
    root = root.absolute()
    refused: list[str] = []

    def refuse(path: object) -> None:
        refused.append(os.fspath(path))  # type: ignore[arg-type]
        raise OSError(code, os.strerror(code), os.fspath(path))  # type: ignore[arg-type]

    writes = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
    real_os_open, real_open = os.open, builtins.open

    def os_open(path, flags, *args, **kwargs):  # type: ignore[no-untyped-def]
        if flags & writes and _under(path, root) and kwargs.get("dir_fd") is None:
            refuse(path)
        return real_os_open(path, flags, *args, **kwargs)

    def open_(file, mode="r", *args, **kwargs):  # type: ignore[no-untyped-def]
        if any(c in mode for c in "wax+") and _under(file, root):
            refuse(file)
        return real_open(file, mode, *args, **kwargs)

    def guard(real: Callable[..., object]) -> Callable[..., object]:
        def call(path, *args, **kwargs):  # type: ignore[no-untyped-def]
            if _under(path, root):
                refuse(path)
            return real(path, *args, **kwargs)

        return call

    def mkdir(path, *args, **kwargs):  # type: ignore[no-untyped-def]
        if _under(path, root) and os.path.exists(path):
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), os.fspath(path))
        return guard(real_mkdir)(path, *args, **kwargs)

    real_mkdir = os.mkdir
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(os, "open", os_open)
        mp.setattr(builtins, "open", open_)
        mp.setattr(io, "open", open_)
        mp.setattr(os, "mkdir", mkdir)
        for name in ("replace", "rename", "unlink", "remove", "rmdir", "chmod", "truncate", "utime"):
            mp.setattr(os, name, guard(getattr(os, name)))
        yield refused


def _no_temp_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*.tmp")]


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# -- one line naming the path and the fix -------------------------------------------------------
@pytest.mark.parametrize(
    ("code", "words"),
    [
        (errno.ENOSPC, ("no space left on device", "free space", "run the same command")),
        (errno.EDQUOT, ("quota", "free space", "run the same command")),
        (errno.EROFS, ("read-only", "writable")),
        (errno.EACCES, ("permission denied", "permissions")),
    ],
)
def test_storage_errors_are_one_line_naming_the_path_and_the_fix(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    code: int,
    words: tuple,
) -> None:
    results = tmp_path / "results"
    write_result(results, "cnn", "synthetic", "pgd", "eps", 4 / 255, "linf", True)
    fail_fsync(monkeypatch, code, lambda p: ".leaderboard.md." in p)
    rc = main(["leaderboard", "--results-dir", str(results), "--output", str(tmp_path / "lb")])
    err = capsys.readouterr().err
    assert rc != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("harness: error: "), err
    target = str(tmp_path / "lb" / "leaderboard.md")
    assert target in lines[0] and ".tmp" not in lines[0], err  # the file it was writing, not a temp
    for word in words:
        assert word in lines[0].lower(), err


def test_describe_os_error_names_both_paths_of_a_failed_rename() -> None:
    from harness.fileio import describe_os_error

    exc = OSError(errno.EXDEV, os.strerror(errno.EXDEV), "/a/x.tmp", None, "/b/x.json")
    message = describe_os_error(exc)
    assert "/a/x.tmp" in message and "/b/x.json" in message
    plain = describe_os_error(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))
    assert plain.startswith("no space left on device") and "free space" in plain


@pytest.mark.parametrize("stage", ["mkstemp", "write", "replace"])
def test_a_failed_atomic_write_names_its_target_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stage: str
) -> None:
    target = tmp_path / "out" / "x.json"
    write_json_atomic(target, {"old": True})
    if stage == "mkstemp":
        real = os.open
        monkeypatch.setattr(
            os,
            "open",
            lambda p, flags, *a, **k: (
                (_ for _ in ()).throw(OSError(errno.EACCES, os.strerror(errno.EACCES), p))
                if str(p).endswith(".tmp")
                else real(p, flags, *a, **k)
            ),
        )
    elif stage == "write":
        fail_fsync(monkeypatch, errno.ENOSPC, lambda p: p.endswith(".tmp"))
    else:

        def replace(src: str, dst: str) -> None:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), src, dst)

        monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(OSError) as info:
        write_json_atomic(target, {"new": True})
    assert info.value.filename == str(target), info.value
    monkeypatch.undo()
    assert json.loads(target.read_text()) == {"old": True}
    assert _no_temp_files(tmp_path) == []


# -- all or nothing -----------------------------------------------------------------------------
def test_write_files_atomic_replaces_all_or_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.fileio import write_files_atomic

    files = {tmp_path / n: f"old {n}".encode() for n in ("a.md", "b.csv", "c.html")}
    write_files_atomic(files)
    fail_fsync(monkeypatch, errno.ENOSPC, lambda p: ".c.html." in p)
    with pytest.raises(OSError, match="No space"):
        write_files_atomic({p: b"new" for p in files})
    monkeypatch.undo()
    assert {p: p.read_bytes() for p in files} == files and _no_temp_files(tmp_path) == []
    write_files_atomic({p: b"new" for p in files})
    assert {p.read_bytes() for p in files} == {b"new"}


def test_a_leaderboard_is_regenerated_all_or_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    results, lb = tmp_path / "results", tmp_path / "lb"
    write_result(results, "cnn", "synthetic", "pgd", "eps", 4 / 255, "linf", True)
    write_leaderboards(results, lb)
    before = _snapshot(lb)
    assert {"leaderboard.md", "leaderboard.csv", "index.html"} <= set(before)
    write_result(results, "meso4", "synthetic", "pgd", "eps", 4 / 255, "linf", True)
    fail_fsync(monkeypatch, errno.ENOSPC, lambda p: ".index.html." in p)  # the disk fills at the page
    with pytest.raises(OSError):
        write_leaderboards(results, lb)
    monkeypatch.undo()
    assert _snapshot(lb) == before, "tables, page and figures are all the old ones"
    assert _no_temp_files(lb) == []
    write_leaderboards(results, lb)
    for name in ("leaderboard.md", "leaderboard.csv", "index.html"):
        assert "meso4" in (lb / name).read_text()


@pytest.mark.parametrize("existing", [False, True])
def test_a_result_and_its_per_video_table_are_saved_together(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, existing: bool
) -> None:
    store = ResultStore(tmp_path / "r")
    result = {"dataset": "d", "detector": "m", "attack": "pgd", "budget_tag": "eps4of255", "n": 1}
    videos = {"video_id": ["a", "b"], "label": [0, 1], "clean_score": [0.1, 0.9]}
    path = store.path(result)
    if existing:
        store.save(result, videos)
    before = _snapshot(tmp_path)
    fail_fsync(monkeypatch, errno.ENOSPC, lambda p: p.endswith(".tmp") and ".json." in p)
    with pytest.raises(OSError):
        store.save(result | {"n": 2}, videos | {"clean_score": [0.2, 0.8]})
    monkeypatch.undo()
    assert _snapshot(tmp_path) == before, "neither the JSON nor its per-video CSV changed"
    assert path.with_suffix(".videos.csv").exists() == existing == path.exists()
    store.save(result | {"n": 2}, videos | {"clean_score": [0.2, 0.8]})
    assert json.loads(path.read_text())["n"] == 2
    assert "0.200000" in path.with_suffix(".videos.csv").read_text()


# -- a complete cache on a read-only file system ------------------------------------------------
def _prepare_args(cache: Path) -> list[str]:
    return ["data", "prepare", "--dataset", "folder", "--root", str(MESONET), "--cache-dir", str(cache)] + [
        "--face-detector",
        "none",
        "-q",
    ]


def test_an_identical_manifest_is_not_rewritten(tmp_path: Path) -> None:
    from harness.data import open_dataset
    from harness.splits import make_manifest

    manifest = make_manifest(open_dataset("folder", MESONET, progress=False), "random", 0)
    path = manifest.save(tmp_path / "m.json")
    with read_only(tmp_path) as refused:
        assert manifest.save(path) == path
    assert refused == []


def test_a_complete_cache_on_a_read_only_file_system_is_usable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cache = tmp_path / "cache"
    assert main(_prepare_args(cache)) == 0
    capsys.readouterr()
    with read_only(cache) as refused:
        with pytest.raises(OSError):
            (cache / "probe").write_text("x")  # the simulated mount refuses writes
        refused.clear()
        assert main(_prepare_args(cache)) == 0, capsys.readouterr().err
        assert "0 videos decoded in this run" in capsys.readouterr().out
        rc = main(
            [
                "run",
                "--detector",
                "meso4",
                "--checkpoint",
                "mesonet:Meso4_DF",
                "--dataset",
                "folder",
                "--root",
                str(MESONET),
                "--cache-dir",
                str(cache),
                "--set",
                "faces.detector=none",
                "--attack",
                "noise",
                "--workers",
                "0",
                "--set",
                "n_boot=10",
                "--results-dir",
                str(tmp_path / "r"),
                "--leaderboard-dir",
                str(tmp_path / "lb"),
                "-q",
            ]
        )
        assert rc == 0, capsys.readouterr().err
        assert refused == [], "a fully cached run writes nothing into the cache"
    assert (tmp_path / "r" / "folder" / "meso4" / "noise-sigma0p05.json").is_file()


# -- damaged face-cache entries -----------------------------------------------------------------
def _damage(path: Path, how: str) -> None:
    data = bytearray(path.read_bytes())
    if how == "truncated":
        path.write_bytes(bytes(data[: len(data) // 2]))
    else:  # one bit flipped in the middle of the compressed crops
        data[len(data) // 2] ^= 0x10
        path.write_bytes(bytes(data))


def _entries(cache: Path) -> list[Path]:
    return sorted((cache / "faces").rglob("*.npz"))


@pytest.mark.parametrize("legacy", [False, True], ids=["checksummed", "written-without-checksum"])
@pytest.mark.parametrize("how", ["truncated", "bitflip"])
def test_a_damaged_face_crop_is_reported_and_re_extracted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], how: str, legacy: bool
) -> None:
    cache = tmp_path / "cache"
    assert main(_prepare_args(cache)) == 0
    capsys.readouterr()
    npz = _entries(cache)[1]
    good = np.load(npz)["crops"]
    if legacy:  # an entry from before the crop file's size and CRC were stored in its JSON
        meta_path = npz.with_suffix(".json")
        meta = json.loads(meta_path.read_text())
        meta.pop("crops_file", None)
        meta_path.write_text(json.dumps(meta))
    _damage(npz, how)
    with pytest.warns(UserWarning, match=npz.name):
        assert main(_prepare_args(cache)) == 0
    out = capsys.readouterr().out
    assert "1 videos decoded in this run (3 from cache)" in out, out
    assert "re-extracted 1 damaged face-cache entry" in out, out
    np.testing.assert_array_equal(np.load(npz)["crops"], good)  # re-extracted, as before
    assert main(_prepare_args(cache)) == 0
    assert "0 videos decoded in this run" in capsys.readouterr().out


@pytest.mark.parametrize("how", ["truncated", "bitflip"])
def test_a_damaged_entry_read_by_a_worker_is_a_clear_error(tmp_path: Path, how: str) -> None:
    from harness.data import DataConfig, prepare_dataset
    from harness.datasets import DatasetError
    from harness.faces import FaceConfig
    from harness.stream import CropReader

    config = DataConfig(
        dataset="folder", root=str(MESONET), cache_dir=str(tmp_path), faces=FaceConfig("none")
    )
    prep = prepare_dataset(config, progress=False)
    ids = [r.video_id for r in prep.manifest.rows]
    reader = CropReader(prep, ids)
    npz = reader.cache.paths(ids[0])[0]
    _damage(npz, how)
    with pytest.raises(DatasetError, match="damaged") as info:
        reader.load(ids[0])
    assert str(npz) in str(info.value) and "harness data prepare" in str(info.value)
    assert reader.load(ids[1]).shape[0] >= 1  # the others still load
