"""Crafting on a source: every video attacked once through the surrogate, or found in the store.

Each video is attacked on its own, in chunks of ``batch_size`` crops, with a seed derived from the
attack's seed and the video's crops (:func:`~harness.transfer.store.video_seed`); the result is
rounded to uint8 at the stored crop size, checked against the budget of the clean crops and
written to the store. What comes back (:class:`Crafted`) is the store path of every video and the
perturbation statistics of all of them (read back from the store for the videos it already held).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from harness.transfer.config import TransferConfig
from harness.transfer.models import Model
from harness.transfer.store import (
    chunks,
    crops_sha256,
    read_example,
    store_key,
    store_path,
    store_root,
    video_key,
    video_seed,
    write_example,
)
from harness.transfer.surrogate import through_resize


@dataclass
class Crafted:
    """The stored examples of one (source, suite member): per video, its store path."""

    source: str
    member: Any
    attack: Any
    key: str
    paths: dict[str, str]
    crafted: int = 0
    reused: int = 0
    stats: dict[str, Any] = field(default_factory=dict)
    spec: dict[str, Any] = field(default_factory=dict)  # the source's input spec


def members(config: TransferConfig) -> list[Any]:
    """The suite members of ``config.attack`` (one per strength), checked before any work."""
    from harness.attacks import ATTACKS
    from harness.suites import expand_member, split_ordering

    cls = ATTACKS.get(config.attack)
    if getattr(cls, "needs_fit", False):
        raise ValueError(f"{config.attack} learns on the train split first; transfer crafts per video only")
    out = expand_member(config.attack, dict(config.attack_options))
    for m in out:
        _, pre, post = split_ordering(m.options)
        if pre or post:
            raise ValueError(
                "attack.pre / attack.post are not supported by transfer (one threat model at a time)"
            )
        if m.options.get("quantize") is False:
            raise ValueError("transfer stores 8-bit examples: attack.quantize=false is not supported")
        make_attack(config, m)  # bad settings fail before any work
    return out


def make_attack(config: TransferConfig, member: Any) -> Any:
    """The attack of ``member`` (8-bit output; seeded with ``config.seed`` unless it says otherwise)."""
    from harness.attacks import create_attack

    return create_attack(member.attack, **{"seed": config.seed, **member.options, "quantize": True})


def craft(
    config: TransferConfig,
    prep: Any,
    refs: list[Any],
    source: Model,
    member: Any,
    crop_size: tuple[int, int],
    device: torch.device,
    progress: bool,
    calls: list[int] | None = None,
) -> Crafted:
    """Attack every video of ``refs`` through ``source`` (or find it in the store)."""
    from tqdm import tqdm

    from harness.stream import UnitDataset, loader, plan_units, release_free_memory

    attack = make_attack(config, member)
    resolved = attack.resolved_config()
    key = store_key(source.sha256, source.detector.spec.to_dict(), member.attack, resolved, device.type)
    root = store_root(config)
    out = Crafted(source.name, member, attack, key, {}, spec=source.detector.spec.to_dict())
    surrogate = through_resize(source.detector, crop_size)
    units = plan_units(refs, "frame", config.batch_size)
    dataset = UnitDataset(prep, refs, units, "frame", crop_size)
    pending: dict[int, list[Tensor]] = {}
    linf: list[np.ndarray] = []
    l2: list[np.ndarray] = []
    unperturbed = zero_grad = queries = 0
    seconds = 0.0
    budget = attack.eps if attack.norm == "linf" else None
    label = f"craft {source.name} {member.attack}"
    bar = tqdm(total=len(refs), desc=label, unit="video", disable=not progress)
    for batch in loader(dataset, units, config.workers, torch.device("cpu")):
        unit = units[int(batch["unit"])]
        offset = 0
        for pos, picks in unit.parts:
            pending.setdefault(pos, []).append(batch["x"][offset : offset + len(picks)])
            offset += len(picks)
            ref = refs[pos]
            if sum(len(p) for p in pending[pos]) < len(ref.crops):
                continue  # a long video: its remaining crops come in the next units
            clean = torch.cat(pending.pop(pos))  # uint8 (K,3,S,S)
            hwc = clean.permute(0, 2, 3, 1).numpy()
            digest = crops_sha256(hwc)
            lengths = chunks(len(clean), config.batch_size)
            path = store_path(root, key, video_key(key, digest, ref.label, lengths))
            stored = None if config.fresh else read_example(path)
            if stored is not None and stored[0].shape == hwc.shape:
                meta = stored[1]
                out.reused += 1
            else:
                adv, meta = _attack_video(attack, surrogate, clean, ref, digest, lengths, device, calls)
                if budget is not None:  # the stored bytes are inside the budget of the clean crops
                    diff = np.abs(adv.astype(np.int16) - hwc.astype(np.int16)).max()
                    if diff > math.floor(budget * 255 + 1e-4):
                        raise RuntimeError(
                            f"{ref.video_id}: the stored example breaks the budget ({diff}/255)"
                        )
                meta.update(
                    {
                        "video_id": ref.video_id,
                        "label": ref.label,
                        "frames": list(ref.frames),
                        "crops_sha256": digest,
                        "store_key": key,
                        "source": source.name,
                        "source_checkpoint_sha256": source.sha256,
                        "attack": member.attack,
                        "attack_config": resolved,
                        "chunks": lengths,
                    }
                )
                write_example(path, adv, meta)
                out.crafted += 1
                seconds += float(meta["seconds"])
            out.paths[ref.video_id] = str(path)
            linf.append(np.asarray(meta["linf"], dtype=np.float64))
            l2.append(np.asarray(meta["l2"], dtype=np.float64))
            unperturbed += int(meta["unperturbed"])
            zero_grad += int(meta.get("zero_grad") or 0)
            queries += int(meta["queries"])
            bar.update(1)
        release_free_memory()
    bar.close()
    li, l2a = np.concatenate(linf), np.concatenate(l2)
    n = int(li.size)
    out.stats = {
        "n_samples": n,
        "linf_max": float(li.max()) if n else math.nan,
        "linf_mean": float(li.mean()) if n else math.nan,
        "l2_mean": float(l2a.mean()) if n else math.nan,
        "unperturbed_fraction": unperturbed / n if n else None,
        "zero_grad_fraction": zero_grad / n if n and attack.uses_gradients else None,
        "queries": queries,
        "queries_per_sample": queries / n if n else None,
        "attack_seconds_this_run": seconds,
    }
    return out


def _attack_video(
    attack: Any,
    surrogate: Any,
    clean: Tensor,
    ref: Any,
    digest: str,
    lengths: Sequence[int],
    device: torch.device,
    calls: list[int] | None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """One video's adversarial crops (uint8 ``(K,S,S,3)``) and per-sample statistics."""
    t0 = time.perf_counter()
    x = clean.to(device).float().div_(255.0)
    y = torch.full((len(x),), int(ref.label), dtype=torch.long, device=device)
    seed = video_seed(attack.config.seed, digest, ref.label)
    parts = []
    start = 0
    for i, n in enumerate(lengths):
        if calls is not None:
            calls.append(n)
        parts.append(attack(surrogate, x[start : start + n], y[start : start + n], seed=seed + i))
        start += n
    x_adv = torch.cat([p.x_adv for p in parts])
    adv = (x_adv.detach().float().cpu() * 255.0).round().clamp(0, 255).to(torch.uint8)
    zero = [p.zero_grad for p in parts]
    meta = {
        "linf": torch.cat([p.linf for p in parts]).tolist(),
        "l2": torch.cat([p.l2 for p in parts]).tolist(),
        "unperturbed": int(sum(int(p.unperturbed.sum()) for p in parts)),
        "zero_grad": None if any(z is None for z in zero) else int(sum(int(z.sum()) for z in zero)),
        "queries": int(sum(p.queries for p in parts)),
        "seconds": time.perf_counter() - t0,
        "seed": seed,
    }
    return adv.permute(0, 2, 3, 1).numpy(), meta


__all__ = ["Crafted", "craft", "make_attack", "members"]
