"""From cached face crops to detector inputs and fake probabilities.

Frame detectors see every face crop of a video as one sample; clip detectors see one clip per
video (``frames_per_clip`` crops sampled evenly, repeated when a video has fewer). Used by
training, ``harness run`` and ``harness predict`` alike, so every path feeds detectors the same way.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from harness.faces import crops_to_tensor
from harness.stream import clip_indices


@dataclass
class VideoCrops:
    """The usable face crops of one video (uint8 ``(K, S, S, 3)``) and its label."""

    video_id: str
    label: int
    crops: np.ndarray
    frame_indices: list[int]


def resolve_device(device: str) -> torch.device:
    """``auto`` -> CUDA when there is one, else CPU; a CUDA request without CUDA is an error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            "--device cuda was asked for, but torch sees no CUDA device; use --device auto or cpu"
        )
    return dev


@dataclass
class Samples:
    """Detector-ready samples: ``x`` is ``(N,3,H,W)`` or ``(N,T,3,H,W)`` in [0,1]."""

    x: Tensor
    labels: Tensor  # (N,) long
    video_ids: list[str]
    frame_indices: list[int]  # first frame of each sample (clips: -1)


def make_samples(
    videos: Sequence[VideoCrops], kind: str, input_size: tuple[int, int], frames_per_clip: int | None = None
) -> Samples:
    """Stack the crops of ``videos`` as detector samples at ``input_size`` (on the CPU)."""
    xs: list[Tensor] = []
    labels: list[int] = []
    vids: list[str] = []
    frames: list[int] = []
    for v in videos:
        if kind == "clip":
            assert frames_per_clip is not None
            picks = clip_indices(len(v.crops), frames_per_clip)
            xs.append(crops_to_tensor(v.crops[picks], input_size).unsqueeze(0))
            labels.append(v.label)
            vids.append(v.video_id)
            frames.append(-1)
        else:
            xs.append(crops_to_tensor(v.crops, input_size))
            labels += [v.label] * len(v.crops)
            vids += [v.video_id] * len(v.crops)
            frames += list(v.frame_indices)
    if not xs:
        raise ValueError("no samples: none of the videos has a usable face crop")
    return Samples(torch.cat(xs), torch.tensor(labels, dtype=torch.long), vids, frames)


def batches(n: int, batch_size: int) -> Iterator[slice]:
    for start in range(0, n, batch_size):
        yield slice(start, min(n, start + batch_size))


@torch.no_grad()
def fake_probabilities(detector: torch.nn.Module, x: Tensor, batch_size: int, device: torch.device) -> Tensor:
    """Softmax fake probability of every sample (CPU float tensor); raises on NaN scores."""
    detector.eval()
    out = []
    for sl in batches(len(x), batch_size):
        logits = detector(x[sl].to(device, non_blocking=True))
        out.append(torch.softmax(logits.float(), dim=1)[:, 1].cpu())
    probs = torch.cat(out) if out else torch.empty(0)
    if not torch.isfinite(probs).all():
        bad = int((~torch.isfinite(probs)).sum())
        raise FloatingPointError(
            f"the detector returned {bad} non-finite scores: the checkpoint is likely corrupt or "
            "was trained with diverging loss; re-train or check the weights"
        )
    return probs


def stream_probabilities(
    detector: torch.nn.Module,
    prep: Any,
    refs: Sequence[Any],
    batch_size: int,
    device: torch.device,
    workers: int = 0,
) -> tuple[np.ndarray, Any]:
    """Fake probability of every sample of ``refs`` (streamed from the face cache), and the
    samples' identities (:class:`~harness.stream.SampleMeta`); raises on NaN scores."""
    from harness.stream import UnitDataset, loader, plan_meta, plan_units, to_device

    spec = detector.spec  # type: ignore[attr-defined]
    units = plan_units(refs, spec.kind, batch_size, spec.frames_per_clip)
    dataset = UnitDataset(prep, refs, units, spec.kind, spec.input_size)
    detector.eval()
    out = []
    with torch.no_grad():
        for batch in loader(dataset, units, workers, device):
            logits = detector(to_device(batch["x"], device))
            out.append(torch.softmax(logits.float(), dim=1)[:, 1].cpu())
    probs = torch.cat(out).numpy() if out else np.empty(0, dtype=np.float32)
    if not np.isfinite(probs).all():
        raise FloatingPointError(
            f"the detector returned {int((~np.isfinite(probs)).sum())} non-finite scores: the "
            "checkpoint is likely corrupt or was trained with diverging loss; re-train or check the weights"
        )
    return probs, plan_meta(units, refs, spec.kind)


def subsample_frames(videos: list[Any], k: int) -> list[Any]:
    """Keep ``k`` evenly spaced crops of each video (all of them when it has fewer)."""
    from harness.faces import sample_indices

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
