"""Benchmark: gradient-attack speed as a ratio to the physical limit, per detector.

The physical limit of a gradient attack is one forward and one backward pass to the input
gradient per step: for each detector it is timed directly with torch on the batch
(cross-entropy of the logits, ``torch.autograd.grad`` with respect to the input; parameters
frozen, as every attack here runs them). Each PGD implementation is timed end to end (a full run
of ``S`` steps) and reported as seconds per step divided by that limit. After warm-up (passes,
and a one-step run of every attack) all measurements are taken in ``--repeats`` interleaved
rounds, so that load from other processes falls on all of them alike; each reports its median.

* the harness's PGD (``create_attack("pgd", eps=4/255, steps=S, quantize=True)``) called as
  ``harness run`` calls it, everything it does included: input/output checks, the bit-for-bit
  snapshot of the detector, 8-bit delivery; its zero-gradient self-check comes from the run's
  clean pass (once per run for all gradient attacks), so it is passed in, not timed;
* torchattacks' ``PGD`` called directly on a plain ``nn.Module`` that returns the detector's logits;
* ART's ``ProjectedGradientDescent`` on a ``PyTorchClassifier`` around the same module
  (NumPy in and out, as ART works);
* for each ``--precision``: the harness's PGD with the detector in that precision
  (``detector.accelerate(precision=..., channels_last=True)`` on a copy). Its ratio is to the
  **fp32** limit (so < 1 means faster than fp32 can physically go); reported with it: the limit
  in that precision, the speedup over fp32 torchattacks, and the largest absolute difference of
  the attacked fake-probabilities (each pipeline scoring its own attacked batch in its own
  precision) from the fp32 harness run on the same batch and seed: a cheap proxy for how much
  the precision moves results (the attacked AUROC difference is measured elsewhere).

Why a ratio: absolute times depend on the machine (CPU model, thread count, GPU, driver), but the
attack's cost relative to the network's own forward+backward on the same machine is what an
implementation controls. A ratio near 1.0 means the attack loop adds almost nothing to the
network. The harness's PGD runs torchattacks' loop and, once per call, a copy-and-compare of the
detector's weights: expect about torchattacks' ratio ``+ c / S`` at ``S`` steps (``c``: the copy,
in steps; large only for a big network that is fast to run). A ratio that grows with a fast network (small inputs, a GPU) exposes per-step overhead: host
syncs, copies, Python. Detectors are randomly initialized (speed does not depend on weights);
inputs are random 8-bit images with labels alternating 0/1.

    python benchmarks/attack_speed.py --detectors cnn,meso4,xception --batch 8 --steps 10
    python benchmarks/attack_speed.py --detectors cnn,meso4,xception,efficientnet_b4 --batch 32 \\
        --steps 20 --device cuda --precision fp32,bf16 --out results/attack_speed_h200.md

On a GPU: pass ``--device cuda`` (``cuda:1`` for another card; precisions default to
``fp32,bf16`` there); every timing is bracketed by ``torch.cuda.synchronize()``. Clip detectors
(``cnn_lstm``) work too: their ``(N, T, 3, H, W)`` clips reach torchattacks and ART flattened to
``(N, 3T, H, W)``, as the harness passes them. On a CPU shared with other jobs, wall times swing
with their load; ``--threads 1 --clock process`` times this process's CPU time instead, which
the other jobs do not inflate. Speed is measured here, never in tests.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import logging
import os
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn


class _Logits(nn.Module):
    """A plain module over a detector for torchattacks and ART: 4-D input in, logits out."""

    def __init__(self, detector: nn.Module, frames: int | None) -> None:
        super().__init__()
        self.detector = detector
        self.frames = frames

    def forward(self, x: Tensor) -> Tensor:
        if self.frames is not None:
            x = x.unflatten(1, (self.frames, 3))
        return self.detector(x)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


_CLOCKS = {"wall": time.perf_counter, "process": time.process_time}


def _once(fn: Callable[[], Any], device: torch.device, clock: str = "wall") -> tuple[float, Any]:
    """Seconds of one call of ``fn`` (synchronized on CUDA) on ``clock``, and its output."""
    now = _CLOCKS[clock]
    _sync(device)
    t0 = now()
    out = fn()
    _sync(device)
    return now() - t0, out


def _grad_step(det: nn.Module, x: Tensor, y: Tensor) -> Callable[[], Tensor]:
    """One forward + backward to the input gradient: the floor of one PGD step."""

    def step() -> Tensor:
        with torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            loss = F.cross_entropy(det(xg).float(), y)
            (grad,) = torch.autograd.grad(loss, xg)
        return grad

    return step


def _fake_prob(det: nn.Module, x: Tensor) -> Tensor:
    with torch.no_grad():
        return torch.softmax(det(x).float(), dim=1)[:, 1]


def _device_name(device: torch.device, threads: int) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    name = platform.processor()
    if not name or name == platform.machine():
        with contextlib.suppress(OSError):
            with open("/proc/cpuinfo") as f:
                for line in f:
                    if line.startswith("model name"):
                        name = line.split(":", 1)[1].strip()
                        break
    plural = "" if threads == 1 else "s"
    return f"cpu ({name or platform.machine() or 'unknown'}, {threads} thread{plural})"


def _fmt(v: float | None, spec: str) -> str:
    return "n/a" if v is None or not np.isfinite(v) else format(v, spec)


def _bench(
    name: str,
    det: Any,
    args: argparse.Namespace,
    device: torch.device,
    eps: float,
    alpha: float,
    precisions: list[str],
    notes: list[str],
) -> list[str]:
    """One table row: the limit and every implementation's ratio to it for detector ``det``."""
    import torchattacks

    from harness.attacks import create_attack

    steps, n = args.steps, args.batch
    spec = det.spec
    for p in det.parameters():
        p.requires_grad_(False)  # attacks need no parameter gradients (the harness freezes them too)
    det.check_range = False  # the harness validates once, then runs its inner loop without it
    clip = spec.kind == "clip"
    frames = spec.frames_per_clip if clip else None
    shape = (n, frames, 3, *spec.input_size) if clip else (n, 3, *spec.input_size)
    gen = torch.Generator().manual_seed(args.seed)
    x = (torch.randint(0, 256, shape, generator=gen, dtype=torch.uint8).float() / 255).to(device)
    y = (torch.arange(n) % 2).to(device)
    flat = x.flatten(1, 2) if clip else x  # what torchattacks and ART get (as the harness passes clips)
    plain = _Logits(det, frames).eval()

    # Every measurement as a callable; all are warmed up, then timed in interleaved rounds
    # (limit passes, then each attack once, per round) so that load from other processes on
    # the machine falls on all of them alike. Each gets the median of its times.
    limits: dict[str, Callable[[], Any]] = {"fp32": _grad_step(det, x, y)}
    attacks: dict[str, Callable[[int], Callable[[], Any]]] = {}

    def harness(d: nn.Module) -> Callable[[int], Callable[[], Any]]:
        # As `harness run` calls it: the zero-gradient self-check comes from the run's clean
        # pass (computed once per run for all its gradient attacks), not from each call.
        from harness.attacks import zero_gradient_mask

        zero = zero_gradient_mask(d, x, y)
        return lambda s: (
            lambda: create_attack("pgd", eps=eps, steps=s, quantize=True)(d, x, y, zero_grad=zero)
        )

    attacks["harness"] = harness(det)

    def ta(s: int) -> Callable[[], Tensor]:
        with contextlib.redirect_stdout(io.StringIO()):  # "Failed to set device automatically"
            atk = torchattacks.PGD(plain, eps=eps, alpha=alpha, steps=s, random_start=True)
        atk.set_device(device)
        return lambda: atk(flat, y)

    attacks["torchattacks"] = ta

    if not args.no_art:
        from art.attacks.evasion import ProjectedGradientDescent
        from art.estimators.classification import PyTorchClassifier

        clf = PyTorchClassifier(
            model=plain,
            loss=nn.CrossEntropyLoss(),
            input_shape=tuple(flat.shape[1:]),
            nb_classes=2,
            clip_values=(0.0, 1.0),
            device_type="gpu" if device.type == "cuda" else "cpu",
        )
        x_np = flat.detach().cpu().numpy()
        y_np = np.eye(2, dtype=np.float32)[y.cpu().numpy()]

        def art_pgd(s: int) -> Callable[[], np.ndarray]:
            atk = ProjectedGradientDescent(
                clf,
                norm=np.inf,
                eps=eps,
                eps_step=alpha,
                max_iter=s,
                num_random_init=1,
                batch_size=n,
                verbose=False,
            )
            return lambda: atk.generate(x_np, y=y_np)

        attacks["art"] = art_pgd

    fast: dict[str, nn.Module] = {}
    for prec in precisions:
        try:
            fast[prec] = copy.deepcopy(det).accelerate(precision=prec, channels_last=True)
            limits[f"limit {prec}"] = _grad_step(fast[prec], x, y)
            attacks[f"harness {prec}"] = harness(fast[prec])
        except Exception as exc:  # e.g. a precision this build or device does not support
            notes.append(f"{name} {prec}: failed ({type(exc).__name__}: {str(exc).splitlines()[0]})")

    runs = {key: make(steps) for key, make in attacks.items()}
    failed = set()
    for key, fn in list(limits.items()):
        try:
            for _ in range(args.warmup):
                fn()
        except Exception as exc:
            notes.append(f"{name} {key}: failed ({type(exc).__name__}: {str(exc).splitlines()[0]})")
            failed.add(key)
    for key, make in attacks.items():
        try:
            make(1)()  # one-time costs (imports, kernel selection) out of the timings
        except Exception as exc:
            notes.append(f"{name} {key}: failed ({type(exc).__name__}: {str(exc).splitlines()[0]})")
            failed.add(key)
    per_round = max(1, -(-args.limit_repeats // args.repeats))
    times: dict[str, list[float]] = {}
    outputs: dict[str, Any] = {}
    for _ in range(args.repeats):
        for key, fn in limits.items():
            if key not in failed:
                times.setdefault(key, []).extend(_once(fn, device, args.clock)[0] for _ in range(per_round))
        for key, fn in runs.items():
            if key not in failed:
                sec, outputs[key] = _once(fn, device, args.clock)
                times.setdefault(key, []).append(sec)
    med = {key: statistics.median(v) for key, v in times.items()}
    nan = float("nan")
    limit = med.get("fp32", nan)

    def ratio(key: str) -> float:
        return med.get(key, nan) / steps / limit

    h_res = outputs.get("harness")
    if h_res is not None and h_res.queries != n * steps:
        notes.append(f"{name}: the harness's PGD counted {h_res.queries} queries, expected {n * steps}")
    row = [
        name,
        "x".join(str(v) for v in shape[1:]),
        str(n),
        _fmt(1000 * limit, ".1f"),
        _fmt(ratio("harness"), ".2f"),
        _fmt(ratio("torchattacks"), ".2f"),
        _fmt(ratio("art"), ".2f"),
    ]
    p_fp32 = _fake_prob(det, h_res.x_adv) if h_res is not None else None
    for prec in precisions:
        p_res = outputs.get(f"harness {prec}")
        dp = nan
        if p_res is not None and p_fp32 is not None:
            dp = float((_fake_prob(fast[prec], p_res.x_adv) - p_fp32).abs().max())
        row += [
            _fmt(1000 * med.get(f"limit {prec}", nan), ".1f"),
            _fmt(ratio(f"harness {prec}"), ".2f"),
            _fmt(med.get("torchattacks", nan) / med.get(f"harness {prec}", nan), ".2f"),
            _fmt(dp, ".1e"),
        ]
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--detectors", default="cnn,meso4,xception", help="comma-separated zoo keys")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=10, help="PGD steps S")
    parser.add_argument("--eps", default="4/255")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    parser.add_argument(
        "--precision",
        default=None,
        help="comma-separated fp32/bf16/fp16 (default: fp32 on CPU, fp32,bf16 on CUDA)",
    )
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: all)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each attack (median)")
    parser.add_argument(
        "--limit-repeats", type=int, default=10, help="timed forward+backward passes (median)"
    )
    parser.add_argument("--warmup", type=int, default=2, help="untimed forward+backward passes first")
    parser.add_argument(
        "--clock",
        choices=tuple(_CLOCKS),
        default="wall",
        help="wall (default) or process: CPU time of this process, for a CPU shared with other "
        "jobs (meaningful with --threads 1 only: with more it adds up all threads)",
    )
    parser.add_argument("--no-art", action="store_true", help="skip ART (slow to import, NumPy round trips)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="also write the header and table to this Markdown file")
    args = parser.parse_args()

    import torchattacks

    from harness.attacks import create_attack
    from harness.config import parse_value
    from harness.detectors import create_detector
    from harness.scoring import resolve_device

    logging.getLogger("art").setLevel(logging.ERROR)
    threads = args.threads or len(os.sched_getaffinity(0))
    torch.set_num_threads(threads)
    device = resolve_device(args.device)
    if args.clock == "process" and (device.type != "cpu" or threads != 1):
        raise SystemExit("--clock process measures one CPU thread: use it with --device cpu --threads 1")
    if device.type == "cuda" and device.index is not None:
        torch.cuda.set_device(device)  # ART puts its model on the current CUDA device
    eps = float(parse_value(args.eps))
    precisions = [
        p.strip() for p in (args.precision or ("fp32,bf16" if device.type == "cuda" else "fp32")).split(",")
    ]
    precisions = [p for p in precisions if p]
    names = [d.strip() for d in args.detectors.split(",") if d.strip()]
    steps, n = args.steps, args.batch
    if steps < 1 or n < 1:
        raise SystemExit("--steps and --batch must be >= 1")
    alpha = create_attack("pgd", eps=eps, steps=steps).alpha  # the harness's default step, eps/4
    try:
        import art

        art_version = art.__version__
    except ImportError:
        art_version = "not installed"
        args.no_art = True

    rows: list[list[str]] = []
    notes: list[str] = []
    for name in names:
        try:
            det = create_detector(name).eval().to(device)
        except Exception as exc:  # a missing optional dependency, an unknown key: note and go on
            notes.append(f"{name}: not built ({type(exc).__name__}: {str(exc).splitlines()[0]})")
            continue
        rows.append(_bench(name, det, args, device, eps, alpha, precisions, notes))
        print(f"done: {name}", flush=True)
        del det
        if device.type == "cuda":
            torch.cuda.empty_cache()

    columns = [
        "detector",
        "input",
        "batch",
        "limit ms/step (fp32)",
        "harness PGD x",
        "torchattacks PGD x",
        "ART PGD x",
    ]
    for prec in precisions:
        columns += [
            f"{prec} limit ms/step",
            f"harness {prec} x",
            f"{prec} speedup vs torchattacks fp32",
            f"max abs dp {prec}-fp32",
        ]
    dev = _device_name(device, threads)
    header = [
        "# PGD speed as a ratio to the physical limit (one forward + backward to the input gradient)",
        "",
        f"- device: {dev}",
        f"- torch {torch.__version__}, torchattacks {torchattacks.__version__}, ART {art_version}",
        f"- PGD L-inf eps={args.eps}, alpha={alpha:.6g} (eps/4), steps={steps}, random start, "
        f"batch={n} random 8-bit images (labels 0/1 alternating), randomly initialized detectors",
        f"- harness: quantize=True (8-bit delivery); precisions: {', '.join(precisions)} "
        "(accelerate(precision=..., channels_last=True))",
        f"- timing ({args.clock} clock): warm-up = {args.warmup} forward+backward pass(es) and a "
        f"1-step run of each attack; then interleaved rounds: {args.repeats}; limit = median of "
        f"{-(-args.limit_repeats // args.repeats) * args.repeats} passes, each attack = median of its "
        f"{args.repeats} full run(s); x = (s/step) / limit",
    ]
    if device.type == "cuda":
        header.append(
            f"- TF32: matmul {torch.backends.cuda.matmul.allow_tf32}, cudnn {torch.backends.cudnn.allow_tf32}; "
            f"cudnn.benchmark {torch.backends.cudnn.benchmark}"
        )
    table = [
        "| " + " | ".join(columns) + " |",
        "|---|---|" + "---:|" * (len(columns) - 2),
        *("| " + " | ".join(r) + " |" for r in rows),
    ]
    footer = [
        "",
        "harness <precision> x is relative to the fp32 limit; speedup = torchattacks fp32 s/step / harness <precision> "
        "s/step; max abs dp = largest |fake-probability difference| on the attacked batch vs the "
        "fp32 harness run (same seed). The precision columns run with channels_last (NHWC): "
        "their fp32 differs from the plain fp32 by the memory layout only.",
    ]
    footer += [f"- note: {m}" for m in notes]
    text = "\n".join(header + [""] + table + footer) + "\n"
    print()
    print(text, end="")
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
