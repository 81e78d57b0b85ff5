"""Processes the harness starts: clean worker starts, nothing left after a kill, one-line interrupts.

The run tests start the real ``harness run`` in a new session (so every process it starts, the
fork server, the data-loading workers and multiprocessing's resource tracker included, carries
that session's id), signal it, and look at ``/proc``. A failing test kills the session.
"""

from __future__ import annotations

import ast
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import face_video

from harness.datasets._base import DatasetIndex, VideoRecord
from harness.faces import FaceConfig, extract_faces
from harness.records import RecordLog

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
LINUX = sys.platform.startswith("linux")
INTERRUPTED = re.compile(
    r"^harness: interrupted: (\d+) of (\d+) batches kept \(.*\) in \S+; run the same command to resume$"
)


# --- every process starts clean -------------------------------------------------------------


def test_extraction_with_workers_after_decoding_here_finishes_and_equals_in_process(tmp_path: Path) -> None:
    """A process that has decoded with PyAV then extracts with workers (the app, a notebook, a
    second ``extract_faces`` call). Forked from it, a worker hung in ``frame.to_ndarray`` (av 18)."""
    from harness.faces.media import read_frames

    for i, name in enumerate(("real/a.mp4", "fake/b.mp4", "real/c.mp4")):
        face_video(tmp_path / "media" / name, n=5, size=160, seed=i)
    records = [
        VideoRecord(video_id=n, path=f"{n}.mp4", label=int(n.startswith("fake")), group=n)
        for n in ("real/a", "fake/b", "real/c")
    ]
    index = DatasetIndex("unit", tmp_path / "media", records)
    indices, frames, _ = read_frames(tmp_path / "media" / "real" / "a.mp4", 3)  # PyAV, in this process
    assert len(frames) == len(indices) == 3
    config = FaceConfig(detector="haar", num_frames=3, crop_size=32)

    parallel = extract_faces(index, records, config, tmp_path / "w2", progress=False, workers=2)
    serial = extract_faces(index, records, config, tmp_path / "w0", progress=False)
    assert parallel.decoded == serial.decoded == 3
    for record in records:
        a, b = parallel.tracks[record.video_id], serial.tracks[record.video_id]
        assert (a.frame_indices, a.boxes, a.reason) == (b.frame_indices, b.boxes, b.reason)
    cached = {p.relative_to(tmp_path / "w0") for p in (tmp_path / "w0").rglob("*.npz")}
    assert cached and cached == {p.relative_to(tmp_path / "w2") for p in (tmp_path / "w2").rglob("*.npz")}
    for rel in cached:
        with np.load(tmp_path / "w0" / rel) as x, np.load(tmp_path / "w2" / rel) as y:
            assert np.array_equal(x["crops"], y["crops"]), rel


def _package_sources() -> list[Path]:
    import tomllib

    dirs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    return sorted(
        p for d in set(dirs.values()) for p in (ROOT / d).rglob("*.py") if "__pycache__" not in p.parts
    )


def test_every_loader_and_pool_takes_its_processes_from_harness_workers() -> None:
    """One module chooses how workers start: every DataLoader passes ``**loader_options(...)``,
    and nothing else imports multiprocessing, a process pool, or forks."""
    owner = ROOT / "harness" / "workers.py"
    forbidden_modules = ("multiprocessing", "torch.multiprocessing")
    forbidden_names = {"ProcessPoolExecutor", "fork", "forkpty", "get_context", "set_start_method", "Pool"}
    problems = []
    sources = _package_sources()
    assert owner in sources and len(sources) > 50
    for path in sources:
        if path == owner:
            continue
        where = path.relative_to(ROOT)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names]
                modules = [node.module or ""] if isinstance(node, ast.ImportFrom) else names
                if any(m == f or m.startswith(f + ".") for m in modules for f in forbidden_modules):
                    problems.append(f"{where}:{node.lineno}: imports {modules[0]}")
                if isinstance(node, ast.ImportFrom) and forbidden_names & set(names):
                    problems.append(f"{where}:{node.lineno}: imports {sorted(forbidden_names & set(names))}")
            elif isinstance(node, ast.Call):
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                if name in forbidden_names and name != "Pool":
                    problems.append(f"{where}:{node.lineno}: calls {name}")
                if name == "DataLoader":
                    spread = [k.value for k in node.keywords if k.arg is None]
                    if not any(
                        isinstance(v, ast.Call) and getattr(v.func, "id", "") == "loader_options"
                        for v in spread
                    ):
                        problems.append(f"{where}:{node.lineno}: DataLoader without **loader_options(...)")
    assert not problems, "start workers through harness.workers:\n" + "\n".join(problems)


# --- killed and interrupted runs ------------------------------------------------------------


@pytest.fixture(scope="module")
def run_setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """An untrained small cnn checkpoint and a prepared cache of the tiny embedded benchmark."""
    import torch

    from harness.checkpoint import save_checkpoint
    from harness.config import build_config
    from harness.data import DataConfig, prepare_dataset
    from harness.detectors import create_detector

    root = tmp_path_factory.mktemp("run")
    torch.manual_seed(0)
    ckpt = save_checkpoint(root / "cnn.pt", create_detector("cnn", input_size=32), meta={"epochs": 0})
    data = build_config(
        DataConfig, cli={"options": {"size": "tiny"}, "cache_dir": str(root / "cache"), "faces": FACES}
    )
    prepare_dataset(data, progress=False)
    return Path(ckpt), root / "cache"


FACES = {"detector": "none", "num_frames": 4, "crop_size": 32}


def _run_args(setup: tuple[Path, Path], out: Path, steps: int) -> list[str]:
    ckpt, cache = setup
    faces = [a for k, v in FACES.items() for a in ("--set", f"faces.{k}={v}")]
    return [
        str(BIN / "harness"),
        "run",
        "--detector",
        "cnn",
        "--checkpoint",
        str(ckpt),
        "--cache-dir",
        str(cache),
        "--batch-size",
        "2",
        "--workers",
        "2",
        "--attack",
        "pgd",
        "--set",
        f"attack.steps={steps}",
        "--set",
        "dataset.size=tiny",
        *faces,
        "--set",
        "n_boot=10",
        "--set",
        f"results_dir={out / 'results'}",
        "--set",
        f"leaderboard_dir={out / 'lb'}",
        "-q",
    ]


def _start(args: list[str], log: Path) -> subprocess.Popen:
    """The run in a new session; its output goes to ``log`` (a pipe would stay open as long as
    any process it started lives)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    env.pop("HARNESS_DEBUG", None)
    with open(log, "w") as out:
        return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)


def _session(sid: int) -> dict[int, str]:
    """Live processes (zombies are dead) of session ``sid``: pid -> command line."""
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmdline = (
                Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            )
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # state ppid pgrp session ...
        if int(fields[3]) == sid and fields[0] not in ("Z", "X"):
            out[int(entry)] = cmdline
    return out


def _kill_session(sid: int) -> None:
    for pid in _session(sid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _wait_for(what: Any, seconds: float, proc: subprocess.Popen, log: Path) -> None:
    """Poll ``what()`` until true; fail (with the run's output) if the run ends or time is up."""
    end = time.monotonic() + seconds
    while not what():
        if proc.poll() is not None:
            pytest.fail(f"the run ended early (rc {proc.returncode}):\n{log.read_text()}")
        if time.monotonic() > end:
            pytest.fail(f"timed out waiting; session: {_session(proc.pid)}")
        time.sleep(0.1)


def _workers_up(sid: int) -> bool:
    """The run, its resource tracker, its fork server and two data-loading workers exist."""
    return sum("multiprocessing.forkserver" in c for c in _session(sid).values()) >= 3


def _gone_within(sid: int, seconds: float) -> dict[int, str]:
    end = time.monotonic() + seconds
    while (left := _session(sid)) and time.monotonic() < end:
        time.sleep(0.1)
    return left


@pytest.mark.skipif(not LINUX, reason="reads /proc")
@pytest.mark.timeout(180)
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_a_killed_run_leaves_no_process_behind(
    run_setup: tuple[Path, Path], tmp_path: Path, sig: signal.Signals
) -> None:
    log = tmp_path / "log.txt"
    proc = _start(_run_args(run_setup, tmp_path, steps=100_000), log)
    try:
        _wait_for(lambda: _workers_up(proc.pid), 120, proc, log)
        started = _session(proc.pid)
        assert len(started) >= 5, started
        proc.send_signal(sig)
        proc.wait(timeout=60)
        left = _gone_within(proc.pid, 10)
        assert not left, f"alive 10 s after {sig.name} of the run: {left}"
    finally:
        _kill_session(proc.pid)
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _logged(out: Path) -> dict[str, int]:
    """Records in the run's resume logs, by stage folder name ('clean' or a member key)."""
    return {
        p.name: len(RecordLog(p).done()) for p in (out / "results" / ".partial").glob("*/*/*/*") if p.is_dir()
    }


def _interrupt(
    args: list[str], out: Path, sig: signal.Signals, group: bool, attack_batches: int
) -> tuple[str, int]:
    """Start the run, signal it once its attack stage has logged ``attack_batches`` batches."""
    log = out / "log.txt"
    proc = _start(args, log)
    try:

        def ready() -> bool:
            attack = [n for k, n in _logged(out).items() if k != "clean"]
            return bool(attack) and attack[0] >= attack_batches and _workers_up(proc.pid)

        _wait_for(ready, 120, proc, log)
        (os.killpg if group else os.kill)(proc.pid, sig)
        proc.wait(timeout=60)
        assert not _gone_within(proc.pid, 10)
        return log.read_text(), proc.returncode
    finally:
        _kill_session(proc.pid)
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.skipif(not LINUX, reason="reads /proc")
@pytest.mark.timeout(240)
def test_interrupts_print_one_line_and_the_next_run_says_what_it_reused(
    run_setup: tuple[Path, Path], tmp_path: Path
) -> None:
    args = _run_args(run_setup, tmp_path, steps=60)

    # SIGTERM to the run (``kill``, a scheduler's time limit): one line, exit status 143.
    err, rc = _interrupt(args, tmp_path, signal.SIGTERM, group=False, attack_batches=1)
    lines = err.strip().splitlines()
    assert rc == 143 and "Traceback" not in err and len(lines) == 1, err
    match = INTERRUPTED.match(lines[-1])
    assert match, err
    kept, total = int(match[1]), int(match[2])
    logged = _logged(tmp_path)
    assert kept == sum(logged.values()) and logged["clean"] < kept < total, (err, logged)

    # Ctrl-C at a terminal (SIGINT to the whole process group): one line, exit status 130,
    # and the run says that it resumed and from where.
    err, rc = _interrupt(args, tmp_path, signal.SIGINT, group=True, attack_batches=kept - logged["clean"] + 1)
    assert rc == 130 and "Traceback" not in err, err
    assert re.search(
        rf"harness: resumed: clean: {logged['clean']} of {logged['clean']} batches reused from \S+", err
    )
    assert re.search(
        rf"harness: resumed: attack pgd \S+: {kept - logged['clean']} of \d+ batches reused", err
    ), err
    assert INTERRUPTED.match(err.strip().splitlines()[-1]), err
    logged = _logged(tmp_path)

    done = subprocess.run(
        args, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=170
    )
    assert done.returncode == 0, done.stderr
    assert f"{logged['clean']} of {logged['clean']} batches reused" in done.stderr
    (result,) = [json.loads(p.read_text()) for p in (tmp_path / "results").rglob("*.json")]
    assert result["execution"]["batches_resumed_here"] == sum(logged.values())
    assert not (tmp_path / "results" / ".partial").exists()


# --- resume logs ----------------------------------------------------------------------------


def test_resume_log_lines_that_parse_but_are_not_records_are_skipped_with_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with RecordLog(tmp_path, rank=0) as log:
        log.append({"unit": 0, "p": [0.25]})
    path = tmp_path / "rank0.jsonl"
    junk = [b"17", b"[1, 2]", b'{"p": [0.5]}', b'"text"', b"null", b'{"unit": "x"}', b'{"unit": true}']
    path.write_bytes(path.read_bytes() + b"\n".join(junk) + b"\n" + b'{"unit": 3, "p": [0.75]}\n')
    (tmp_path / "rank1.jsonl").write_bytes(b'{"unit": 1, "p": [0.5]}\n[]\n')

    done = RecordLog(tmp_path).done()
    assert sorted(done) == [0, 1, 3] and done[3]["p"] == [0.75]
    err = capsys.readouterr().err
    for lineno in range(2, 2 + len(junk)):
        assert f"{path}:{lineno}: " in err, err
    assert f"{tmp_path / 'rank1.jsonl'}:2: " in err
    assert err.count("harness: warning:") == len(junk) + 1
    assert "recomputed" in err
