"""The detectors of a matrix: their weights found first (the caller-side step), then loaded one
at a time by the steps that craft and score.

:func:`ensure_checkpoints` is what :func:`harness.workflow.ensure_detector` is to ``harness run``,
for several detectors at once: a given checkpoint, or on the embedded benchmark the demo model
(trained once, then cached). It runs before any attack work, so a missing checkpoint fails early.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from harness.transfer.config import TransferConfig


@dataclass
class Model:
    """A detector of the matrix: its name, checkpoint and the checkpoint file's SHA-256.

    ``detector`` is the loaded model, or None once it was freed (the facts are kept for the results).
    """

    name: str
    checkpoint: str
    sha256: str
    detector: Any


def ensure_checkpoints(config: TransferConfig, prep: Any, progress: bool = True) -> dict[str, str]:
    """The checkpoint of every detector ``config`` needs (sources, then targets).

    ``checkpoints.NAME`` when given; otherwise, on the embedded benchmark, the demo model of NAME
    (trained once on ``prep``, then cached); on any other dataset a missing one is an error.
    """
    missing = [name for name in config.detectors if name not in config.checkpoints]
    if missing and config.data.dataset != "synthetic":
        name = missing[0]
        raise ValueError(
            f"dataset {config.data.dataset!r} needs a checkpoint for {name!r}: --set checkpoints.{name}=PATH "
            "(demo models exist only for the embedded benchmark)"
        )
    out = {}
    for name in config.detectors:
        if name in config.checkpoints:
            out[name] = str(config.checkpoints[name])
            continue
        from harness.train import ensure_demo_model

        out[name] = str(ensure_demo_model(name, config.data, config.device, progress, prepared=prep))
    return out


def load_model(name: str, checkpoint: str, prep: Any, device: torch.device) -> Model:
    """Detector ``name`` with ``checkpoint`` on ``device``: a frame detector not trained on
    another split of this dataset (its test videos could be in this run's training data)."""
    from harness.checkpoint import sha256_file
    from harness.detectors import create_detector, resolve_checkpoint

    det = create_detector(name, checkpoint=checkpoint).to(device).eval()
    if det.spec.kind != "frame":
        raise ValueError(f"transfer scores frame detectors; {name!r} is a {det.spec.kind} detector")
    meta = det.checkpoint_meta
    if meta.get("dataset") == prep.manifest.dataset and meta.get("split_manifest_hash") not in (
        None,
        prep.manifest.hash,
    ):
        raise ValueError(
            f"checkpoint {checkpoint} was trained on another split of {prep.manifest.dataset} (manifest "
            f"{meta['split_manifest_hash'][:12]} vs {prep.manifest.short_hash}): its test videos may overlap "
            "this training data; use the same --set data.seed/protocol"
        )
    return Model(name, checkpoint, sha256_file(resolve_checkpoint(checkpoint)), det)


__all__ = ["Model", "ensure_checkpoints", "load_model"]
