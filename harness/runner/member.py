"""One member of a run: attack every sample, score what the attacker delivers, summarize."""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from harness.runner.compute import batch_to_device, check_finite, forward_probs, retrying
from harness.runner.config import RunConfig, RunResult, codecs, create_member_attack
from harness.runner.context import RunContext, finish_member, member_run_key, run_stage, unit_seed
from harness.runner.document import result_document


def fit_attack(ctx: RunContext, attack: Any, progress: bool) -> None:
    """Learn an attack that learns beforehand (``uap``) on the train split's samples of its target
    class, streamed; every process learns the same, then takes rank 0's (bit-identical results)."""
    from harness import distributed
    from harness.stream import UnitDataset, loader, plan_units, video_refs

    if ctx.split in ("all", "train"):
        raise ValueError(
            f"{attack.name} learns on the train split, so it cannot evaluate split {ctx.split!r}: "
            "use a checkpoint trained on this dataset and --set split=test (or val)"
        )
    spec, target = ctx.detector.spec, attack.config.target
    wanted = {"fake": (1,), "real": (0,), "both": (0, 1)}[target]
    refs = [r for r in video_refs(ctx.prep, "train", ctx.key["frames_per_video"]) if r.label in wanted]
    units = plan_units(refs, spec.kind, ctx.config.batch_size, spec.frames_per_clip)
    dataset = UnitDataset(ctx.prep, refs, units, spec.kind, spec.input_size)

    def batches() -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for batch in loader(dataset, units, ctx.config.workers, ctx.device):
            yield batch_to_device(batch["x"], ctx), batch["y"].to(ctx.device)

    if progress:
        print(f"harness: {attack.name}: learning on {len(refs)} train videos ({target})", file=sys.stderr)
    attack.fit(ctx.detector, batches)
    attack.delta = distributed.broadcast(attack.delta.cpu()).to(ctx.device)
    attack.fit_info["train_videos"] = len(refs)


def run_member(
    ctx: RunContext, member: Any, suite: str | None, progress: bool, n_members: int = 1
) -> RunResult:
    """Attack every sample with one member, score, summarize; the result as data (saved to the
    run's store, if any, before its resume records are dropped)."""
    from harness import metrics
    from harness.stream import unit_meta

    config, detector = ctx.config, ctx.detector
    attack = create_member_attack(config, member)
    if getattr(attack, "needs_fit", False):
        fit_attack(ctx, attack, progress)
    ordering = codecs(config, member)
    pre, post = ordering.pre, ordering.post
    tag = member.tag
    member_key = member_run_key(ctx, member)
    label = f"{member.attack} {tag if tag != 'default' else ''}".strip()
    out_dir = save_dir(config, member, tag, n_members)
    oom: dict[str, int] = {}
    kind = detector.spec.kind
    # Video scope (one perturbation per video) attacks a video in one piece: the consecutive
    # units of a video longer than batch_size (one plan group) are merged into one unit here
    # (same samples in the same order, so the records line up with ctx.meta), and the OOM
    # sub-batches below split only at video boundaries.
    video = attack.config.scope == "video"
    units, merged_from = list(ctx.units), {u.index: [u.index] for u in ctx.units}
    if video and kind == "frame":
        units = []
        for u in ctx.units:
            if not units or units[-1].group != u.group:
                units.append(u)
                continue
            last, joined = units[-1], list(units[-1].parts)
            for pos, crops in u.parts:
                if joined[-1][0] == pos:
                    joined[-1] = (pos, joined[-1][1] + crops)
                else:
                    joined.append((pos, crops))
            units[-1] = dataclasses.replace(last, parts=tuple(joined), size=last.size + u.size)
            merged_from[last.index].append(u.index)

    def compute(unit: Any, batch: dict[str, Any]) -> dict[str, Any]:
        x = original = batch_to_device(batch["x"], ctx)
        y = batch["y"].to(ctx.device)
        seed = unit_seed(config.seed, unit.index)
        t0 = time.perf_counter()
        if pre is not None:  # the attacker starts from an already re-encoded video
            x = pre(detector, x, y).x_adv

        known = None
        if attack.uses_gradients:  # the clean pass's per-unit checks (several for a merged unit)
            zgs = [ctx.zero_grad.get(i) for i in merged_from[unit.index]]
            known = None if any(z is None for z in zgs) else [v for z in zgs for v in z]
        zero_known = None if known is None else torch.tensor(known, dtype=torch.bool)
        meta = unit_meta(unit, ctx.refs, kind)
        ids = meta.video_ids

        def spans(size: int) -> list[tuple[int, int]]:
            """Sub-batches of at most ``size`` samples; in video scope whole videos only (a
            video larger than ``size`` on its own: its perturbation is optimized in one piece)."""
            if not video:
                return [(i, i + size) for i in range(0, len(x), size)]
            out, start, end = [], 0, 0
            for stop in [i for i in range(1, len(x) + 1) if i == len(x) or ids[i] != ids[i - 1]]:
                if stop - start > size and end > start:
                    out.append((start, end))
                    start = end
                end = stop
            return [*out, (start, len(x))]

        def attack_all() -> list[Any]:
            size = oom.setdefault("batch", len(x))
            return [
                attack(
                    detector,
                    x[i:j],
                    y[i:j],
                    seed=seed + i,
                    zero_grad=None if zero_known is None else zero_known[i:j],
                    groups=ids[i:j],
                )
                for i, j in spans(size)
            ]

        parts = retrying(attack_all, len(x), oom, ctx.device)
        x_adv = torch.cat([r.x_adv for r in parts])
        if post is not None:  # the platform re-encodes what the attacker delivers
            x_adv = post(detector, x_adv, y).x_adv
        probs = retrying(lambda: forward_probs(ctx, x_adv, oom), len(x), oom, ctx.device)
        # PSNR of what the detector sees against the original clean input (codecs included)
        ref, seen = original.flatten(1).float().cpu().numpy(), x_adv.flatten(1).float().cpu().numpy()
        psnr = metrics.psnr(ref, seen)
        if out_dir is not None:
            save_crops(out_dir, x_adv, meta)
        zero = [r.zero_grad for r in parts]
        return {
            "p": probs.tolist(),
            "linf": torch.cat([r.linf for r in parts]).tolist(),
            "l2": torch.cat([r.l2 for r in parts]).tolist(),
            "psnr": [float(v) for v in psnr],
            "att": torch.cat([r.attacked.cpu() for r in parts]).int().tolist(),
            "unp": torch.cat([r.unperturbed for r in parts]).int().tolist(),
            "zg": None if any(z is None for z in zero) else torch.cat(zero).int().tolist(),
            "q": int(sum(r.queries for r in parts)),
            "s": time.perf_counter() - t0,
            "oom": int(oom.get("halvings", 0)),
            "b": int(oom.get("batch", len(x))),
        }

    records = run_stage(ctx, member_key, units, compute, f"attack {label}", progress)
    rows = [records[u.index] for u in units]

    def cat(key: str, dtype: Any = np.float64) -> np.ndarray:
        return np.concatenate([np.asarray(r[key], dtype=dtype) for r in rows])

    adv_probs = cat("p")
    check_finite(adv_probs, config.detector, f"attacked ({label})")
    linf, l2, psnr = cat("linf"), cat("l2"), cat("psnr")
    attacked, unperturbed = cat("att", bool), cat("unp", bool)
    zero_grad = None if any(r["zg"] is None for r in rows) else cat("zg", bool)
    queries = sum(int(r["q"]) for r in rows)
    attack_seconds = float(sum(float(r["s"]) for r in rows))
    n = len(adv_probs)
    _, adv_scores = metrics.aggregate_by_video(ctx.meta.video_ids, adv_probs, config.aggregate)
    _, video_attacked = metrics.aggregate_by_video(ctx.meta.video_ids, attacked.astype(float), "max")
    summary = metrics.summarize(
        ctx.labels,
        ctx.clean_scores,
        adv_scores,
        threshold=ctx.threshold,
        threshold_val_fpr=ctx.threshold_val_fpr,
        attacked=video_attacked > 0,
        n_boot=config.n_boot,
        seed=config.seed,
    )
    n_attacked = int(attacked.sum())
    stats = (
        metrics.perturbation_stats(linf[attacked], l2[attacked], psnr[attacked])
        if n_attacked
        else (metrics.perturbation_stats(linf, l2, psnr))
    )
    result = result_document(
        ctx,
        member,
        suite,
        attack,
        tag,
        {
            **summary,
            **stats,
            "n_attacked": n_attacked,
            "n_unperturbed": int(unperturbed.sum()),
            "unperturbed_fraction": float(unperturbed.sum() / n_attacked) if n_attacked else None,
            "zero_grad_fraction": (
                float(zero_grad.sum() / n_attacked) if zero_grad is not None and n_attacked else None
            ),
            "queries": int(queries),
            "queries_per_sample": queries / max(1, n_attacked),
            "attack_seconds": attack_seconds,
            "n_samples": int(n),
            "n_skipped_videos": len(ctx.skipped),
        },
        rows,
        member_key,
    )
    from harness.records import remove
    from harness.runner.convergence import run_checks

    convergence, extra, own_stages = run_checks(ctx, member, attack, adv_scores, progress)
    if convergence is not None:
        result["convergence"] = convergence
        result["execution"]["batches_resumed_here"] = int(ctx.batches.get("resumed", 0))
        result["wall_seconds"] = time.perf_counter() - ctx.start
    done = finish_member(ctx, result, video_table(ctx, adv_scores, **extra), member_key)
    for stage in own_stages:  # the member's own check stages go with its records
        remove(ctx.state_dir / stage)
        ctx.stages.pop(stage, None)
    return done


def video_table(ctx: RunContext, adv_scores: Any, **extra: Any) -> dict[str, list[Any]]:
    """The per-video table of a member: id, label, clean and attacked score (+ ``extra`` columns)."""
    return {
        "video_id": list(ctx.video_ids),
        "label": [int(v) for v in ctx.labels],
        "clean_score": [float(v) for v in ctx.clean_scores],
        "adv_score": [float(v) for v in adv_scores],
        **{k: [float(v) for v in col] for k, col in extra.items()},
    }


def save_dir(config: RunConfig, member: Any, tag: str, n_members: int) -> Path | None:
    """Where ``save_adversarial`` puts one member's attacked samples (a sub-folder per member)."""
    if not config.save_adversarial:
        return None
    root = Path(config.save_adversarial)
    return root if n_members == 1 else root / f"{member.attack}-{tag}"


def save_crops(root: Path, x_adv: torch.Tensor, meta: Any) -> None:
    """Write attacked samples as 8-bit PNGs: ``root/{real,fake}/<video_id>/<frame>.png``.

    ``meta``: the samples' identities (:class:`~harness.stream.SampleMeta`). Frames: one file per
    crop, named by its frame index; clips: the clip's ``T`` frames (``t000.png`` ...). The values
    are the ones scored (quantized runs round-trip exactly).
    """
    import cv2

    arr = (x_adv.detach().float().cpu().clamp(0, 1) * 255).round().to(torch.uint8)
    for j in range(len(arr)):
        vid, label, frame = meta.video_ids[j], int(meta.labels[j]), meta.frames[j]
        folder = root / ("fake" if label == 1 else "real") / safe_id(vid)
        folder.mkdir(parents=True, exist_ok=True)
        frames = arr[j][None] if arr.ndim == 4 else arr[j]
        for t, img in enumerate(frames):
            name = f"{frame:06d}.png" if frame >= 0 and arr.ndim == 4 else f"t{t:03d}.png"
            bgr = cv2.cvtColor(img.permute(1, 2, 0).numpy(), cv2.COLOR_RGB2BGR)
            if not cv2.imwrite(str(folder / name), bgr):
                raise OSError(f"could not write {folder / name}: check that the folder is writable")


def safe_id(video_id: str) -> str:
    """A video id as one folder name (ids may hold '/': ``real/clip01`` -> ``real__clip01``)."""
    return video_id.replace("/", "__").replace("\\", "__")
