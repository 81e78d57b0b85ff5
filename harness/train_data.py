"""What ``harness train`` reads: augmentation settings and one epoch's batches from the face cache.

Split from :mod:`harness.train` (the loop); the worker processes of training's DataLoader import
this module to rebuild :class:`TrainSet`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from harness.faces import resize_crops
from harness.scoring import batches
from harness.stream import clip_indices

if TYPE_CHECKING:
    from harness.data import PreparedData
    from harness.train import TrainConfig


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


class TrainSet(torch.utils.data.Dataset):
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


__all__ = ["AugmentConfig", "TrainSet"]
