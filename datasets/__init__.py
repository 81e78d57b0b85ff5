"""Dataset adapters (Celeb-DF, DFDC, FaceForensics++, folder, the embedded benchmark). Registered
like detectors: ``@register_dataset("celebdf")`` on the adapter class in ``datasets/celebdf.py``
plus one ``DATASETS.register_lazy`` line here.

Installed as ``harness.datasets``: this folder must never be importable as a top-level
``datasets`` (that would shadow Hugging Face ``datasets``)."""

from __future__ import annotations

from typing import Any

from harness.registry import Registry

DATASETS: Registry[Any] = Registry("dataset", entry_point_group="harness.datasets")
register_dataset = DATASETS.register

_P = "harness.datasets."
DATASETS.register_lazy(
    "synthetic",
    _P + "synthetic",
    "Embedded deepfake-video benchmark generated on this machine (no download; proves the harness works, says nothing about Celeb-DF)",
)
DATASETS.register_lazy(
    "celebdf", _P + "celebdf", "Celeb-DF v1/v2: Celeb-real, YouTube-real, Celeb-synthesis, official test list"
)
DATASETS.register_lazy(
    "dfdc",
    _P + "dfdc",
    "DFDC: train parts' metadata.json, labelled test set labels.csv, preview dataset.json",
)
DATASETS.register_lazy(
    "dfdc_faces",
    _P + "dfdc_faces",
    "DFDC pre-cropped faces: one image folder per video + metadata.csv (no face extraction)",
)
DATASETS.register_lazy(
    "ffpp",
    _P + "ffpp",
    "FaceForensics++: original/manipulated sequences (raw/c23/c40) and official split pairs",
)
DATASETS.register_lazy(
    "folder", _P + "folder", "A root with real/ and fake/ (or df/) subfolders of videos or images"
)

__all__ = ["DATASETS", "register_dataset"]
