"""Dataset adapters (Celeb-DF, DFDC, FaceForensics++, folder, the embedded benchmark).

Adding a dataset: write ``datasets/<key>.py`` with a :class:`DatasetAdapter` subclass decorated
``@register_dataset`` (no name: the key is the file name; the registry sets the class's ``name``)
that implements ``index()`` and ``write_example(root)`` (a miniature tree of its layout, which the
conformance tests index), and add one ``DATASETS.register_lazy("<key>", "<description>")`` line
below (the description is what ``harness ls datasets`` prints).

Installed as ``harness.datasets``: this folder must never be importable as a top-level
``datasets`` (that would shadow Hugging Face ``datasets``)."""

from __future__ import annotations

from typing import Any

from harness.datasets._base import (
    FAKE,
    IMAGE_SUFFIXES,
    REAL,
    VIDEO_SUFFIXES,
    DatasetAdapter,
    DatasetError,
    DatasetIndex,
    Example,
    RootGuard,
    Skipped,
    VideoRecord,
    cache_root,
    placeholder,
    strip_suffix,
)
from harness.registry import Registry, name_class

DATASETS: Registry[Any] = Registry(
    "dataset", entry_point_group="harness.datasets", package=__name__, bind=name_class
)
register_dataset = DATASETS.register

DATASETS.register_lazy(
    "synthetic",
    "Embedded deepfake-video benchmark generated on this machine (no download; proves the harness works, "
    "says nothing about Celeb-DF)",
)
DATASETS.register_lazy(
    "celebdf", "Celeb-DF v1/v2: Celeb-real, YouTube-real, Celeb-synthesis, official test list"
)
DATASETS.register_lazy(
    "dfdc", "DFDC: train parts' metadata.json, labelled test set labels.csv, preview dataset.json"
)
DATASETS.register_lazy(
    "dfdc_faces", "DFDC pre-cropped faces: one image folder per video + metadata.csv (no face extraction)"
)
DATASETS.register_lazy(
    "ffpp", "FaceForensics++: original/manipulated sequences (raw/c23/c40) and official split pairs"
)
DATASETS.register_lazy("folder", "A root with real/ and fake/ (or df/) subfolders of videos or images")

__all__ = [
    "DATASETS",
    "FAKE",
    "IMAGE_SUFFIXES",
    "REAL",
    "VIDEO_SUFFIXES",
    "DatasetAdapter",
    "DatasetError",
    "DatasetIndex",
    "Example",
    "RootGuard",
    "Skipped",
    "VideoRecord",
    "cache_root",
    "placeholder",
    "register_dataset",
    "strip_suffix",
]
