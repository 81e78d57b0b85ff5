"""``harness run``: score a detector clean and under attack, write results, regenerate leaderboards.

``evaluate(RunConfig(...))`` is the library function behind the CLI (a notebook or CI script can
call it too). One JSON result per (detector, dataset, attack, budget), with the per-video records
beside it; leaderboards are regenerated from all results in ``results_dir``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import platform
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from harness.data import DataConfig, PreparedData, prepare_dataset
from harness.datasets._splits import write_json_atomic
from harness.threat import ThreatConfig

RESULT_SCHEMA = 2
VAL_FPR = 0.01  # the false-positive rate the *_at_val_fpr threshold allows on validation reals


def threshold_provenance(n_val_real: int, n_val_fake: int, both: bool, source: str) -> dict[str, Any]:
    """What the two thresholds of a result rest on, in words and counts (written into every result).

    ``threshold``: Youden's J (balanced accuracy) maximized on the clean validation video
    scores, placed midway between the best cut's score and the next lower one (0.5 when the
    validation scores lack a class). ``threshold_val_fpr``: the lowest observed validation score
    with at most ``VAL_FPR`` of the validation reals at or above it. With fewer than
    ``1 / VAL_FPR`` validation reals that means *no* validation real above it: the rates
    ``*_at_val_fpr`` are then "at zero validation false positives", not at 1% FPR, and say so.
    """
    allowed = int(VAL_FPR * n_val_real + 1e-9)
    if n_val_real == 0:
        fpr_rule = "undefined: no validation reals"
    elif allowed == 0:
        fpr_rule = (
            f"zero false positives among the {n_val_real} validation reals (a {VAL_FPR:.0%} FPR "
            f"needs >= {round(1 / VAL_FPR)} reals to mean more than that)"
        )
    else:
        fpr_rule = (
            f"at most {allowed} of the {n_val_real} validation reals at or above it ({VAL_FPR:.0%} FPR)"
        )
    return {
        "source": source,
        "n_val_real": n_val_real,
        "n_val_fake": n_val_fake,
        "threshold_rule": (
            "max Youden J on clean validation video scores, midway to the next lower score"
            if both
            else "0.5 (validation scores lack a class)"
        ),
        "val_fpr_target": VAL_FPR,
        "val_fpr_allowed_reals": allowed,
        "threshold_val_fpr_rule": fpr_rule,
    }


@dataclass(frozen=True)
class RunConfig:
    """One evaluation; precedence CLI > YAML (``--config``) > these defaults.

    The attack's strength setting in ``attack_options`` (``eps``, ``quality``, ``crf``, ...) may
    be a list: one result per value (a robustness curve). ``suite`` runs a suite's members instead.
    ``split``: ``"auto"`` evaluates the test split, except for a checkpoint that was not trained
    on this dataset (e.g. the published MesoNet weights on a folder of faces): then every video
    is unseen and all of them are evaluated. ``quantize`` (default on) rounds every attacked
    frame to the 8-bit grid inside its budget before scoring, as an attacker must deliver images
    or video; off only to study float perturbations (each result records which).
    ``workers``, ``precision``, ``channels_last``, ``compile``: how fast (see
    :meth:`~harness.detectors.Detector.accelerate`; the last three are recorded in every result
    and are part of its run key, as low precision can move numbers). ``fresh``: recompute even
    if this exact run finished before or left resume records.
    ``save_adversarial``: a folder that receives the attacked crops exactly as scored, as 8-bit
    PNGs in ``real/<video_id>/`` and ``fake/<video_id>/`` (one sub-folder per member,
    ``<attack>-<strength>/``, when the run has several), readable by the ``folder`` dataset;
    under the pipeline threat model, the delivered videos (``real/<video_id>.mp4`` ...).
    ``name``: file the results of ``detector`` with ``checkpoint`` under another row name (the
    published MesoNet weights beside the demo model of the same architecture, ``meso4-Meso4_DF``).
    ``threat``: where the attack acts (:mod:`harness.threat`): on the face crops (default) or on
    the full frames of a video that is then re-encoded and re-detected (:mod:`harness.pipeline`).
    """

    detector: str = "xception"
    attack: str = "pgd"
    checkpoint: str | None = None
    detector_options: dict[str, Any] = field(default_factory=dict)
    attack_options: dict[str, Any] = field(default_factory=dict)
    data: DataConfig = field(default_factory=DataConfig)
    suite: str | None = None  # a suite name (configs/suites/) or YAML path: run all its members
    split: str = "auto"  # auto | test | val | train | all
    aggregate: str = "mean"  # video score from frame scores: mean | median | max | mean_logit
    frames_per_video: int | None = (
        None  # frame detectors: score this many crops per video, evenly spaced (None: all)
    )
    batch_size: int = 16
    device: str = "auto"
    seed: int = 0
    n_boot: int = 1000
    quantize: bool = True  # attacked frames rounded to 8 bits inside the budget (what is deliverable)
    save_adversarial: str | None = None  # write the attacked crops as scored (PNG) under this folder
    workers: int = 2  # processes reading cached crops (0: read in the main process)
    precision: str = "fp32"  # fp32 | bf16 | fp16: autocast of the detector's forward/backward
    channels_last: bool = False  # NHWC detector and input (faster convolutions on GPUs, oneDNN)
    compile: bool = False  # torch.compile the detector (the first batch compiles)
    fresh: bool = False  # recompute: ignore finished results and resume logs of this run
    threat: ThreatConfig = field(default_factory=ThreatConfig)  # crops | pipeline (+ its codec)
    name: str | None = None  # the leaderboard row (results folder) of a zoo detector with given weights
    results_dir: str = "results"
    leaderboard_dir: str = "leaderboards"


@dataclass
class RunResult:
    path: Path
    result: dict[str, Any]


def _library_versions() -> dict[str, str]:
    from importlib import metadata

    out = {"python": platform.python_version()}
    for dist in (
        "torch",
        "torchvision",
        "timm",
        "torchattacks",
        "adversarial-robustness-toolbox",
        "facenet-pytorch",
        "av",
        "opencv-python-headless",
        "numpy",
        "scikit-learn",
    ):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return out


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda:{torch.cuda.get_device_name(device)}"
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def budget_tag(eps: float | None) -> str:
    """A file-name-safe budget: ``4/255`` -> ``eps4of255`` when it is a multiple of 1/255."""
    from harness.suites import strength_tag

    return strength_tag("eps" if eps is not None else None, eps)


def _resolve_checkpoint(config: RunConfig, prep: PreparedData, progress: bool) -> str:
    if config.checkpoint:
        return config.checkpoint
    if config.data.dataset != "synthetic":
        raise ValueError(
            f"dataset {config.data.dataset!r} needs --checkpoint PATH (demo models exist only for the "
            "embedded benchmark; train one with `harness train` or use mesonet:Meso4_DF-style weights)"
        )
    from harness.train import ensure_demo_model

    return str(ensure_demo_model(config.detector, config.data, config.device, progress, prepared=prep))


def attack_plan(config: RunConfig) -> tuple[list[Any], str | None]:
    """The (attack, settings) members this run evaluates, and the suite name (if any).

    With ``suite``: its members. Otherwise ``attack`` with ``attack_options``, one member per
    value when its strength setting (``eps``, ``quality``, ...) is a list. Validated up front.
    """
    from harness.attacks import create_attack
    from harness.suites import expand_member, load_suite, split_ordering

    if config.suite:
        if config.attack_options:
            raise ValueError(
                "attack settings (--set attack.*) do not combine with --suite: a suite fixes its "
                "members' settings; copy the suite YAML and edit it instead"
            )
        suite = load_suite(config.suite)
        return [_with_threat(m, config.threat) for m in suite.members], suite.name
    members = [
        _with_threat(m, config.threat) for m in expand_member(config.attack, dict(config.attack_options))
    ]
    for m in members:
        rest, _, _ = split_ordering(m.options)
        create_attack(m.attack, **rest)  # bad settings fail before any work
    return members, None


def _with_threat(member: Any, threat: ThreatConfig) -> Any:
    """``member`` under the run's threat model, unless it names its own (a suite member may)."""
    from harness.suites import SuiteMember

    if not threat.pipeline or "threat" in member.options:
        return member
    return SuiteMember(member.attack, {**member.options, "threat": dataclasses.asdict(threat)})


@dataclass
class _Context:
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
    # pipeline threat model: the defender's view of each unattacked video per codec, shared by the
    # run's members with the same codec (harness.pipeline)
    codec_only: dict[Any, Any] = field(default_factory=dict)


def _prepare(config: RunConfig, progress: bool, detector: Any = None) -> _Context:
    """Data, detector and work plan: everything before the first forward pass."""
    from harness import distributed
    from harness.checkpoint import sha256_file
    from harness.detectors import create_detector, resolve_checkpoint
    from harness.scoring import resolve_device
    from harness.stream import plan_meta, plan_units, video_refs

    start = time.perf_counter()
    torch.manual_seed(config.seed)
    w = distributed.world()
    device = resolve_device(distributed.local_device(config.device))
    prep = prepare_dataset(config.data, progress=progress)
    if detector is None:
        with distributed.main_first():
            ckpt = _resolve_checkpoint(config, prep, progress)
        detector = create_detector(config.detector, checkpoint=ckpt, **config.detector_options)
    elif not config.checkpoint:
        raise ValueError("a ready detector needs config.checkpoint: the weights file it was loaded from")
    else:
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
    from harness.version import module_files_fingerprint, source_fingerprint

    key = {
        "code_version": _code_version(),
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
    state_dir = Path(config.results_dir) / ".partial" / prep.manifest.dataset / config.detector / _hash(key)
    return _Context(
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
        skipped=list(prep.manifest.skipped) + list(prep.report.skipped),
        start=start,
        provenance={
            "code_version": key["code_version"],
            "libraries": _library_versions(),
            "device": _device_name(device),
            "world_size": w.world_size,
            "precision": config.precision,
            "channels_last": config.channels_last,
            "compile": config.compile,
        },
    )


def _hash(payload: Any) -> str:
    import hashlib
    import json

    return hashlib.sha256(json.dumps(_jsonable(payload), sort_keys=True, default=str).encode()).hexdigest()[
        :16
    ]


def unit_seed(seed: int, unit: int) -> int:
    """The attack seed of one batch: fixed by the run's seed and the batch's place in the plan."""
    return (int(seed) * 1_000_003 + 7919 * (int(unit) + 1)) % (2**31 - 1)


def _fault_point() -> None:
    """Test hook: ``HARNESS_KILL_AFTER_BATCHES=N`` SIGKILLs this process when it has computed
    batch N+1 but not yet recorded it (the worst moment: that batch's work is lost)."""
    import os
    import signal

    limit = os.environ.get("HARNESS_KILL_AFTER_BATCHES")
    if limit is None:
        return
    _fault_point.count = getattr(_fault_point, "count", 0) + 1  # type: ignore[attr-defined]
    if _fault_point.count > int(limit):  # type: ignore[attr-defined]
        os.kill(os.getpid(), signal.SIGKILL)


def _run_stage(
    ctx: _Context,
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
        with log:
            for batch in loader(dataset, todo, ctx.config.workers, ctx.device):
                unit = by_index[int(batch["unit"])]
                record = {"unit": unit.index, **compute(unit, batch)}
                _fault_point()
                log.append(record)
                records[unit.index] = record
                bar.update(1)
                release_free_memory()
        bar.close()
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


def _forward(ctx: _Context, x: torch.Tensor, oom: dict[str, int]) -> np.ndarray:
    """Fake probabilities of a batch; CUDA out-of-memory halves the sub-batch and retries."""
    out = []
    for part in _halving(x, oom):
        with torch.no_grad():
            out.append(torch.softmax(ctx.detector(part).float(), 1)[:, 1].cpu())
    return torch.cat(out).numpy()


def _zero_grads(ctx: _Context, x: torch.Tensor, y: torch.Tensor, oom: dict[str, int]) -> torch.Tensor:
    """The ``zero_grad`` self-check of a batch, in sub-batches of ``oom['batch']``."""
    from harness.attacks import zero_gradient_mask

    size = oom.setdefault("batch", len(x))
    parts = [
        zero_gradient_mask(ctx.detector, x[i : i + size], y[i : i + size]) for i in range(0, len(x), size)
    ]
    return torch.cat(parts)


def _halving(x: torch.Tensor, oom: dict[str, int]) -> Iterator[torch.Tensor]:
    """Sub-batches of ``x`` of at most ``oom['batch']`` samples (the caller retries on OOM)."""
    size = oom.setdefault("batch", len(x))
    for i in range(0, len(x), size):
        yield x[i : i + size]


def _retrying(fn: Any, n: int, oom: dict[str, int], device: torch.device) -> Any:
    """Call ``fn()``; on CUDA out-of-memory halve ``oom['batch']`` (recorded) and call again."""
    oom.setdefault("batch", n)
    while True:
        try:
            return fn()
        except torch.cuda.OutOfMemoryError:
            if oom["batch"] <= 1:
                raise
            oom["batch"] = max(1, oom["batch"] // 2)
            oom["halvings"] = oom.get("halvings", 0) + 1
            print(
                f"harness: CUDA out of memory: continuing with batches of {oom['batch']}",
                file=sys.stderr,
                flush=True,
            )
            if device.type == "cuda":
                torch.cuda.empty_cache()


def _clean_stage(ctx: _Context, progress: bool, gradients: bool = False) -> None:
    """Clean scores of the evaluated and validation videos; fixes the thresholds.

    ``gradients``: also record, per evaluated sample, whether the loss gradient at the clean
    input is exactly zero (the ``zero_grad`` self-check), once for every gradient attack of the
    run instead of one more forward and backward pass per attack and batch.
    """
    from harness import metrics
    from harness.stream import plan_meta, plan_units

    config, spec = ctx.config, ctx.detector.spec
    n_eval = ctx.n_eval
    val_refs = ctx.refs[n_eval:]
    val_units = plan_units(
        val_refs, spec.kind, config.batch_size, spec.frames_per_clip, start=len(ctx.units), offset=n_eval
    )
    oom: dict[str, int] = {}

    evaluated = {u.index for u in ctx.units}

    def compute(unit: Any, batch: dict[str, Any]) -> dict[str, Any]:
        x = _to_device(batch["x"], ctx)
        probs = _retrying(lambda: _forward(ctx, x, oom), len(x), oom, ctx.device)
        record: dict[str, Any] = {"p": probs.tolist()}
        if gradients and unit.index in evaluated:
            y = batch["y"].to(ctx.device)
            zero = _retrying(lambda: _zero_grads(ctx, x, y, oom), len(x), oom, ctx.device)
            record["zg"] = zero.int().tolist()
        return record

    records = _run_stage(ctx, "clean", ctx.units + val_units, compute, "clean", progress)
    ctx.zero_grad = {u.index: records[u.index].get("zg") for u in ctx.units}
    probs = np.concatenate([np.asarray(records[u.index]["p"], dtype=np.float64) for u in ctx.units])
    _check_finite(probs, config.detector, "clean")
    ctx.clean_probs = probs
    vids, ctx.clean_scores = metrics.aggregate_by_video(ctx.meta.video_ids, probs, config.aggregate)
    _, ctx.labels = metrics.video_labels(ctx.meta.video_ids, np.asarray(ctx.meta.labels))
    ctx.video_ids = list(vids)
    if val_units:
        val_meta = plan_meta(val_units, ctx.refs, spec.kind)
        val_probs = np.concatenate([np.asarray(records[u.index]["p"], dtype=np.float64) for u in val_units])
        _check_finite(val_probs, config.detector, "clean validation")
        _, val_scores = metrics.aggregate_by_video(val_meta.video_ids, val_probs, config.aggregate)
        _, val_labels = metrics.video_labels(val_meta.video_ids, np.asarray(val_meta.labels))
    else:  # validating on the evaluated videos themselves (split val, or an unseen dataset)
        val_scores, val_labels = ctx.clean_scores, ctx.labels
    both = len(set(val_labels.tolist())) == 2
    ctx.threshold = metrics.threshold_balanced(val_labels, val_scores) if both else 0.5
    n_val_real, n_val_fake = int((val_labels == 0).sum()), int((val_labels == 1).sum())
    ctx.threshold_val_fpr = metrics.threshold_at_fpr(val_labels, val_scores, VAL_FPR) if n_val_real else None
    ctx.thresholds = threshold_provenance(n_val_real, n_val_fake, both, ctx.threshold_source)


def _check_finite(probs: np.ndarray, detector: str, what: str) -> None:
    if not np.isfinite(probs).all():
        bad = int((~np.isfinite(probs)).sum())
        raise FloatingPointError(
            f"{detector}: {bad} non-finite scores ({what}): the checkpoint is likely corrupt or was "
            "trained with diverging loss; re-train or check the weights (result not written)"
        )


def _to_device(x: torch.Tensor, ctx: _Context) -> torch.Tensor:
    from harness.stream import to_device

    x = to_device(x, ctx.device)
    if ctx.config.channels_last and x.ndim == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    return x


def _member_key(ctx: _Context, member: Any) -> str:
    config = ctx.config
    return _hash(
        {
            **ctx.key,
            "attack": member.attack,
            "options": member.options,
            "seed": config.seed,
            "quantize": config.quantize,
            "aggregate": config.aggregate,
            "n_boot": config.n_boot,
        }
    )


def _finished(ctx: _Context, member: Any, suite: str | None) -> RunResult | None:
    """The result of ``member`` if this exact run (same run key) already wrote it."""
    import json

    if ctx.config.fresh:
        return None
    attack = _create(ctx.config, member)
    path = _member_path(ctx, member, attack)
    try:
        result = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if result.get("run_key") != _member_key(ctx, member) or result.get("suite") != _portable(
        suite, ctx.config.data.cache_dir
    ):
        return None
    return RunResult(path, result)


def _create(config: RunConfig, member: Any) -> Any:
    from harness.attacks import create_attack
    from harness.suites import split_ordering

    rest, _, _ = split_ordering(member.options)
    return create_attack(member.attack, **{"seed": config.seed, **rest, "quantize": config.quantize})


def _fit(ctx: _Context, attack: Any, progress: bool) -> None:
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
            yield _to_device(batch["x"], ctx), batch["y"].to(ctx.device)

    if progress:
        print(f"harness: {attack.name}: learning on {len(refs)} train videos ({target})", file=sys.stderr)
    attack.fit(ctx.detector, batches)
    attack.delta = distributed.broadcast(attack.delta.cpu()).to(ctx.device)
    attack.fit_info["train_videos"] = len(refs)


@dataclass(frozen=True)
class _Ordering:
    """A member's codec around its attack: the specs as given and the built codecs."""

    pre_spec: str | None
    post_spec: str | None
    pre: Any  # codec applied before the attack (or None)
    post: Any  # codec applied after it (or None)


def _codecs(config: RunConfig, member: Any) -> _Ordering:
    """Parse and build a member's ``attack.pre`` / ``attack.post`` once."""
    from harness.attacks import create_attack
    from harness.suites import codec_member, split_ordering

    _, pre, post = split_ordering(member.options)

    def build(spec: str | None) -> Any:
        if not spec:
            return None
        codec = codec_member(spec)
        return create_attack(codec.attack, **{**codec.options, "seed": config.seed})

    return _Ordering(pre, post, build(pre), build(post))


def _member_path(ctx: _Context, member: Any, attack: Any) -> Path:
    tag = member.tag
    return result_path(
        ctx.config,
        {
            "attack": member.attack,
            "budget_tag": tag,
            "dataset": ctx.prep.manifest.dataset,
            "detector": ctx.config.detector,
        },
    )


def _run_member(
    ctx: _Context, member: Any, suite: str | None, progress: bool, n_members: int = 1
) -> RunResult:
    """Attack every sample with one member, score, summarize and write its result files."""
    from harness import distributed, metrics
    from harness.records import remove
    from harness.stream import unit_meta

    config, detector = ctx.config, ctx.detector
    attack = _create(config, member)
    if getattr(attack, "needs_fit", False):
        _fit(ctx, attack, progress)
    ordering = _codecs(config, member)
    pre, post = ordering.pre, ordering.post
    tag = member.tag
    member_key = _member_key(ctx, member)
    label = f"{member.attack} {tag if tag != 'default' else ''}".strip()
    save_dir = _save_dir(config, member, tag, n_members)
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
        x = original = _to_device(batch["x"], ctx)
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

        parts = _retrying(attack_all, len(x), oom, ctx.device)
        x_adv = torch.cat([r.x_adv for r in parts])
        if post is not None:  # the platform re-encodes what the attacker delivers
            x_adv = post(detector, x_adv, y).x_adv
        probs = _retrying(lambda: _forward(ctx, x_adv, oom), len(x), oom, ctx.device)
        # PSNR of what the detector sees against the original clean input (codecs included)
        ref, seen = original.flatten(1).float().cpu().numpy(), x_adv.flatten(1).float().cpu().numpy()
        psnr = metrics.psnr(ref, seen)
        if save_dir is not None:
            save_crops(save_dir, x_adv, meta)
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

    records = _run_stage(ctx, member_key, units, compute, f"attack {label}", progress)
    rows = [records[u.index] for u in units]

    def cat(key: str, dtype: Any = np.float64) -> np.ndarray:
        return np.concatenate([np.asarray(r[key], dtype=dtype) for r in rows])

    adv_probs = cat("p")
    _check_finite(adv_probs, config.detector, f"attacked ({label})")
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
    result = _result_document(
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
    path = result_path(config, result)
    if ctx.world.main:
        _write_records(
            path.with_suffix(".videos.csv"), ctx.video_ids, ctx.labels, ctx.clean_scores, adv_scores
        )
        write_json_atomic(path, _jsonable(result))
    distributed.barrier()  # the result is on disk before any process drops its records
    remove(ctx.state_dir / member_key)
    return RunResult(path, result)


def _result_document(
    ctx: _Context,
    member: Any,
    suite: str | None,
    attack: Any,
    tag: str,
    metrics: dict[str, Any],
    rows: list[dict[str, Any]],
    member_key: str,
) -> dict[str, Any]:
    """The JSON result of one member: its numbers (``metrics``) with everything they rest on."""
    from harness.threat import member_threat

    config, ordering = ctx.config, _codecs(ctx.config, member)
    pre, post = ordering.pre_spec, ordering.post_spec
    return {
        "schema_version": RESULT_SCHEMA,
        "detector": config.detector,
        "dataset": ctx.prep.manifest.dataset,
        "attack": member.attack,
        "suite": _portable(suite, config.data.cache_dir),
        "budget": attack.eps,
        "strength_param": attack.strength_param(),
        "strength": attack.strength_value,
        "budget_tag": tag,
        "norm": attack.norm,
        "uses_gradients": attack.uses_gradients,
        "black_box": attack.black_box,
        "attack_config": attack.resolved_config(),
        "target": attack.config.target,
        "quantized": bool(attack.config.quantize),
        "attack_fit": getattr(attack, "fit_info", None) or None,
        "ordering": "compress-then-attack" if pre else ("attack-then-compress" if post else "attack"),
        "pre": pre,
        "post": post,
        "threat": member_threat(member.options).model,
        "scope": attack.config.scope,
        "split": ctx.split,
        "threshold_source": ctx.threshold_source,
        "thresholds": ctx.thresholds,
        "aggregate": config.aggregate,
        "metrics": metrics,
        "skipped": [dataclasses.asdict(s) for s in ctx.skipped],
        "detector_spec": ctx.detector.spec.to_dict(),
        "checkpoint": _portable(ctx.checkpoint, config.data.cache_dir),
        "checkpoint_sha256": ctx.checkpoint_sha256,
        "checkpoint_meta": ctx.detector.checkpoint_meta,
        "split_manifest_hash": ctx.prep.manifest.hash,
        "seed": config.seed,
        "config": _portable_config(config),
        **ctx.provenance,
        "run_key": member_key,
        "execution": {
            "batch_size": config.batch_size,
            "batches": len(rows),
            "workers": config.workers,
            "oom_halvings": int(max(r.get("oom", 0) for r in rows)) if rows else 0,
            "smallest_batch": int(
                min(min(int(r.get("b", config.batch_size)) for r in rows), config.batch_size)
            )
            if rows
            else config.batch_size,
            "batches_resumed_here": int(ctx.batches.get("resumed", 0)),
        },
        "wall_seconds": time.perf_counter() - ctx.start,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _save_dir(config: RunConfig, member: Any, tag: str, n_members: int) -> Path | None:
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
        folder = root / ("fake" if label == 1 else "real") / _safe_id(vid)
        folder.mkdir(parents=True, exist_ok=True)
        frames = arr[j][None] if arr.ndim == 4 else arr[j]
        for t, img in enumerate(frames):
            name = f"{frame:06d}.png" if frame >= 0 and arr.ndim == 4 else f"t{t:03d}.png"
            bgr = cv2.cvtColor(img.permute(1, 2, 0).numpy(), cv2.COLOR_RGB2BGR)
            if not cv2.imwrite(str(folder / name), bgr):
                raise OSError(f"could not write {folder / name}: check that the folder is writable")


def _safe_id(video_id: str) -> str:
    """A video id as one folder name (ids may hold '/': ``real/clip01`` -> ``real__clip01``)."""
    return video_id.replace("/", "__").replace("\\", "__")


def _portable(value: Any, cache: str | None = None) -> Any:
    """A path as it can be published: no absolute path of the machine the result was made on.

    Under the cache folder: ``$HARNESS_CACHE/...``; under the working folder: relative; under
    the home folder: ``~/...``; any other absolute path: its file name only.
    """
    if value is None:
        return None
    text = str(value)
    if not text.startswith("/"):
        return text
    from harness.datasets._base import cache_root

    roots = [
        (cache_root(cache).resolve(), "$HARNESS_CACHE/"),
        (Path.cwd().resolve(), ""),
        (Path.home(), "~/"),
    ]
    for root, short in roots:
        prefix = str(root).rstrip("/") + "/"
        if text.startswith(prefix):
            return short + text[len(prefix) :]
    return Path(text).name


def _portable_config(config: RunConfig) -> dict[str, Any]:
    out = dataclasses.asdict(config)
    cache = config.data.cache_dir
    for key in ("root", "cache_dir"):
        out["data"][key] = _portable(out["data"][key], cache)
    for key in ("results_dir", "leaderboard_dir", "save_adversarial", "checkpoint", "suite"):
        out[key] = _portable(out.get(key), cache)
    return out


def _code_version() -> str:
    from harness.version import code_version

    return code_version()


def subsample_frames(videos: list[Any], k: int) -> list[Any]:
    """Keep ``k`` evenly spaced crops of each video (all of them when it has fewer)."""
    from harness.datasets._faces import sample_indices
    from harness.scoring import VideoCrops

    if k < 1:
        raise ValueError(f"frames_per_video must be >= 1, got {k}")
    out = []
    for v in videos:
        if len(v.crops) <= k:
            out.append(v)
            continue
        picks = sample_indices(len(v.crops), k)
        out.append(VideoCrops(v.video_id, v.label, v.crops[picks], [v.frame_indices[i] for i in picks]))
    return out


class SuiteError(RuntimeError):
    """Some members of a run failed; the results of the others were written (``.results``)."""

    def __init__(self, message: str, results: list[RunResult]) -> None:
        super().__init__(message)
        self.results = results


def evaluate(
    config: RunConfig, progress: bool = True, detector: Any = None, members: list[Any] | None = None
) -> list[RunResult]:
    """Score clean once, then under every member (attack x strength); one result file each.

    ``detector``: a ready :class:`~harness.detectors.Detector` (a submission) instead of building
    ``config.detector`` from the zoo; ``config.checkpoint`` then names its weights file.
    ``members``: evaluate these (a filtered suite) instead of the plan from ``config``.

    Streams batches from the face cache (memory does not grow with the number of videos) and
    records every finished batch in a resume log: re-running the same command after a kill
    continues where it stopped, and a member whose result this exact run already wrote is
    reported as finished, not recomputed (``fresh=True`` recomputes). Under torchrun the batches
    are shared among the processes by video and rank 0 writes the results.

    Each result is written as soon as its member finishes, so an interrupted or failing run keeps
    the finished ones. A failing member of a multi-member run is reported and the others still
    run; the run then raises :class:`SuiteError` naming what failed.
    """
    from harness import distributed, metrics

    if config.aggregate not in metrics.AGGREGATIONS:
        raise ValueError(f"aggregate must be one of {metrics.AGGREGATIONS}, got {config.aggregate!r}")
    if config.workers < 0:
        raise ValueError(f"workers must be >= 0, got {config.workers}")
    if config.name:
        config, detector = _named(config, detector)
    planned, suite = attack_plan(config)
    members = planned if members is None else members
    with distributed.process_group(config.device) as w:
        progress = progress and w.main
        ctx = _prepare(config, progress, detector)
        if config.fresh:
            distributed.barrier()
            if w.main:
                from harness.records import remove

                remove(ctx.state_dir)
            distributed.barrier()
        # Rank 0 decides what is finished (the others may not see its results folder).
        done = distributed.broadcast({m.key: _finished(ctx, m, suite) for m in members} if w.main else None)
        results: list[RunResult] = []
        failed: list[str] = []
        todo = [m for m in members if done[m.key] is None]
        if w.main and len(todo) < len(members):
            names = ", ".join(m.key for m in members if done[m.key] is not None)
            print(
                f"harness: already finished (same code, data, checkpoint and settings): {names}; "
                "--fresh recomputes",
                file=sys.stderr,
            )
        try:
            if todo:
                from harness.attacks import ATTACKS

                _clean_stage(ctx, progress, gradients=any(ATTACKS.get(m.attack).uses_gradients for m in todo))
            for member in members:
                if done[member.key] is not None:
                    results.append(done[member.key])
                    continue
                if len(members) == 1:
                    results.append(_dispatch(ctx, member, suite, progress))
                    continue
                try:
                    results.append(_dispatch(ctx, member, suite, progress, len(members)))
                except (RuntimeError, ValueError, FloatingPointError, OSError) as exc:
                    failed.append(f"{member.key}: {exc}")
                    if w.main:
                        print(f"harness: {member.key} failed, continuing with the others: {exc}")
        finally:
            if results and todo and w.main:
                from harness.leaderboard import write_leaderboards

                write_leaderboards(Path(config.results_dir), Path(config.leaderboard_dir))
        if not failed and todo:
            from harness.records import remove

            distributed.barrier()
            remove(ctx.state_dir)
            for parent in list(ctx.state_dir.parents)[:3]:  # <detector>, <dataset>, .partial
                with contextlib.suppress(OSError):
                    parent.rmdir()  # only when empty
    if failed:
        raise SuiteError(
            f"{len(failed)} of {len(members)} members failed ({len(results)} results written): "
            + "; ".join(failed),
            results,
        )
    return results


def _dispatch(ctx: _Context, member: Any, suite: str | None, progress: bool, n_members: int = 1) -> RunResult:
    """Run one member under its threat model."""
    from harness.threat import member_threat

    threat = member_threat(member.options)
    if threat.pipeline:
        from harness.pipeline import run_pipeline_member

        return run_pipeline_member(ctx, member, suite, progress, threat, n_members)
    return _run_member(ctx, member, suite, progress, n_members)


def _named(config: RunConfig, detector: Any) -> tuple[RunConfig, Any]:
    """``config.name``: the zoo detector built with its checkpoint, filed under the given name."""
    import re

    from harness.detectors import DETECTORS, create_detector

    if detector is not None:
        raise ValueError("name is for zoo detectors; a submission is named by `harness submit --name`")
    if not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", config.name or "") or config.name in DETECTORS:
        raise ValueError(
            f"name {config.name!r}: use 1-64 letters, digits, '.', '_' or '-', not a zoo detector's name"
        )
    if not config.checkpoint:
        raise ValueError("name needs a checkpoint: it names a zoo detector with given weights")
    detector = create_detector(config.detector, checkpoint=config.checkpoint, **config.detector_options)
    return dataclasses.replace(config, detector=config.name, name=None), detector


def result_path(config: RunConfig, result: dict[str, Any]) -> Path:
    name = f"{result['attack']}-{result['budget_tag']}.json"
    return Path(config.results_dir) / result["dataset"] / result["detector"] / name


def _write_records(
    path: Path, ids: list[str], labels: Any, clean: Any, adv: Any, extra: dict[str, Any] | None = None
) -> None:
    """The per-video CSV beside a result: id, label, clean and attacked score (+ ``extra`` columns)."""
    import csv
    import os
    import tempfile

    extra = extra or {}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["video_id", "label", "clean_score", "adv_score", *extra])
        for i, row in enumerate(zip(ids, labels, clean, adv, strict=True)):
            more = [f"{float(v[i]):.6f}" for v in extra.values()]
            w.writerow([row[0], int(row[1]), f"{row[2]:.6f}", f"{row[3]:.6f}", *more])
    os.replace(tmp, path)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None if np.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, Path):
        return str(value)
    return value


def _f(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) else float("nan")


def format_table(results: list[RunResult]) -> str:
    """The compact table `harness run` prints."""
    lines = [
        f"{'detector':<16}{'dataset':<11}{'attack':<13}{'budget':<10}{'AUROC clean':>20}{'AUROC attacked':>20}"
        f"{'drop':>7}{'ASR':>6}{'Linf':>8}{'PSNR':>7}{'videos':>7}{'sec':>7}"
    ]
    for r in results:
        m = r.result["metrics"]

        def ci(key: str, m: dict[str, Any] = m) -> str:
            lo, hi = m.get(f"{key}_ci") or [None, None]
            v = m.get(key)
            if v is None:
                return "n/a"
            return f"{v:.3f} [{lo:.2f},{hi:.2f}]" if lo is not None and hi is not None else f"{v:.3f}"

        budget = r.result["budget_tag"] if r.result["budget_tag"] != "default" else "-"
        asr = m.get("asr_all")
        psnr = m.get("psnr_mean")
        lines.append(
            f"{r.result['detector']:<16}{r.result['dataset']:<11}{r.result['attack']:<13}{budget:<10}"
            f"{ci('auroc_clean'):>20}{ci('auroc_adv'):>20}{_f(m.get('auroc_drop')):>7.3f}"
            f"{_f(asr):>6.2f}{m.get('linf_max', 0):>8.4f}"
            f"{(psnr if isinstance(psnr, float) else float('nan')):>7.1f}{m['n_videos']:>7}"
            f"{r.result['wall_seconds']:>7.0f}"
        )
    if results:
        r0 = results[0].result
        lines.append(
            f"split {r0['split']}, video score = {r0['aggregate']} of frame fake-probabilities; "
            f"95% bootstrap CIs by video; {r0['metrics']['n_skipped_videos']} videos skipped; device {r0['device']}"
        )
        lines.append("results: " + ", ".join(str(r.path) for r in results))
    return "\n".join(lines)


__all__ = ["RunConfig", "RunResult", "SuiteError", "attack_plan", "evaluate", "format_table"]
