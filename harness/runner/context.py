"""The shared state of a run and its resumable, sharded stages.

:func:`prepare` loads the data and the detector's work plan once per run; :func:`run_stage`
computes one stage (clean scoring, one member's attack) batch by batch, appending each finished
batch to a resume log and sharing batches among torchrun processes.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from harness.data import PreparedData, prepare_dataset
from harness.fileio import jsonable
from harness.runner.config import RunConfig, RunResult


@dataclass
class RunContext:
    """What every member of a run shares: data, detector, the work plan, clean scores, thresholds."""

    config: RunConfig
    prep: PreparedData
    detector: Any
    device: torch.device
    world: Any  # harness.distributed.World
    checkpoint: str
    checkpoint_sha256: str
    split: str
    threshold_source: str
    refs: list[Any]  # VideoRefs: the evaluated videos, then validation-only ones
    n_eval: int  # how many of ``refs`` are evaluated
    units: list[Any]  # the evaluated videos' work plan (harness.stream.Unit)
    meta: Any  # per-sample identities of ``units`` (harness.stream.SampleMeta)
    key: dict[str, Any]  # what the clean numbers depend on (the run key, without the member)
    state_dir: Path  # resume logs of this run
    store: Any  # harness.results.ResultStore the results are saved to (None: returned only)
    skipped: list[Any]
    start: float
    provenance: dict[str, Any]  # code version, library versions, device: looked up once per run
    clean_probs: np.ndarray | None = None
    video_ids: list[str] = field(default_factory=list)
    labels: np.ndarray | None = None
    clean_scores: np.ndarray | None = None
    threshold: float = 0.5
    threshold_val_fpr: float | None = None
    thresholds: dict[str, Any] = field(default_factory=dict)  # the rule and validation counts
    batches: dict[str, int] = field(default_factory=dict)  # computed / resumed, this process
    zero_grad: dict[int, Any] = field(default_factory=dict)  # per unit, from the clean pass (or None)
    # stages begun and not finished (a finished member's records make way for its result):
    # resume-log folder name -> (label, unit indices); what an interrupted run reports as kept
    stages: dict[str, tuple[str, list[int]]] = field(default_factory=dict)
    # pipeline threat model: the defender's view of each unattacked video per codec, shared by the
    # run's members with the same codec (harness.pipeline)
    codec_only: dict[Any, Any] = field(default_factory=dict)


def prepare(config: RunConfig, detector: Any, store: Any, progress: bool) -> RunContext:
    """Data, detector and work plan: everything before the first forward pass.

    ``detector``: ready, with its weights loaded from ``config.checkpoint``. ``store``: the
    :class:`~harness.results.ResultStore` that keeps the resume logs (``None``: a temporary folder,
    so a killed run starts over).
    """
    import tempfile

    from harness import distributed
    from harness.checkpoint import sha256_file
    from harness.detectors import resolve_checkpoint
    from harness.provenance import device_name, library_versions
    from harness.scoring import resolve_device
    from harness.stream import plan_meta, plan_units, video_refs

    start = time.perf_counter()
    torch.manual_seed(config.seed)
    w = distributed.world()
    device = resolve_device(distributed.local_device(config.device))
    prep = prepare_dataset(config.data, progress=progress)
    if not config.checkpoint:
        raise ValueError("a ready detector needs config.checkpoint: the weights file it was loaded from")
    ckpt = config.checkpoint
    detector = detector.to(device).eval()
    detector.accelerate(config.precision, config.channels_last, config.compile)
    spec = detector.spec
    trained_here = detector.checkpoint_meta.get("dataset") == prep.manifest.dataset
    if trained_here and detector.checkpoint_meta.get("split_manifest_hash") not in (None, prep.manifest.hash):
        raise ValueError(
            f"checkpoint {ckpt} was trained on another split of {prep.manifest.dataset} (manifest "
            f"{detector.checkpoint_meta['split_manifest_hash'][:12]} vs {prep.manifest.short_hash}): its "
            "test videos may overlap this training data; use the same --set data.seed/protocol"
        )
    split = config.split if config.split != "auto" else ("test" if trained_here else "all")
    fpv = config.frames_per_video if spec.kind == "frame" else None
    if split == "all":
        refs = [r for s in ("train", "val", "test") for r in video_refs(prep, s, fpv)]
        val_refs: list[Any] = []  # an unseen dataset: the threshold is fixed on its clean scores
        threshold_source = "clean scores of the evaluated videos (no held-out split)"
    else:
        refs = video_refs(prep, split, fpv)
        val_refs = video_refs(prep, "val", fpv) if split != "val" else []
        threshold_source = "clean validation scores"
    if not refs:
        raise ValueError(f"no usable videos in split {split!r} (see `harness data prepare`)")
    units = plan_units(refs, spec.kind, config.batch_size, spec.frames_per_clip)
    ckpt_sha = sha256_file(resolve_checkpoint(ckpt))
    from harness.version import code_version, module_files_fingerprint, source_fingerprint

    key = {
        "code_version": code_version(),
        "source": source_fingerprint(),
        "model_source": module_files_fingerprint(detector),
        "checkpoint_sha256": ckpt_sha,
        "split_manifest_hash": prep.manifest.hash,
        "detector": config.detector,
        "detector_options": config.detector_options,
        "faces": dataclasses.asdict(config.data.faces),
        "split": split,
        "frames_per_video": fpv,
        "batch_size": config.batch_size,
        "precision": config.precision,
        "channels_last": config.channels_last,
        "compile": config.compile,
        "device_type": device.type,
    }
    if store is not None:
        state_dir = store.state_dir(prep.manifest.dataset, config.detector, digest(key))
    else:
        state_dir = Path(tempfile.mkdtemp(prefix="harness-run-"))
    return RunContext(
        config=config,
        prep=prep,
        detector=detector,
        device=device,
        world=w,
        checkpoint=ckpt,
        checkpoint_sha256=ckpt_sha,
        split=split,
        threshold_source=threshold_source,
        refs=refs + val_refs,
        n_eval=len(refs),
        units=units,
        meta=plan_meta(units, refs + val_refs, spec.kind),
        key=key,
        state_dir=state_dir,
        store=store,
        skipped=list(prep.manifest.skipped) + list(prep.report.skipped),
        start=start,
        provenance={
            "code_version": key["code_version"],
            "libraries": library_versions(),
            "device": device_name(device),
            "world_size": w.world_size,
            "precision": config.precision,
            "channels_last": config.channels_last,
            "compile": config.compile,
        },
    )


def digest(payload: Any) -> str:
    """A short, stable hash of a JSON-able payload (run keys, resume-log folders)."""
    import hashlib
    import json

    return hashlib.sha256(json.dumps(jsonable(payload), sort_keys=True, default=str).encode()).hexdigest()[
        :16
    ]


def member_run_key(ctx: RunContext, member: Any) -> str:
    """Everything one member's numbers depend on, hashed: equal keys mean an equal result."""
    from harness.runner.convergence import run_key_part

    config = ctx.config
    payload = {
        **ctx.key,
        "attack": member.attack,
        "options": member.options,
        "seed": config.seed,
        "quantize": config.quantize,
        "aggregate": config.aggregate,
        "n_boot": config.n_boot,
    }
    convergence = run_key_part(config, member, ctx.detector.checkpoint_meta)
    if convergence is not None:  # a member without a convergence check keeps its key
        payload["convergence"] = convergence
    return digest(payload)


def unit_seed(seed: int, unit: int) -> int:
    """The attack seed of one batch: fixed by the run's seed and the batch's place in the plan."""
    return (int(seed) * 1_000_003 + 7919 * (int(unit) + 1)) % (2**31 - 1)


def fault_point() -> None:
    """Test hook: ``HARNESS_KILL_AFTER_BATCHES=N`` SIGKILLs this process when it has computed
    batch N+1 but not yet recorded it (the worst moment: that batch's work is lost)."""
    import os
    import signal

    limit = os.environ.get("HARNESS_KILL_AFTER_BATCHES")
    if limit is None:
        return
    fault_point.count = getattr(fault_point, "count", 0) + 1  # type: ignore[attr-defined]
    if fault_point.count > int(limit):  # type: ignore[attr-defined]
        os.kill(os.getpid(), signal.SIGKILL)


def run_stage(
    ctx: RunContext,
    name: str,
    units: list[Any],
    compute: Any,
    label: str,
    progress: bool,
    make_dataset: Any = None,
) -> dict[int, Any]:
    """Compute ``compute(unit, batch) -> record`` for this process's share of ``units``.

    Records are appended to the stage's resume log as each batch finishes; batches already in
    the log (from an interrupted attempt, any number of processes) are not recomputed. Returns
    the records of *all* processes by unit index (gathered), on every process.
    ``make_dataset(units)``: the dataset the batches come from (default: the units' cached crops).
    """
    from tqdm import tqdm

    from harness import distributed
    from harness.records import RecordLog
    from harness.stream import UnitDataset, loader, release_free_memory, shard

    w = ctx.world
    log = RecordLog(ctx.state_dir / name, w.rank)
    done = log.done()
    ctx.stages[name] = (label, [u.index for u in units])
    reused = sum(u.index in done for u in units)  # by every process of the earlier attempts
    if reused and w.main:
        print(
            f"harness: resumed: {label}: {reused} of {len(units)} batches reused from {shown(log.dir)}",
            file=sys.stderr,
            flush=True,
        )
    mine = shard(units, w.rank, w.world_size)
    todo = [u for u in mine if u.index not in done]
    by_index = {u.index: u for u in todo}
    spec = ctx.detector.spec
    records = {u.index: done[u.index] for u in mine if u.index in done}
    error = None
    try:
        if make_dataset is not None:
            dataset = make_dataset(todo)
        else:
            dataset = UnitDataset(ctx.prep, ctx.refs, todo, spec.kind, spec.input_size)
        bar = tqdm(total=len(todo), desc=label, unit="batch", disable=not (progress and w.main))
        # An interrupt (KeyboardInterrupt, also SIGTERM under the CLI) is not caught here: it
        # leaves through these ``with`` blocks, which close the bar and the log, and the loader
        # is dropped with the frame, which stops its workers.
        with bar, log:
            for batch in loader(dataset, todo, ctx.config.workers, ctx.device):
                unit = by_index[int(batch["unit"])]
                record = {"unit": unit.index, **compute(unit, batch)}
                fault_point()
                log.append(record)
                records[unit.index] = record
                bar.update(1)
                release_free_memory()
    except Exception as exc:  # noqa: BLE001 - re-raised on every process below
        error = exc
    ctx.batches["computed"] = ctx.batches.get("computed", 0) + len(records) - (len(mine) - len(todo))
    ctx.batches["resumed"] = ctx.batches.get("resumed", 0) + len(mine) - len(todo)
    gathered = distributed.all_gather((records, None if error is None else f"rank {w.rank}: {error}"))
    if error is not None:
        raise error
    errors = [e for _, e in gathered if e]
    if errors:
        raise RuntimeError("; ".join(errors))
    merged: dict[int, Any] = {}
    for part, _ in gathered:
        merged.update(part)
    missing = [u.index for u in units if u.index not in merged]
    if missing:  # pragma: no cover - a bug, never a user error
        raise RuntimeError(f"{name}: batches {missing[:5]} were computed by no process")
    return merged


def finish_member(
    ctx: RunContext, result: dict[str, Any], videos: dict[str, list[Any]], member_key: str
) -> RunResult:
    """A finished member as data; saved to the run's store (rank 0) before any process drops the
    member's resume records, so a kill at any moment loses at most the batches in flight."""
    from harness import distributed
    from harness.records import remove

    path = None
    if ctx.store is not None:
        path = ctx.store.path(result)
        if ctx.world.main:
            ctx.store.save(result, videos)
    distributed.barrier()
    remove(ctx.state_dir / member_key)
    ctx.stages.pop(member_key, None)
    return RunResult(result, videos, path)


def kept(ctx: RunContext) -> list[tuple[str, int, int]]:
    """``(label, batches in the resume logs, batches)`` of every stage begun and not finished,
    read from the logs (every process's): what a re-run of the same command reuses."""
    from harness.records import RecordLog

    out = []
    for name, (label, indices) in ctx.stages.items():
        done = RecordLog(ctx.state_dir / name).done()
        out.append((label, sum(i in done for i in indices), len(indices)))
    return out


def shown(path: Path) -> str:
    """A path as a message shows it: relative under the working folder, else as it is."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
