"""Benchmark: the harness's Square attack against ART's ``SquareAttack`` at the same query budget.

Both attack the same detector (a zoo demo model on the embedded benchmark's test crops, trained
once and cached like ``harness run`` does) at the same L-inf ``eps``. ART runs twice: with the same
number of iterations as the harness (ART re-scores the batch each iteration, so it spends more
queries), and with the same query budget per sample (``max_iter = (queries - 3) / 3``: ART's
worst case is three queries per iteration). Reported per run: wall time, the queries actually
spent per sample, the time per iteration (one query batch), the mean logit margin reached (lower
is a stronger attack; the harness's Square keeps pushing samples past the decision threshold,
ART's stops on them) and the attacked AUROC over the crops; ratios are ART / harness.

    python benchmarks/square.py --detector xception --queries 300
    python benchmarks/square.py --detector cnn --queries 1000 --device cuda

Speed is measured here, never in tests. Numbers depend on the machine: record the device with them.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import numpy as np
import torch

from harness.attacks import Attack, AttackConfig, AttackModel, project_linf
from harness.attacks.square import margin


@dataclass(frozen=True)
class _ArtSquareConfig(AttackConfig):
    eps: float = 4 / 255
    max_iter: int = 100


class _ArtSquare(Attack):
    """ART's SquareAttack behind the harness's attack contract (same wrapper, counted queries)."""

    name = "art-square"
    Config = _ArtSquareConfig
    norm = "linf"
    black_box = True

    def run(self, model: AttackModel, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        from art.attacks.evasion import SquareAttack

        from harness.attacks import _art

        c = self.config
        attack = SquareAttack(
            _art.classifier(model, x),
            norm="inf",
            max_iter=c.max_iter,
            eps=c.eps,
            p_init=0.8,
            nb_restarts=1,
            batch_size=len(x),
            verbose=False,
        )
        adv = _art.from_numpy(attack.generate(_art.to_numpy(x), y=y.cpu().numpy()), x)
        return project_linf(adv, x, c.eps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--detector", default="xception")
    parser.add_argument("--queries", type=int, default=300, help="query budget per sample (harness)")
    parser.add_argument("--eps", default="4/255")
    parser.add_argument("--samples", type=int, default=48, help="test crops attacked (4 per video)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()

    from harness import metrics
    from harness.attacks import create_attack
    from harness.config import parse_value
    from harness.data import DataConfig, load_split, prepare_dataset
    from harness.detectors import create_detector
    from harness.scoring import make_samples, resolve_device, subsample_frames
    from harness.train import ensure_demo_model

    device = resolve_device(args.device)
    eps = float(parse_value(args.eps))
    data = DataConfig()
    prep = prepare_dataset(data, progress=False)
    det = create_detector(
        args.detector, checkpoint=ensure_demo_model(args.detector, data, str(device), False, prep)
    )
    det = det.to(device).eval()
    if det.spec.kind != "frame":
        raise SystemExit("benchmark frame detectors (ART attacks 4-D images)")
    videos = subsample_frames(load_split(prep, "test"), 4)
    s = make_samples(videos, "frame", det.spec.input_size)
    x, y = s.x[: args.samples].to(device), s.labels[: args.samples].to(device)
    iters = args.queries - 2  # the harness spends one query on the clean margin, one on the init

    rows = []
    runs = {
        "harness": iters,
        "art (same iterations)": iters,
        "art (same queries)": max(1, (args.queries - 3) // 3),
    }
    for name, n_iter in runs.items():
        times, spent, adv = [], 0, x
        for _ in range(args.repeats):
            if device.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            if name == "harness":
                attack = create_attack("square", eps=eps, n_queries=args.queries, quantize=False)
            else:
                attack = _ArtSquare(eps=eps, max_iter=n_iter, quantize=False)
            res = attack(det, x, y)
            adv, spent = res.x_adv, res.queries
            if device.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
        sec = float(np.median(times))
        with torch.no_grad():
            p = torch.softmax(det(adv).float(), 1)[:, 1].cpu().numpy()
            reached = float(margin(det, adv, y).mean())
        rows.append(
            {
                "impl": name,
                "seconds": sec,
                "queries_per_sample": spent / len(x),
                "ms_per_iteration": 1000 * sec / n_iter,
                "margin": reached,
                "auroc": metrics.auroc(y.cpu().numpy(), p),
            }
        )
    h = rows[0]
    dev = (
        f"cuda ({torch.cuda.get_device_name(device)})"
        if device.type == "cuda"
        else f"cpu ({torch.get_num_threads()} threads)"
    )
    print(
        f"Square L-inf eps={args.eps}, {args.queries} queries, {len(x)} crops of {args.detector} "
        f"{det.spec.input_size[0]}px, device {dev}, torch {torch.__version__}"
    )
    print(
        "| | "
        + " | ".join(r["impl"] for r in rows)
        + " | "
        + " | ".join(f"{r['impl']} / harness" for r in rows[1:])
        + " |"
    )
    print("|---|" + "---:|" * (2 * len(rows) - 1))
    for key, label, fmt in (
        ("seconds", "wall time (s)", "{:.1f}"),
        ("ms_per_iteration", "time per iteration (ms)", "{:.1f}"),
        ("queries_per_sample", "queries spent per sample", "{:.0f}"),
        ("margin", "mean margin reached (lower = stronger)", "{:.2f}"),
        ("auroc", "attacked AUROC (crops)", "{:.3f}"),
    ):
        cells = [fmt.format(r[key]) for r in rows]
        ratios = [f"{r[key] / h[key]:.2f}" if h[key] else "n/a" for r in rows[1:]]
        print(f"| {label} | " + " | ".join(cells + ratios) + " |")


if __name__ == "__main__":
    main()
