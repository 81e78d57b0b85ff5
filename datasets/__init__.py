"""Dataset adapters (Celeb-DF, DFDC, FaceForensics++, folder, the embedded benchmark). Registered
like detectors: ``@register_dataset("celebdf")`` in ``datasets/celebdf.py`` plus one
``DATASETS.register_lazy`` line here (none yet: see the issues).

Installed as ``harness.datasets``: this folder must never be importable as a top-level
``datasets`` (that would shadow Hugging Face ``datasets``)."""

from __future__ import annotations

from typing import Any

from harness.registry import Registry

DATASETS: Registry[Any] = Registry("dataset")
register_dataset = DATASETS.register

__all__ = ["DATASETS", "register_dataset"]
