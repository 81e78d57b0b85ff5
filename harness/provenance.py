"""Provenance: what a number rests on beyond its config (code, libraries, device), and paths
made publishable. Every result, transfer matrix and submission entry records these."""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Any

import torch

from harness.version import code_version


def library_versions() -> dict[str, str]:
    """Versions of Python and the libraries a number can depend on."""
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


def device_name(device: torch.device) -> str:
    """The device in words: the GPU model, or the CPU and its thread count."""
    if device.type == "cuda":
        return f"cuda:{torch.cuda.get_device_name(device)}"
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def portable(value: Any, cache: str | None = None) -> Any:
    """A path as it can be published: no absolute path of the machine the result was made on.

    Under the cache folder: ``$HARNESS_CACHE/...``; under the working folder: relative; under
    the home folder: ``~/...``; any other absolute path: its file name only.
    """
    if value is None:
        return None
    text = str(value)
    if not text.startswith("/"):
        return text
    from harness.datasets import cache_root

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


__all__ = ["code_version", "device_name", "library_versions", "portable"]
