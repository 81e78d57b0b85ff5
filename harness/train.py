"""Training: ``harness train`` and the demo models of the embedded benchmark.

The seeds' recipes as options: class weights for imbalance; augmentation (flip, colour jitter,
Gaussian blur, random resized crop, random erasing, JPEG quality); cross-entropy or focal loss;
two-phase freeze-then-unfreeze when backbone weights are given; AdamW with a cosine schedule;
early stopping. The checkpoint kept is the one with the best *validation* AUROC (video level; ties
broken by the validation log loss);
the test split is never looked at while training.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from harness.configs import CONFIGS_DIR
from harness.data import DataConfig, PreparedData, prepare_dataset
from harness.datasets import cache_root
from harness.metrics import aggregate_by_video, auroc, video_labels
from harness.robust_train import AdversarialConfig
from harness.scoring import resolve_device, stream_probabilities
from harness.stream import video_refs
from harness.train_data import AugmentConfig, TrainSet

if TYPE_CHECKING:
    from harness.splits import Manifest


@dataclass(frozen=True)
class TrainConfig:
    """Everything ``harness train`` does; precedence CLI > YAML > these defaults."""

    detector: str = "xception"
    detector_options: dict[str, Any] = field(default_factory=dict)
    data: DataConfig = field(default_factory=DataConfig)
    epochs: int = 10
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-2
    loss: Literal["ce", "focal"] = "ce"
    focal_gamma: float = 2.0
    class_weights: bool = True
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    freeze_epochs: int = 1  # with backbone_weights: train the head only for this many epochs
    patience: int = 3  # early stopping: epochs without a better validation AUROC
    frames_per_video: int | None = None  # frame detectors: crops per video per epoch (None: all)
    adversarial: AdversarialConfig = field(default_factory=AdversarialConfig)  # see harness.robust_train
    noise_sigma: float = 0.0  # Gaussian noise augmentation x + N(0, sigma^2) (randomized smoothing's base)
    seed: int = 0
    device: str = "auto"
    workers: int = 2  # processes reading and augmenting cached crops (0: in this process)
    output: str | None = None  # checkpoint path (default: under the cache)
    resume: bool = True  # continue from the last finished epoch after a kill (``--fresh``: start over)

    def __post_init__(self) -> None:
        if self.noise_sigma < 0:
            raise ValueError(f"noise_sigma must be >= 0, got {self.noise_sigma}")
        if self.noise_sigma > 0 and self.adversarial.enabled:
            raise ValueError("choose one of adversarial training and noise_sigma (not both)")


@dataclass
class TrainResult:
    checkpoint: Path
    best_epoch: int
    val_auroc: float
    test_auroc: float  # reported, never used for selection
    epochs_run: int
    seconds: float
    history: list[dict[str, float]]


def demo_recipe_path(detector: str) -> Path:
    return CONFIGS_DIR / "demo" / f"{detector}.yaml"


def demo_config(detector: str, data: DataConfig | None = None, device: str = "auto") -> TrainConfig:
    """The default recipe of ``detector`` on the embedded benchmark (``configs/demo/<name>.yaml``)."""
    from harness.config import build_config

    path = demo_recipe_path(detector)
    cli: dict[str, Any] = {"detector": detector, "device": device}
    if data is not None:
        cli["data"] = dataclasses.asdict(data)
    return build_config(TrainConfig, path if path.is_file() else None, cli=cli)


def config_hash(config: TrainConfig) -> str:
    import hashlib
    import json

    payload = dataclasses.asdict(config)
    for key in ("device", "output", "workers", "resume"):  # none of these changes the trained weights
        payload.pop(key)
    # Left out at their defaults, so that checkpoints trained before these options keep their names.
    if not config.adversarial.enabled:
        payload.pop("adversarial")
    if not config.noise_sigma:
        payload.pop("noise_sigma")
    payload["data"].pop("device", None)
    payload["data"].pop("cache_dir", None)
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:12]


def _loss(logits: Tensor, y: Tensor, weight: Tensor | None, cfg: TrainConfig) -> Tensor:
    if cfg.loss == "focal":
        logp = F.log_softmax(logits.float(), dim=1)
        logp_t = logp.gather(1, y[:, None]).squeeze(1)
        loss = -((1 - logp_t.exp()) ** cfg.focal_gamma) * logp_t
        if weight is not None:
            loss = loss * weight[y]
            return loss.sum() / weight[y].sum()
        return loss.mean()
    return F.cross_entropy(logits.float(), y, weight=weight)


def video_scores(
    detector: torch.nn.Module,
    prep: PreparedData,
    refs: list[Any],
    batch_size: int,
    device: torch.device,
    workers: int = 0,
) -> tuple[float, float]:
    """(AUROC of mean frame fake-probabilities per video, mean per-sample log loss), streamed.

    The log loss breaks ties when the validation AUROC saturates (it does at 1.0 on small
    splits): among checkpoints that rank validation videos equally well, keep the one that
    separates them with more confidence.
    """
    probs, meta = stream_probabilities(detector, prep, refs, batch_size, device, workers)
    ids, scores = aggregate_by_video(meta.video_ids, probs, "mean")
    _, labels = video_labels(meta.video_ids, np.asarray(meta.labels))
    y = np.asarray(meta.labels)
    p = np.clip(probs, 1e-7, 1 - 1e-7)
    loss = float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))) if len(p) else float("nan")
    return auroc(labels, scores), loss


def train(config: TrainConfig, progress: bool = True, prepared: PreparedData | None = None) -> TrainResult:
    """Train ``config.detector`` on the train split; keep the best validation checkpoint.

    The rule: best clean validation AUROC (ties: lower validation log loss); with adversarial
    training, best robust validation AUROC (:data:`harness.robust_train.SELECTION_RULE`). After
    each epoch the training state is saved next to the checkpoint, so a killed run continues
    from its last finished epoch (``resume=False``: start over). Under torchrun every process
    takes the same updates; adversarial examples are shared out (:mod:`harness.robust_train`)."""
    from tqdm import tqdm

    from harness import distributed
    from harness.checkpoint import save_checkpoint
    from harness.detectors import create_detector
    from harness.robust_train import adversarial_batch, robust_loss, robust_video_auroc
    from harness.stream import release_free_memory

    w = distributed.world()
    show = progress and w.main
    start = time.perf_counter()
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    device = resolve_device(distributed.local_device(config.device))
    prep = prepared or prepare_dataset(config.data, progress=show)  # distributed-aware itself
    train_refs, val_refs = video_refs(prep, "train"), video_refs(prep, "val")
    if not train_refs or not val_refs:
        raise ValueError(
            f"{prep.manifest.dataset}: training needs usable videos in train and val "
            f"(got {len(train_refs)} and {len(val_refs)}); see `harness data prepare`"
        )
    model = create_detector(config.detector, **config.detector_options).to(device)
    spec = model.spec
    data = TrainSet(prep, train_refs, spec, config, rng)
    labels = np.array([r.label for r in train_refs])
    weight = None
    if config.class_weights:
        counts = np.bincount(labels, minlength=2).astype(float)
        weight = torch.tensor(counts.sum() / (2 * np.maximum(counts, 1)), dtype=torch.float32, device=device)

    frozen = "backbone_weights" in config.detector_options and config.freeze_epochs > 0
    trunk = getattr(model, "trunk", None)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    per_epoch = data.num_batches()
    total = per_epoch * config.epochs
    sched = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total) / total))
    )
    adv = config.adversarial

    def base_loss(logits: Tensor, target: Tensor) -> Tensor:
        return _loss(logits, target, weight, config)

    out = Path(config.output) if config.output else default_checkpoint_path(config, prep.manifest)
    state_path = training_state_path(out)
    best, best_key, best_epoch, stale, history = -1.0, (-math.inf,), 0, 0, []
    epoch = first = 1
    state = _load_state(state_path, config) if config.resume else None
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        rng.bit_generator.state = state["numpy_rng"]
        torch.set_rng_state(state["torch_rng"])
        best, best_epoch, stale = state["best"], state["best_epoch"], state["stale"]
        best_key, history = tuple(state["best_key"]), list(state["history"])
        epoch = first = state["epoch"] + 1
        if show:
            print(
                f"resuming {config.detector} training after epoch {state['epoch']} ({state_path})",
                file=sys.stderr,
            )
    step = (first - 1) * per_epoch
    with model.range_check(False):
        for epoch in range(first, config.epochs + 1):
            if stale >= config.patience:
                epoch -= 1
                break
            if trunk is not None:
                for p in trunk.parameters():
                    p.requires_grad_(not (frozen and epoch <= config.freeze_epochs))
            model.train()
            losses = []
            eps = math.nan
            bar = tqdm(
                data.epoch(config.workers, device),
                total=per_epoch,
                desc=f"train {config.detector} epoch {epoch}/{config.epochs}",
                unit="batch",
                disable=not show,
                leave=False,
            )
            for i, (x, y) in enumerate(bar):
                x, y = x.to(device, non_blocking=True), y.to(device)
                seed = data.plan[i][0]  # the batch's own seed: starts and noise do not depend on the rank
                if adv.enabled:
                    eps = adv.eps_at(step, per_epoch)
                    x_adv = adversarial_batch(model, x, y, adv, eps, seed)
                    loss = robust_loss(model, x, x_adv, y, adv, base_loss)
                else:
                    if config.noise_sigma > 0:
                        g = torch.Generator().manual_seed(seed + 104729)
                        x = x + config.noise_sigma * torch.randn(x.shape, generator=g).to(device, x.dtype)
                    loss = base_loss(model(x), y)
                if not torch.isfinite(loss):
                    raise FloatingPointError(
                        f"training loss became {loss.item()} at epoch {epoch}; lower --set lr=... "
                        f"(best checkpoint so far, if any, is kept at {out})"
                    )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                sched.step()
                step += 1
                losses.append(loss.item())
                release_free_memory()
                bar.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}")
            val, val_loss = video_scores(model, prep, val_refs, config.batch_size, device, config.workers)
            record = {"epoch": epoch, "loss": float(np.mean(losses)), "val_auroc": val, "val_loss": val_loss}
            key: tuple[float, ...] = (val, -val_loss if math.isfinite(val_loss) else -math.inf)
            if adv.enabled:
                robust = robust_video_auroc(
                    model, prep, "val", adv, config.batch_size, device, config.workers
                )
                record.update(val_auroc_robust=robust, eps=eps)
                key = (robust if math.isfinite(robust) else -math.inf, *key)
            history.append(record)
            if show:
                extra = (
                    f"  robust val AUROC {record['val_auroc_robust']:.4f} (eps {eps:.5f})"
                    if adv.enabled
                    else ""
                )
                print(
                    f"epoch {epoch}: loss {np.mean(losses):.4f}  val AUROC {val:.4f}  val loss {val_loss:.4f}{extra}",
                    file=sys.stderr,
                )
            if key > best_key:
                best, best_key, best_epoch, stale = val, key, epoch, 0
                if w.main:
                    meta = _meta(config, prep, epoch, val, time.perf_counter() - start)
                    if adv.enabled:
                        meta["val_auroc_robust"] = record["val_auroc_robust"]
                    save_checkpoint(out, model, meta=meta)
            else:
                stale += 1
            if w.main:
                _save_state(
                    state_path,
                    config,
                    model,
                    optimizer,
                    sched,
                    rng,
                    epoch,
                    best,
                    best_key,
                    best_epoch,
                    stale,
                    history,
                )
            distributed.barrier()
    # Report the test AUROC of the kept checkpoint (never used to choose it).
    best_model = create_detector(config.detector, checkpoint=out).to(device)
    test_refs = video_refs(prep, "test")
    test = (
        video_scores(best_model, prep, test_refs, config.batch_size, device, config.workers)[0]
        if test_refs
        else float("nan")
    )
    seconds = time.perf_counter() - start
    meta = {**best_model.checkpoint_meta, "test_auroc_clean": test, "train_seconds_total": seconds}
    meta.pop("code_version", None)
    if w.main:
        save_checkpoint(out, best_model, meta=meta)
        state_path.unlink(missing_ok=True)
    distributed.barrier()
    return TrainResult(out, best_epoch, best, test, epoch, seconds, history)


def training_state_path(checkpoint: Path) -> Path:
    """Where the resumable training state of ``checkpoint`` lives while it trains."""
    return checkpoint.with_name(checkpoint.name + ".train-state")


def _save_state(
    path: Path,
    config: TrainConfig,
    model: torch.nn.Module,
    optimizer: Any,
    sched: Any,
    rng: np.random.Generator,
    epoch: int,
    best: float,
    best_key: tuple[float, ...],
    best_epoch: int,
    stale: int,
    history: list[dict[str, float]],
) -> None:
    from harness.fileio import atomic_open

    state = {
        "config_hash": config_hash(config),
        "epoch": epoch,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": sched.state_dict(),
        "numpy_rng": rng.bit_generator.state,
        "torch_rng": torch.get_rng_state(),
        "best": best,
        "best_key": list(best_key),
        "best_epoch": best_epoch,
        "stale": stale,
        "history": history,
    }
    with atomic_open(path, "wb") as f:
        torch.save(state, f)


def _load_state(path: Path, config: TrainConfig) -> dict[str, Any] | None:
    """The saved state of an interrupted run of this very config (None: none, or another config)."""
    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - a torn or foreign file: start over, say why
        print(
            f"harness: ignoring unreadable training state {path} ({exc}); training from the start",
            file=sys.stderr,
        )
        return None
    if state.get("config_hash") != config_hash(config):
        print(f"harness: {path} is from another training config; training from the start", file=sys.stderr)
        return None
    return state


def _meta(config: TrainConfig, prep: PreparedData, epoch: int, val: float, seconds: float) -> dict[str, Any]:
    return {
        "dataset": prep.manifest.dataset,
        "dataset_options": dict(config.data.options),
        "split_manifest_hash": prep.manifest.hash,
        "split_protocol": prep.manifest.protocol,
        "split_seed": prep.manifest.seed,
        "best_epoch": epoch,
        "epochs": config.epochs,
        "val_auroc": val,
        "train_seconds": seconds,
        "train_config_hash": config_hash(config),
        "seed": config.seed,
        **({"adversarial": config.adversarial.recipe()} if config.adversarial.enabled else {}),
        **({"noise_sigma": config.noise_sigma} if config.noise_sigma else {}),
    }


def default_checkpoint_path(config: TrainConfig, manifest: Manifest) -> Path:
    """Where ``config`` trained on the split ``manifest`` is cached (whether or not it exists yet)."""
    name = f"{config.detector}-{manifest.dataset}-{manifest.short_hash}-{config_hash(config)}.pt"
    return cache_root(config.data.cache_dir) / "models" / name


def ensure_demo_model(
    detector: str,
    data: DataConfig,
    device: str = "auto",
    progress: bool = True,
    prepared: PreparedData | None = None,
) -> Path:
    """The cached demo checkpoint of ``detector`` on the embedded benchmark (trained once)."""
    config = demo_config(detector, data, device)
    prep = prepared or prepare_dataset(config.data, progress=progress)
    path = default_checkpoint_path(config, prep.manifest)
    if path.is_file():
        return path
    print(
        f"harness: no demo model of {detector!r} for this benchmark yet: training it once "
        f"(recipe {demo_recipe_path(detector).relative_to(CONFIGS_DIR.parent)}); it is cached at {path}",
        file=sys.stderr,
        flush=True,
    )
    result = train(config, progress=progress, prepared=prep)
    print(
        f"harness: trained {detector} in {result.seconds:.0f}s: best val AUROC {result.val_auroc:.3f} "
        f"(epoch {result.best_epoch}), test AUROC {result.test_auroc:.3f}",
        file=sys.stderr,
        flush=True,
    )
    return result.checkpoint


__all__ = ["AugmentConfig", "TrainConfig", "TrainResult", "demo_config", "ensure_demo_model", "train"]
