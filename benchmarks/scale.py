"""Benchmark: peak memory and wall time of ``harness run`` against the number of videos, and 1 vs 2
torchrun processes.

A folder dataset of N one-frame "videos" (smooth random 256x256 stills, half real, half fake) is
made for each size (default 20, 200 and 2,000: 10x apart), its faces are cached with
``harness data prepare`` (not timed), and then ``harness run`` scores it clean and under FGSM with
the published MesoNet-4 weights (``mesonet:Meso4_DF``: no training needed), as a user would. Each
run is a separate process; its memory is sampled every 50 ms from ``/proc`` over the whole
process tree (the run and its data-loading workers), and the peak is reported with the
wall time, the time per video and the ratios to the smallest size. Memory is the proportional
set size (PSS) summed over the tree, so pages the forked workers share are counted once. Memory should stay flat (set by
the batch size and the workers) while time grows linearly. The last rows run the middle size under
``torchrun --nproc_per_node=1`` and ``=2`` (CPU, gloo).

    python benchmarks/scale.py                      # 20, 200, 2000 videos, CPU
    python benchmarks/scale.py --sizes 200,2000,20000 --device cuda --ranks 1,2,4

The projection at the end multiplies the measured time per frame by the frame counts of Celeb-DF
v2's test list (518 videos) and DFDC's public test set (5,000 videos) at 32 frames per video.
Speed and memory are measured here, never in tests; record the device with the numbers.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

BIN = Path(sys.executable).parent


def make_stills(root: Path, n: int, seed: int = 0) -> None:
    """``n`` smooth random 256x256 PNG stills under ``root/real`` and ``root/fake``."""
    import cv2

    rng = np.random.default_rng(seed)
    for label in ("real", "fake"):
        (root / label).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        small = rng.integers(40, 215, size=(8, 8, 3), dtype=np.uint8)
        image = cv2.resize(small, (256, 256), interpolation=cv2.INTER_CUBIC)
        label = "fake" if i % 2 else "real"
        cv2.imwrite(str(root / label / f"still{i:06d}.png"), image)


def _tree_memory(pid: int) -> int:
    """Proportional set size (PSS) of ``pid`` and all its descendants, in bytes, from /proc.

    PSS splits every shared page among the processes that map it, so forked data-loading
    workers (which share the parent's libraries and pages copy-on-write) are not counted twice,
    as a sum of resident sizes would.
    """
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1]) * 1024
                        break
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    stack += [int(c) for c in f.read().split()]
        except (OSError, ValueError):
            continue
    return total


def measure(cmd: list[str], env: dict[str, str]) -> tuple[float, int, str]:
    """Run ``cmd``; (wall seconds, peak tree RSS bytes, stderr tail). Raises on failure."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = 0
    stop = threading.Event()

    def poll() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, _tree_memory(proc.pid))
            time.sleep(0.05)

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    out, err = proc.communicate()
    stop.set()
    thread.join()
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{err[-3000:]}\n{out[-2000:]}")
    return seconds, peak, err


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="20,200,2000", help="numbers of one-frame videos")
    parser.add_argument("--ranks", default="1,2", help="torchrun process counts for the middle size")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--attack", default="fgsm")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--work", help="folder for data and cache (default: a temporary one)")
    parser.add_argument("--out", help="also write the Markdown table here")
    args = parser.parse_args()

    import torch

    sizes = [int(s) for s in args.sizes.split(",")]
    ranks = [int(r) for r in args.ranks.split(",") if r]
    work = Path(args.work or tempfile.mkdtemp(prefix="harness-scale-"))
    env = {**os.environ, "HARNESS_CACHE": str(work / "cache")}
    device = (
        torch.cuda.get_device_name()
        if args.device.startswith("cuda")
        else (f"cpu ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)")
    )
    common = [
        "--detector",
        "meso4",
        "--checkpoint",
        "mesonet:Meso4_DF",
        "--dataset",
        "folder",
        "--attack",
        args.attack,
        "--device",
        args.device,
        "--batch-size",
        str(args.batch_size),
        "--workers",
        str(args.workers),
        "--set",
        "faces.detector=none",
        "--set",
        "faces.num_frames=1",
        "--set",
        "n_boot=200",
        "-q",
        "--fresh",
    ]

    def run_command(root: Path, out: Path) -> list[str]:
        """`harness run` on the stills under ``root``, writing under ``out``."""
        outputs = ["--set", f"results_dir={out}/results", "--set", f"leaderboard_dir={out}/lb"]
        return [str(BIN / "harness"), "run", "--root", str(root), *common, *outputs]

    rows = []
    for n in sizes:
        root = work / f"stills{n}"
        if not root.is_dir():
            make_stills(root, n)
        prep = [str(BIN / "harness"), "data", "prepare", "--dataset", "folder", "--root", str(root)]
        subprocess.run(
            prep + ["--face-detector", "none", "--frames", "1", "--workers", str(args.workers), "-q"],
            env=env,
            check=True,
            capture_output=True,
        )
        seconds, peak, _ = measure(run_command(root, work / f"out{n}"), env)
        rows.append(("1 process", n, seconds, peak))
        print(f"{n} videos: {seconds:.1f}s, peak {peak / 2**20:.0f} MiB", file=sys.stderr, flush=True)
    mid = sizes[len(sizes) // 2]
    for r in ranks:
        torchrun = [str(BIN / "torchrun"), f"--nproc_per_node={r}", "--standalone", "--no-python"]
        cmd = torchrun + run_command(work / f"stills{mid}", work / f"ranks{r}")
        threads = {"OMP_NUM_THREADS": str(max(1, (os.cpu_count() or 2) // r))}
        seconds, peak, _ = measure(cmd, {**env, **threads})
        rows.append((f"torchrun x{r}", mid, seconds, peak))
        print(f"torchrun x{r}: {seconds:.1f}s, peak {peak / 2**20:.0f} MiB", file=sys.stderr, flush=True)

    base_n, base_s, base_m = rows[0][1], rows[0][2], rows[0][3]
    lines = [
        f"device: {device}; torch {torch.__version__}; meso4 (256 px) {args.attack}, batch "
        f"{args.batch_size}, {args.workers} workers; one-frame videos; peak = memory of the "
        "process tree (PSS)",
        "",
        "| run | videos | wall s | s / video | peak MiB | memory x | time x |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, n, s, m in rows:
        lines.append(
            f"| {name} | {n:,} | {s:.1f} | {s / n:.4f} | {m / 2**20:.0f} | {m / base_m:.2f} | "
            f"{s / base_s:.2f} (videos x{n / base_n:g}) |"
        )
    # Per-frame cost from the two largest single-process sizes (start-up cost cancels out).
    singles = [r for r in rows if r[0] == "1 process"]
    (_, n1, s1, _), (_, n2, s2, _) = singles[-2], singles[-1]
    per_frame = (s2 - s1) / (n2 - n1)
    lines += [
        "",
        f"marginal cost: {per_frame * 1000:.1f} ms per frame (clean + {args.attack}), from the two "
        "largest sizes",
    ]
    for name, videos in (("Celeb-DF v2 test list", 518), ("DFDC public test set", 5000)):
        frames = videos * 32
        lines.append(
            f"projected {name}: {videos:,} videos x 32 frames = {frames:,} frames -> "
            f"{per_frame * frames / 3600:.2f} h on this device, memory as above"
        )
    text = "\n".join(lines)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
