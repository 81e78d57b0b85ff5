"""``transfer``: the library function behind ``harness transfer``, its steps in one direction.

1. the data and the evaluated videos; the weights of every detector
   (:func:`~harness.transfer.models.ensure_checkpoints`: given, or the demo model trained once);
2. crafting on every source (:mod:`~harness.transfer.craft`), or finding the examples in the store;
3. scoring on every target (:mod:`~harness.transfer.score`), clean and attacked;
4. one result per (source, budget), saved (:mod:`~harness.transfer.document`) and returned.

Regenerating the leaderboard of ``results_dir`` is the caller's step (``harness transfer`` does it).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import numpy as np
import torch

from harness.transfer.config import TransferConfig, TransferResult
from harness.transfer.craft import Crafted, craft, members
from harness.transfer.document import document, save_result
from harness.transfer.models import Model, ensure_checkpoints, load_model
from harness.transfer.score import Clean, clean_scores, video_scores
from harness.transfer.store import StoreReader


def transfer(config: TransferConfig, progress: bool = True, calls: list[int] | None = None) -> TransferResult:
    """Craft on every source (or reuse the store), score on every target, save one result per
    (source, budget) under ``results_dir`` and return them all.

    ``calls``: when given, the sample count of every attack call is appended (tests count attack
    work with it). Runs in one process (no torchrun); memory holds one batch (and one long video)
    of pixels at a time, and per-video scores; one detector is loaded at a time.
    """
    from harness import metrics
    from harness.data import prepare_dataset
    from harness.provenance import code_version, device_name, library_versions
    from harness.scoring import resolve_device

    if config.aggregate not in metrics.AGGREGATIONS:
        raise ValueError(f"aggregate must be one of {metrics.AGGREGATIONS}, got {config.aggregate!r}")
    start = time.perf_counter()
    plan = members(config)
    device = resolve_device(config.device)
    torch.manual_seed(config.seed)
    prep = prepare_dataset(config.data, progress=progress)
    refs, val_refs = _videos(config, prep)
    crop_size = (int(prep.config.faces.crop_size),) * 2
    checkpoints = ensure_checkpoints(config, prep, progress)
    facts: dict[str, Model] = {}  # checkpoint facts of every model, kept after it is freed

    def load(name: str) -> Model:
        model = load_model(name, checkpoints[name], prep, device)
        facts[name] = dataclasses.replace(model, detector=None)
        return model

    crafted: list[Crafted] = []
    for src in config.sources:  # one model in memory at a time (a target is loaded again to score)
        source = load(src)
        crafted += [craft(config, prep, refs, source, m, crop_size, device, progress, calls) for m in plan]
        del source

    adv: dict[tuple[int, str], np.ndarray] = {}
    cleans: dict[str, Clean] = {}
    for name in config.columns:
        target = load(name)
        cleans[name] = clean_scores(config, prep, refs, val_refs, target, device)
        for i, c in enumerate(crafted):
            reader = StoreReader(c.paths)
            ids, _, adv[(i, name)] = video_scores(
                config, prep, refs, target, device, reader, f"{c.source} -> {name}", progress
            )
            if ids != cleans[name].ids:  # pragma: no cover - same refs, same plan
                raise RuntimeError("attacked and clean videos do not line up")
        del target

    provenance = {
        "code_version": code_version(),
        "libraries": library_versions(),
        "device": device_name(device),
        "world_size": 1,
    }
    paths, results = [], []
    for i, c in enumerate(crafted):
        targets = {
            name: _target(config, c, name, cleans[name], adv[(i, name)], facts[name])
            for name in config.columns
        }
        result = document(config, prep, c, facts[c.source], targets, len(refs), crop_size, provenance, start)
        scores = {name: (cleans[name].scores, adv[(i, name)]) for name in config.columns}
        path, saved = save_result(config, result, cleans[config.columns[0]], scores)
        paths.append(path)
        results.append(saved)
    return TransferResult(paths, results)


def _videos(config: TransferConfig, prep: Any) -> tuple[list[Any], list[Any]]:
    """The evaluated videos of ``config.split`` and the validation videos that fix thresholds."""
    from harness.stream import video_refs

    if config.split == "all":
        refs = [r for s in ("train", "val", "test") for r in video_refs(prep, s, config.frames_per_video)]
    else:
        refs = video_refs(prep, config.split, config.frames_per_video)
    if not refs:
        raise ValueError(f"no usable videos in split {config.split!r} (see `harness data prepare`)")
    val_refs = video_refs(prep, "val", config.frames_per_video) if config.split in ("test", "train") else []
    return refs, val_refs


def _target(
    config: TransferConfig, c: Crafted, name: str, clean: Clean, adv: np.ndarray, model: Model
) -> dict[str, Any]:
    """Target ``name``'s entry in the result of ``c``: clean and attacked metrics, its weights."""
    from harness import metrics
    from harness.provenance import portable

    summary = metrics.summarize(
        clean.labels,
        clean.scores,
        adv,
        threshold=clean.threshold,
        threshold_val_fpr=clean.threshold_val_fpr,
        n_boot=config.n_boot,
        seed=config.seed,
    )
    return {
        "white_box": name == c.source,
        "checkpoint": portable(model.checkpoint, config.data.cache_dir),
        "checkpoint_sha256": model.sha256,
        "thresholds": clean.thresholds,
        **summary,
    }


__all__ = ["transfer"]
