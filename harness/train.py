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
from collections.abc import Iterator
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
from harness.faces import resize_crops
from harness.metrics import aggregate_by_video, auroc, video_labels
from harness.scoring import batches, resolve_device, stream_probabilities
from harness.stream import clip_indices, video_refs

if TYPE_CHECKING:
    from harness.splits import Manifest


@dataclass(frozen=True)
class AugmentConfig:
    """Training augmentation (probabilities / strengths; 0 switches a step off)."""

    hflip: float = 0.5
    color_jitter: float = 0.2  # brightness/contrast/saturation strength
    blur: float = 0.1  # probability of a Gaussian blur (sigma 0.1-1.5)
    crop_scale: float = 0.85  # random resized crop keeps this much area at least (1 = off)
    erasing: float = 0.1  # probability of random erasing
    jpeg: float = 0.0  # probability of a JPEG re-encode ...
    jpeg_quality: int = 60  # ... at a quality drawn from [jpeg_quality, 95]


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
    seed: int = 0
    device: str = "auto"
    workers: int = 2  # processes reading and augmenting cached crops (0: in this process)
    output: str | None = None  # checkpoint path (default: under the cache)


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
    for key in ("device", "output", "workers"):  # none of these changes the trained weights
        payload.pop(key)
    payload["data"].pop("device", None)
    payload["data"].pop("cache_dir", None)
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:12]


# -- augmentation ------------------------------------------------------------------------------------
def _augment_pipeline(cfg: AugmentConfig, size: tuple[int, int]) -> Any:
    from torchvision.transforms import v2

    steps: list[Any] = []
    if cfg.crop_scale < 1:
        steps.append(
            v2.RandomResizedCrop(size, scale=(cfg.crop_scale, 1.0), ratio=(0.9, 1.1), antialias=True)
        )
    if cfg.hflip > 0:
        steps.append(v2.RandomHorizontalFlip(cfg.hflip))
    if cfg.color_jitter > 0:
        j = cfg.color_jitter
        steps.append(v2.ColorJitter(brightness=j, contrast=j, saturation=j, hue=min(0.05, j / 4)))
    if cfg.blur > 0:
        steps.append(v2.RandomApply([v2.GaussianBlur(5, sigma=(0.1, 1.5))], p=cfg.blur))
    if cfg.erasing > 0:
        steps.append(v2.RandomErasing(p=cfg.erasing, scale=(0.02, 0.15), value=0))
    return v2.Compose(steps) if steps else None


def _jpeg(images: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig) -> np.ndarray:
    """Re-encode uint8 ``(K,H,W,3)`` images as JPEG (one quality per call)."""
    import cv2

    q = int(rng.integers(cfg.jpeg_quality, 96))
    out = []
    for im in images:
        ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(im[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, q])
        out.append(cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1] if ok else im)
    return np.stack(out)


class _TrainSet(torch.utils.data.Dataset):
    """One epoch's augmented training batches, read from the face cache by worker processes.

    The epoch's plan (which crops, in which order, one seed per batch) is drawn in the main
    process from the run's generator; each batch is then loaded, resized and augmented from its
    own seed, so training is the same with any number of workers and memory holds a few batches,
    never the split.
    """

    def __init__(
        self, prep: PreparedData, refs: list[Any], spec: Any, cfg: TrainConfig, rng: np.random.Generator
    ):
        from harness.stream import CropReader

        self.refs, self.spec, self.cfg, self.rng = refs, spec, cfg, rng
        self.reader = CropReader(prep, (r.video_id for r in refs))
        self.augment = _augment_pipeline(cfg.augment, spec.input_size)
        self.plan: list[tuple[int, list[tuple[int, tuple[int, ...]]]]] = []

    def num_batches(self) -> int:
        if self.spec.kind == "clip":
            n = len(self.refs)
        else:
            fpv = self.cfg.frames_per_video
            n = sum(len(r.crops) if fpv is None else min(len(r.crops), fpv) for r in self.refs)
        return max(1, math.ceil(n / self.cfg.batch_size))

    def new_epoch(self) -> None:
        """Draw this epoch's samples, their order and one seed per batch."""
        cfg, spec = self.cfg, self.spec
        items: list[tuple[int, tuple[int, ...]]] = []  # (video position, crop indices)
        for vi, ref in enumerate(self.refs):
            n = len(ref.crops)
            if spec.kind == "clip":
                picks = clip_indices(n, spec.frames_per_clip)
                if n > spec.frames_per_clip:  # a random window of the video, evenly sampled
                    start = int(self.rng.integers(0, n - spec.frames_per_clip + 1))
                    picks = list(range(start, start + spec.frames_per_clip))
                items.append((vi, tuple(ref.crops[i] for i in picks)))
            else:
                k = n if cfg.frames_per_video is None else min(n, cfg.frames_per_video)
                for ci in self.rng.choice(n, size=k, replace=False):
                    items.append((vi, (ref.crops[int(ci)],)))
        order = self.rng.permutation(len(items))
        self.plan = [
            (int(self.rng.integers(0, 2**31 - 1)), [items[j] for j in order[sl]])
            for sl in batches(len(order), cfg.batch_size)
        ]

    def __len__(self) -> int:
        return len(self.plan)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        cfg, spec = self.cfg, self.spec
        seed, items = self.plan[index]
        rng = np.random.default_rng(seed)
        xs, ys = [], []
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)  # the torchvision augmentations draw from torch's RNG
            for vi, picks in items:
                ref = self.refs[vi]
                images = resize_crops(self.reader.crops(ref.video_id)[list(picks)], spec.input_size)
                if cfg.augment.jpeg > 0 and rng.random() < cfg.augment.jpeg:
                    images = _jpeg(images, rng, cfg.augment)
                x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div_(255)
                if self.augment is not None:
                    x = self.augment(x).clamp_(0, 1)  # one draw per sample: a clip stays coherent
                xs.append(x if spec.kind == "clip" else x[0])
                ys.append(ref.label)
        return torch.stack(xs), torch.tensor(ys, dtype=torch.long)

    def epoch(self, workers: int, device: torch.device) -> Iterator[tuple[Tensor, Tensor]]:
        """This epoch's batches, in order (a new plan is drawn first)."""
        from harness.workers import loader_options

        self.new_epoch()
        return iter(
            torch.utils.data.DataLoader(
                self,
                batch_size=None,
                shuffle=False,
                pin_memory=device.type == "cuda",
                prefetch_factor=2 if workers > 0 else None,
                **loader_options(workers),
            )
        )


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
    """Train ``config.detector`` on the train split; keep the best validation-AUROC checkpoint."""
    from tqdm import tqdm

    from harness.checkpoint import save_checkpoint
    from harness.detectors import create_detector
    from harness.stream import release_free_memory

    start = time.perf_counter()
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    device = resolve_device(config.device)
    prep = prepared or prepare_dataset(config.data, progress=progress)
    train_refs, val_refs = video_refs(prep, "train"), video_refs(prep, "val")
    if not train_refs or not val_refs:
        raise ValueError(
            f"{prep.manifest.dataset}: training needs usable videos in train and val "
            f"(got {len(train_refs)} and {len(val_refs)}); see `harness data prepare`"
        )
    model = create_detector(config.detector, **config.detector_options).to(device)
    spec = model.spec
    data = _TrainSet(prep, train_refs, spec, config, rng)
    labels = np.array([r.label for r in train_refs])
    weight = None
    if config.class_weights:
        counts = np.bincount(labels, minlength=2).astype(float)
        weight = torch.tensor(counts.sum() / (2 * np.maximum(counts, 1)), dtype=torch.float32, device=device)

    frozen = "backbone_weights" in config.detector_options and config.freeze_epochs > 0
    trunk = getattr(model, "trunk", None)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    total = data.num_batches() * config.epochs
    sched = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total) / total))
    )

    out = Path(config.output) if config.output else default_checkpoint_path(config, prep.manifest)
    best, best_key, best_epoch, stale, history = -1.0, (-1.0, -math.inf), 0, 0, []
    epoch = 0
    with model.range_check(False):
        for epoch in range(1, config.epochs + 1):
            if trunk is not None:
                for p in trunk.parameters():
                    p.requires_grad_(not (frozen and epoch <= config.freeze_epochs))
            model.train()
            losses = []
            bar = tqdm(
                data.epoch(config.workers, device),
                total=data.num_batches(),
                desc=f"train {config.detector} epoch {epoch}/{config.epochs}",
                unit="batch",
                disable=not progress,
                leave=False,
            )
            for x, y in bar:
                x, y = x.to(device, non_blocking=True), y.to(device)
                loss = _loss(model(x), y, weight, config)
                if not torch.isfinite(loss):
                    raise FloatingPointError(
                        f"training loss became {loss.item()} at epoch {epoch}; lower --set lr=... "
                        f"(best checkpoint so far, if any, is kept at {out})"
                    )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                sched.step()
                losses.append(loss.item())
                release_free_memory()
                bar.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}")
            val, val_loss = video_scores(model, prep, val_refs, config.batch_size, device, config.workers)
            history.append(
                {"epoch": epoch, "loss": float(np.mean(losses)), "val_auroc": val, "val_loss": val_loss}
            )
            if progress:
                print(
                    f"epoch {epoch}: loss {np.mean(losses):.4f}  val AUROC {val:.4f}  val loss {val_loss:.4f}",
                    file=sys.stderr,
                )
            key = (val, -val_loss if math.isfinite(val_loss) else -math.inf)
            if key > best_key:  # best validation AUROC; ties broken by validation log loss
                best, best_key, best_epoch, stale = val, key, epoch, 0
                meta = _meta(config, prep, epoch, val, time.perf_counter() - start)
                save_checkpoint(out, model, meta=meta)
            else:
                stale += 1
                if stale >= config.patience:
                    break
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
    save_checkpoint(out, best_model, meta=meta)
    return TrainResult(out, best_epoch, best, test, epoch, seconds, history)


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
