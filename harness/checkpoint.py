"""Detector checkpoints: one file with weights, spec, build overrides and training metadata.

Format: a ``torch.save`` dict of plain containers and tensors, read back with
``torch.load(weights_only=True)``, so loading never unpickles arbitrary objects (a malicious
pickle is refused, not executed). Files are written atomically (:mod:`harness.fileio`), so an
interrupted save never leaves a half-written checkpoint under the final name.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FORMAT = "deepfake-harness-checkpoint"
FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint that is missing, corrupt, unsafe or for another architecture."""


@dataclass(frozen=True)
class Checkpoint:
    """A loaded checkpoint (``state_dict`` holds CPU tensors)."""

    detector: str
    spec: dict[str, Any]
    overrides: dict[str, Any]
    state_dict: dict[str, Any]
    meta: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file (recorded in results so a number names the exact weights)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def safe_torch_load(path: str | os.PathLike[str]) -> Any:
    """``torch.load(weights_only=True)`` with errors that name the file and the fix."""
    import torch

    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"checkpoint not found: {p} (check the path; nothing is downloaded)")
    if p.stat().st_size == 0:
        raise CheckpointError(f"checkpoint {p} is empty (0 bytes): an interrupted copy? re-create it")
    if p.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(p))
        except Exception as exc:  # safetensors raises its own error types
            raise CheckpointError(f"checkpoint {p} is not a readable safetensors file: {exc}") from exc
    try:
        return torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            f"refusing to load {p}: it contains arbitrary Python objects, and checkpoints are only "
            "read with torch.load(weights_only=True). Save a plain state dict (tensors in dicts) "
            f"or a safetensors file instead. ({str(exc).splitlines()[0]})"
        ) from exc
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as exc:
        raise CheckpointError(
            f"checkpoint {p} is corrupt or not a PyTorch file ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}); re-create or re-download it"
        ) from exc


def save_checkpoint(
    path: str | os.PathLike[str],
    detector: Any,
    meta: dict[str, Any] | None = None,
) -> Path:
    """Write ``detector`` (a :class:`~harness.detectors.Detector`) with its spec and metadata.

    ``meta`` holds training facts (dataset, split manifest hash, epochs, validation AUROC, ...);
    the code version is added. Local-only build options (``backbone_weights``) are dropped: the
    weights themselves are in the file.
    """
    import torch

    from harness.version import code_version

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    overrides = {k: v for k, v in detector.build_overrides.items() if k != "backbone_weights"}
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "detector": detector.spec.name,
        "spec": detector.spec.to_dict(),
        "overrides": _plain(overrides),
        "meta": _plain({"code_version": code_version(), **(meta or {})}),
        "state_dict": {k: v.detach().cpu().clone() for k, v in detector.state_dict().items()},
    }
    from harness.fileio import atomic_open

    with atomic_open(path, "wb") as f:
        torch.save(payload, f)
    return path


def load_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Read a harness checkpoint safely; raise :class:`CheckpointError` naming the file."""
    p = Path(path)
    payload = safe_torch_load(p)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(
            f"{p} is not a harness checkpoint (no '{FORMAT}' header): it looks like a bare state "
            "dict. Pass it as backbone_weights=..., or save it with harness.checkpoint.save_checkpoint"
        )
    if payload.get("format_version", 0) > FORMAT_VERSION:
        raise CheckpointError(
            f"{p} has checkpoint format {payload['format_version']}, newer than this harness "
            f"understands ({FORMAT_VERSION}): upgrade the harness"
        )
    missing = [k for k in ("detector", "spec", "overrides", "state_dict") if k not in payload]
    if missing:
        raise CheckpointError(f"checkpoint {p} is incomplete: missing {', '.join(missing)}")
    return Checkpoint(
        detector=str(payload["detector"]),
        spec=dict(payload["spec"]),
        overrides=dict(payload["overrides"]),
        state_dict=dict(payload["state_dict"]),
        meta=dict(payload.get("meta") or {}),
        path=p,
    )


def _plain(value: Any) -> Any:
    """Convert to containers that ``weights_only`` loading accepts (paths become strings)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"cannot store {type(value).__name__} in checkpoint metadata: {value!r}")
