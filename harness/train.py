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
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from harness.data import DataConfig, PreparedData, load_split, prepare_dataset
from harness.datasets._base import cache_root
from harness.datasets._faces import resize_crops
from harness.metrics import aggregate_by_video, auroc, video_labels
from harness.scoring import (
    VideoCrops,
    batches,
    clip_indices,
    fake_probabilities,
    make_samples,
    resolve_device,
)

CONFIGS_DIR = Path(__file__).resolve().parent.parent / "configs"


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
    for key in ("device", "output"):
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


class _TrainSet:
    """Per-epoch batches of augmented training samples, from crops pre-resized to uint8."""

    def __init__(self, videos: list[VideoCrops], spec: Any, cfg: TrainConfig, rng: np.random.Generator):
        self.videos = [dataclasses.replace(v, crops=resize_crops(v.crops, spec.input_size)) for v in videos]
        self.spec, self.cfg, self.rng = spec, cfg, rng
        self.augment = _augment_pipeline(cfg.augment, spec.input_size)

    def num_batches(self) -> int:
        if self.spec.kind == "clip":
            n = len(self.videos)
        else:
            fpv = self.cfg.frames_per_video
            n = sum(len(v.crops) if fpv is None else min(len(v.crops), fpv) for v in self.videos)
        return max(1, math.ceil(n / self.cfg.batch_size))

    def epoch(self) -> Iterator[tuple[Tensor, Tensor]]:
        """Batches are built lazily: memory stays at one batch of float input."""
        cfg, spec = self.cfg, self.spec
        items: list[tuple[int, np.ndarray]] = []  # (video index, crop indices)
        for vi, v in enumerate(self.videos):
            n = len(v.crops)
            if spec.kind == "clip":
                picks = clip_indices(n, spec.frames_per_clip)
                if n > spec.frames_per_clip:  # a random window of the video, evenly sampled
                    start = int(self.rng.integers(0, n - spec.frames_per_clip + 1))
                    picks = list(range(start, start + spec.frames_per_clip))
                items.append((vi, np.asarray(picks)))
            else:
                k = n if cfg.frames_per_video is None else min(n, cfg.frames_per_video)
                for ci in self.rng.choice(n, size=k, replace=False):
                    items.append((vi, np.asarray([ci])))
        order = self.rng.permutation(len(items))
        for sl in batches(len(order), cfg.batch_size):
            xs, ys = [], []
            for j in order[sl]:
                vi, picks = items[j]
                images = self.videos[vi].crops[picks]
                if cfg.augment.jpeg > 0 and self.rng.random() < cfg.augment.jpeg:
                    images = _jpeg(images, self.rng, cfg.augment)
                x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div_(255)
                if self.augment is not None:
                    x = self.augment(x).clamp_(0, 1)  # one draw per sample: a clip stays coherent
                xs.append(x if spec.kind == "clip" else x[0])
                ys.append(self.videos[vi].label)
            yield torch.stack(xs), torch.tensor(ys, dtype=torch.long)


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
    detector: torch.nn.Module, videos: list[VideoCrops], batch_size: int, device: torch.device
) -> tuple[float, float]:
    """(AUROC of mean frame fake-probabilities per video, mean per-sample log loss).

    The log loss breaks ties when the validation AUROC saturates (it does at 1.0 on small
    splits): among checkpoints that rank validation videos equally well, keep the one that
    separates them with more confidence.
    """
    spec = detector.spec  # type: ignore[attr-defined]
    samples = make_samples(videos, spec.kind, spec.input_size, spec.frames_per_clip)
    probs = fake_probabilities(detector, samples.x, batch_size, device).numpy()
    ids, scores = aggregate_by_video(samples.video_ids, probs, "mean")
    _, labels = video_labels(samples.video_ids, samples.labels.numpy())
    y = samples.labels.numpy()
    p = np.clip(probs, 1e-7, 1 - 1e-7)
    loss = float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))) if len(p) else float("nan")
    return auroc(labels, scores), loss


def video_auroc(
    detector: torch.nn.Module, videos: list[VideoCrops], batch_size: int, device: torch.device
) -> float:
    """AUROC of mean frame fake-probabilities per video (clip detectors: one clip per video)."""
    return video_scores(detector, videos, batch_size, device)[0]


def train(config: TrainConfig, progress: bool = True, prepared: PreparedData | None = None) -> TrainResult:
    """Train ``config.detector`` on the train split; keep the best validation-AUROC checkpoint."""
    from tqdm import tqdm

    from harness.checkpoint import save_checkpoint
    from harness.detectors import create_detector

    start = time.perf_counter()
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    device = resolve_device(config.device)
    prep = prepared or prepare_dataset(config.data, progress=progress)
    train_videos, val_videos = load_split(prep, "train"), load_split(prep, "val")
    if not train_videos or not val_videos:
        raise ValueError(
            f"{prep.manifest.dataset}: training needs usable videos in train and val "
            f"(got {len(train_videos)} and {len(val_videos)}); see `harness data prepare`"
        )
    model = create_detector(config.detector, **config.detector_options).to(device)
    spec = model.spec
    data = _TrainSet(train_videos, spec, config, rng)
    labels = np.array([v.label for v in train_videos])
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

    out = Path(config.output) if config.output else default_checkpoint_path(config, prep)
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
                data.epoch(),
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
                bar.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}")
            val, val_loss = video_scores(model, val_videos, config.batch_size, device)
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
    test_videos = load_split(prep, "test")
    test = video_auroc(best_model, test_videos, config.batch_size, device) if test_videos else float("nan")
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


def default_checkpoint_path(config: TrainConfig, prep: PreparedData) -> Path:
    name = f"{config.detector}-{prep.manifest.dataset}-{prep.manifest.short_hash}-{config_hash(config)}.pt"
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
    path = default_checkpoint_path(config, prep)
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
