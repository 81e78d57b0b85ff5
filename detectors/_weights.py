"""Local backbone weights (``backbone_weights=PATH``): ImageNet transfer learning, offline.

A user who has a timm/torchvision state dict on disk (``.pth``/``.pt``/``.safetensors``) gets the
seeds' transfer-learning recipe; nothing is ever downloaded. Loading is ``weights_only``.
"""

from __future__ import annotations

import os
from pathlib import Path

from torch import Tensor, nn

from harness.checkpoint import CheckpointError, safe_torch_load

_WRAPPER_KEYS = ("state_dict", "model", "model_state_dict", "module")
_PREFIXES = ("module.", "model.", "backbone.")


def read_state_dict(path: str | os.PathLike[str]) -> dict[str, Tensor]:
    """Read a state dict, unwrapping ``{"state_dict": ...}``-style containers."""
    data = safe_torch_load(path)
    for key in _WRAPPER_KEYS:
        if isinstance(data, dict) and isinstance(data.get(key), dict):
            data = data[key]
    if not isinstance(data, dict) or not data:
        raise CheckpointError(f"{path} holds no state dict (a dict of tensors)")
    return {str(k): v for k, v in data.items() if isinstance(v, Tensor)}


def load_backbone_weights(module: nn.Module, path: str | os.PathLike[str], what: str) -> None:
    """Load every tensor of ``module`` from ``path``; extra keys (a classifier) are ignored.

    Raises :class:`CheckpointError` naming the file when any tensor of ``module`` is missing or of
    another shape, so a wrong file never silently leaves a randomly initialised backbone.
    """
    source = read_state_dict(Path(path))
    own = module.state_dict()
    for prefix in _PREFIXES:  # tolerate DataParallel / wrapper prefixes
        if not any(k in own for k in source) and all(k.startswith(prefix) for k in source):
            source = {k[len(prefix) :]: v for k, v in source.items()}
    fitted = {k: v for k, v in source.items() if k in own and own[k].shape == v.shape}
    missing = [k for k in own if k not in fitted and not k.endswith("num_batches_tracked")]
    if missing:
        wrong = [k for k in missing if k in source]
        raise CheckpointError(
            f"backbone weights {path} do not fit {what}: {len(missing)} of {len(own)} tensors "
            f"missing ({len(wrong)} of another shape), e.g. {missing[:3]}. Expected a state dict "
            f"of {what}"
        )
    module.load_state_dict(fitted, strict=False)
