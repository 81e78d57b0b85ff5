"""Real scale on small data: streaming, resume after SIGKILL, torchrun ranks, OOM, precision.

The subprocess tests run the real ``harness`` command (and ``torchrun``) on the tiny embedded
benchmark with the session's tiny cnn, and compare result files number by number.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from harness import workflow
from harness.config import build_config
from harness.data import DataConfig, prepare_dataset
from harness.runner import RunConfig
from harness.stream import plan_units, shard, video_refs

BIN = Path(sys.executable).parent
TIMING = {"attack_seconds", "wall_seconds", "created", "execution"}


def _args(tiny: tuple[DataConfig, Path], out: Path, *extra: str) -> list[str]:
    data, ckpt = tiny
    return [
        "run",
        "--detector",
        "cnn",
        "--checkpoint",
        str(ckpt),
        "--cache-dir",
        str(data.cache_dir),
        "--batch-size",
        "8",
        "--set",
        "dataset.size=tiny",
        "--set",
        "faces.detector=haar",
        "--set",
        "faces.num_frames=8",
        "--set",
        "n_boot=50",
        "--set",
        f"results_dir={out / 'results'}",
        "--set",
        f"leaderboard_dir={out / 'lb'}",
        "-q",
        *extra,
    ]


def _harness(
    args: list[str], env: dict[str, str] | None = None, torchrun: int = 0
) -> subprocess.CompletedProcess:
    cmd = [str(BIN / "harness"), *args]
    if torchrun:
        cmd = [str(BIN / "torchrun"), f"--nproc_per_node={torchrun}", "--standalone", "--no-python", *cmd]
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run(cmd, capture_output=True, text=True, env=full_env, timeout=600)


def _results(out: Path) -> dict[str, dict[str, Any]]:
    return {p.name: json.loads(p.read_text()) for p in sorted((out / "results").rglob("*.json"))}


def _numbers(result: dict[str, Any]) -> dict[str, Any]:
    """What must not depend on how the run was executed (timings and execution facts aside)."""
    metrics = {k: v for k, v in result["metrics"].items() if k not in TIMING}
    keep = {k: v for k, v in result.items() if k not in TIMING | {"metrics", "config", "world_size"}}
    return {**keep, "metrics": metrics}


def _records(out: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted((out / "results").rglob("*.videos.csv"))}


def test_the_work_plan_covers_every_sample_once_and_shards_whole_videos(tiny: Any) -> None:
    data, _ = tiny
    prep = prepare_dataset(data, progress=False)
    refs = video_refs(prep, "test")
    for batch in (1, 3, 8, 64):
        units = plan_units(refs, "frame", batch)
        seen = [(refs[p].video_id, c) for u in units for p, crops in u.parts for c in crops]
        assert sorted(seen) == sorted((r.video_id, c) for r in refs for c in r.crops)
        assert all(1 <= u.size <= batch for u in units)
        assert [u.index for u in units] == list(range(len(units)))
        for world in (2, 3):
            shards = [shard(units, r, world) for r in range(world)]
            assert sorted(u.index for s in shards for u in s) == [u.index for u in units]
            owners: dict[str, set[int]] = {}
            for r, s in enumerate(shards):
                for u in s:
                    for p, _ in u.parts:
                        owners.setdefault(refs[p].video_id, set()).add(r)
            assert all(len(v) == 1 for v in owners.values()), "a video is never split across processes"
    clips = plan_units(refs, "clip", 5, frames_per_clip=4)
    assert sum(u.size for u in clips) == len(refs) and all(len(c) == 4 for u in clips for _, c in u.parts)


def test_evaluation_streams_and_never_loads_a_whole_split(
    tiny: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    import harness.data
    import harness.scoring

    def refuse(*a: Any, **k: Any) -> None:
        raise AssertionError("a whole split was loaded into memory")

    monkeypatch.setattr(harness.data, "load_split", refuse)
    monkeypatch.setattr(harness.scoring, "make_samples", refuse)
    data, ckpt = tiny
    config = RunConfig(
        detector="cnn",
        attack="fgsm",
        checkpoint=str(ckpt),
        data=data,
        n_boot=20,
        batch_size=8,
        workers=2,
        results_dir=str(tmp_path / "r"),
        leaderboard_dir=str(tmp_path / "l"),
    )
    (result,) = workflow.run(config, progress=False)
    assert result.result["execution"]["batches"] >= 2 and result.result["world_size"] == 1
    assert not (tmp_path / "r" / ".partial").exists(), "resume records are removed once the run is done"


def test_a_killed_run_resumes_with_identical_numbers(tiny: Any, tmp_path: Path) -> None:
    data, _ = tiny
    prep = prepare_dataset(data, progress=False)
    n_test = len(plan_units(video_refs(prep, "test"), "frame", 8))
    n_clean = n_test + len(plan_units(video_refs(prep, "val"), "frame", 8))
    kill_after = n_clean + 2  # killed in the attack stage, after two of its batches
    attack = ["--attack", "pgd", "--set", "attack.steps=2"]

    whole = _harness(_args(tiny, tmp_path / "whole", *attack, "--workers", "2"))
    assert whole.returncode == 0, whole.stderr

    out = tmp_path / "killed"
    killed = _harness(
        _args(tiny, out, *attack, "--workers", "0"), env={"HARNESS_KILL_AFTER_BATCHES": str(kill_after)}
    )
    assert killed.returncode == -signal.SIGKILL
    assert not list((out / "results").rglob("*.json")), "no result from the killed run"
    logs = sorted((out / "results" / ".partial").rglob("rank0.jsonl"))
    lines = sum(len(p.read_text().splitlines()) for p in logs)
    assert lines == kill_after, "every batch finished before the kill was recorded"

    resumed = _harness(_args(tiny, out, *attack, "--workers", "0"))
    assert resumed.returncode == 0, resumed.stderr
    ((name, result),) = _results(out).items()
    execution = result["execution"]
    assert execution["batches_resumed_here"] == kill_after
    assert _numbers(result) == _numbers(_results(tmp_path / "whole")[name])
    assert _records(out) == _records(tmp_path / "whole")

    again = _harness(_args(tiny, out, *attack, "--workers", "0"))
    assert again.returncode == 0 and "already finished" in again.stderr
    assert json.loads((next((out / "results").rglob("*.json"))).read_text())["created"] == result["created"]
    fresh = _harness(_args(tiny, out, *attack, "--workers", "0", "--fresh"))
    assert fresh.returncode == 0 and "already finished" not in fresh.stderr
    ((_, redone),) = _results(out).items()
    assert redone["execution"]["batches_resumed_here"] == 0 and _numbers(redone) == _numbers(result)


def test_a_torn_record_line_is_dropped_and_recomputed(tmp_path: Path) -> None:
    from harness.records import RecordLog

    with RecordLog(tmp_path, rank=0) as log:
        log.append({"unit": 0, "p": [0.25]})
        log.append({"unit": 1, "p": [0.5]})
    path = tmp_path / "rank0.jsonl"
    path.write_bytes(path.read_bytes() + b'{"unit": 2, "p": [0.7')  # killed mid-write
    assert sorted(RecordLog(tmp_path).done()) == [0, 1]
    with RecordLog(tmp_path, rank=0) as log:
        log.append({"unit": 2, "p": [0.75]})
    assert RecordLog(tmp_path).done()[2]["p"] == [0.75]
    assert path.read_bytes().count(b"\n") == 3


@pytest.mark.skipif(shutil.which("torchrun", path=str(BIN)) is None, reason="torchrun not installed")
def test_two_torchrun_ranks_write_the_same_numbers_as_one_process(tiny: Any, tmp_path: Path) -> None:
    extra = ["--attack", "fgsm", "--set", "attack.eps=[2/255,8/255]", "--workers", "0"]
    one = _harness(_args(tiny, tmp_path / "one", *extra))
    assert one.returncode == 0, one.stderr
    two = _harness(_args(tiny, tmp_path / "two", *extra), torchrun=2)
    assert two.returncode == 0, two.stderr + two.stdout
    a, b = _results(tmp_path / "one"), _results(tmp_path / "two")
    assert sorted(a) == sorted(b) and len(a) == 2
    for name in a:
        assert b[name]["world_size"] == 2 and a[name]["world_size"] == 1
        assert _numbers(a[name]) == _numbers(b[name])
    assert _records(tmp_path / "one") == _records(tmp_path / "two")
    assert two.stdout.count("AUROC clean") == 1, "only rank 0 prints the table"


@pytest.mark.skipif(shutil.which("torchrun", path=str(BIN)) is None, reason="torchrun not installed")
def test_data_prepare_under_torchrun_shares_the_videos_out(tmp_path: Path) -> None:
    prepare = ["data", "prepare", "--cache-dir", str(tmp_path), "-o", "size=tiny", "--face-detector", "haar"]
    prepare += ["--frames", "4", "--workers", "1", "-q"]
    two = _harness(prepare, torchrun=2)
    assert two.returncode == 0, two.stderr
    assert two.stdout.count("split protocol") == 1, "only rank 0 prints the summary"
    assert "16 videos decoded in this run" in two.stdout, "rank 0 reads the cache its peer filled"
    again = _harness(prepare)
    assert again.returncode == 0 and "0 videos decoded in this run (16 from cache)" in again.stdout


def test_two_runs_into_one_results_folder_lose_nothing(tiny: Any, tmp_path: Path) -> None:
    procs = [
        subprocess.Popen(
            [str(BIN / "harness"), *_args(tiny, tmp_path, "--attack", name, "--workers", "0")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
        )
        for name in ("noise", "blur")
    ]
    for p in procs:
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
    header = (tmp_path / "lb" / "leaderboard.csv").read_text().splitlines()[0]
    assert "noise@" in header and "blur@" in header, "the last regeneration saw both results"
    assert len(list((tmp_path / "results").rglob("*.json"))) == 2


def test_leaderboard_regeneration_waits_for_the_lock(tmp_path: Path) -> None:
    import fcntl
    import threading

    from harness.leaderboard import write_leaderboards

    (tmp_path / "lb").mkdir()
    done = threading.Event()
    with open(tmp_path / "lb" / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another run is regenerating
        worker = threading.Thread(
            target=lambda: (write_leaderboards(tmp_path / "r", tmp_path / "lb"), done.set())
        )
        worker.start()
        assert not done.wait(0.5), "regeneration must wait while another holds the lock"
    worker.join(timeout=60)
    assert done.is_set() and (tmp_path / "lb" / "leaderboard.md").is_file()


class _OOMAbove(torch.nn.Module):
    """A wrapper that raises CUDA out-of-memory for batches larger than ``limit`` (simulated)."""

    def __init__(self, inner: torch.nn.Module, limit: int) -> None:
        super().__init__()
        self.inner, self.limit = inner, limit

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] > self.limit:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return self.inner.logits(x)


def test_out_of_memory_halves_the_batch_and_keeps_the_numbers(tiny: Any, tmp_path: Path) -> None:
    from harness.detectors import create_detector
    from harness.detectors._base import WrappedDetector

    data, ckpt = tiny

    def run(limit: int | None, where: str) -> dict[str, Any]:
        inner = create_detector("cnn", checkpoint=ckpt)
        det = inner if limit is None else WrappedDetector(inner.spec, _OOMAbove(inner, limit))
        det.checkpoint_meta = inner.checkpoint_meta
        config = build_config(
            RunConfig,
            cli={
                "detector": "cnn",
                "attack": "fgsm",
                "checkpoint": str(ckpt),
                "data": vars(data) | {"faces": vars(data.faces)},
                "batch_size": 8,
                "workers": 0,
                "n_boot": 20,
                "results_dir": str(tmp_path / where),
                "leaderboard_dir": str(tmp_path / where / "lb"),
            },
        )
        (r,) = workflow.run(config, progress=False, detector=det)
        return r.result

    normal, halved = run(None, "normal"), run(3, "halved")
    assert normal["execution"]["oom_halvings"] == 0
    assert halved["execution"]["oom_halvings"] == 2 and halved["execution"]["smallest_batch"] == 2
    assert halved["metrics"]["auroc_adv"] == normal["metrics"]["auroc_adv"]  # FGSM has no randomness
    assert halved["metrics"]["auroc_clean"] == normal["metrics"]["auroc_clean"]


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_low_precision_runs_on_the_cpu_and_is_recorded(tiny: Any, tmp_path: Path, precision: str) -> None:
    data, ckpt = tiny

    def run(p: str, **extra: Any) -> dict[str, Any]:
        config = RunConfig(
            detector="cnn",
            attack="pgd",
            attack_options={"steps": 3},
            checkpoint=str(ckpt),
            data=data,
            n_boot=20,
            workers=0,
            precision=p,
            results_dir=str(tmp_path / p / "r"),
            leaderboard_dir=str(tmp_path / p / "l"),
            **extra,
        )
        return workflow.run(config, progress=False)[0].result

    low, full = run(precision, channels_last=True), run("fp32")
    assert low["precision"] == precision and low["channels_last"] and full["precision"] == "fp32"
    assert low["run_key"] != full["run_key"], "a precision is a different run"
    assert abs(low["metrics"]["auroc_clean"] - full["metrics"]["auroc_clean"]) <= 0.05
    assert abs(low["metrics"]["auroc_adv"] - full["metrics"]["auroc_adv"]) <= 0.1
    assert low["metrics"]["linf_max"] <= 8 / 255 + 1e-6


def test_torch_compile_gives_the_eager_numbers(tiny: Any, tmp_path: Path) -> None:
    from harness.detectors import create_detector

    data, ckpt = tiny
    det = create_detector("cnn", checkpoint=ckpt).eval()
    x = torch.rand(4, 3, *det.spec.input_size)
    eager = det(x)
    det.accelerate(compile=True)
    assert torch.allclose(det(x), eager, atol=1e-5)
    assert np.isfinite(det(x).detach().numpy()).all()


def test_the_zero_gradient_check_from_the_clean_pass_equals_the_attacks_own() -> None:
    from harness.attacks import create_attack, zero_gradient_mask
    from tests.tiny import faces, trained_detector

    det = trained_detector()
    x, y = faces(8, seed=3)
    x[0] = 1.0  # a saturated sample: still a real gradient or not, both sides must agree
    for name in ("pgd", "fgsm"):
        attack = create_attack(name, eps=4 / 255, seed=1)
        own = attack(det, x, y)
        given = attack(det, x, y, zero_grad=zero_gradient_mask(det, x, y))
        assert torch.equal(own.zero_grad, given.zero_grad)
        assert torch.equal(own.x_adv, given.x_adv), "the precomputed check changes nothing else"


def test_training_streams_and_is_the_same_with_any_number_of_workers(tiny: Any, tmp_path: Path) -> None:
    from harness.checkpoint import load_checkpoint
    from harness.train import AugmentConfig, TrainConfig, train

    data, _ = tiny
    states = []
    for workers in (0, 2):
        config = TrainConfig(
            detector="cnn",
            detector_options={"input_size": 32},
            data=data,
            epochs=1,
            batch_size=16,
            workers=workers,
            augment=AugmentConfig(jpeg=0.5),  # every random draw of the recipe, per batch seed
            output=str(tmp_path / f"w{workers}.pt"),
        )
        train(config, progress=False)
        states.append(load_checkpoint(tmp_path / f"w{workers}.pt").state_dict)
    assert states[0].keys() == states[1].keys()
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])
