"""What a transfer matrix is made of (:class:`TransferConfig`), what it returns
(:class:`TransferResult`), and the constants every result and stored example records."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.data import DataConfig
from harness.results import DEFAULT_RESULTS_DIR, number

TRANSFER_SCHEMA = 1
STORE_FORMAT = 1
SPLITS = ("test", "val", "train", "all")
SURROGATE_RESIZE = (
    "OpenCV's crop resize as an exact linear map (INTER_AREA box filter shrinking, INTER_LINEAR growing)"
)
DELIVERY = (
    "uint8 crops at the stored crop resolution, resized to each target's input with the harness's "
    "uint8 crop resize (OpenCV INTER_AREA shrinking, INTER_LINEAR growing)"
)


@dataclass(frozen=True)
class TransferConfig:
    """One transfer matrix; precedence CLI > YAML (``--config``) > these defaults.

    ``sources``: detectors the adversarial examples are crafted on (one matrix row each);
    ``targets``: detectors that score them (one column each; empty: the sources, a square matrix
    whose diagonal is white-box). Either may be given as a comma list. ``checkpoints``: weights
    per detector name (``{"cnn": "my_cnn.pt"}``); without one, the embedded benchmark's demo model
    is used (trained once). ``attack_options``: the attack's settings; its strength (``eps``) may
    be a list, one result per value. ``split``: the evaluated videos (``test``; thresholds are
    fixed on ``val``). ``fresh``: craft again even when the store holds the examples.
    ``store_dir``: the adversarial-example store (default ``<cache>/adversarial``).
    ``results_dir``: where the result files go (default ``runs/results``, git-ignored; the
    committed ``results/`` only when asked for). ``leaderboard_dir``: where the caller
    (``harness transfer``) regenerates the leaderboard of ``results_dir`` (default: ``leaderboards/``
    beside it); :func:`~harness.transfer.transfer` itself writes no leaderboard.
    """

    sources: tuple[str, ...] = ("xception",)
    targets: tuple[str, ...] = ()
    attack: str = "pgd"
    attack_options: dict[str, Any] = field(default_factory=dict)
    checkpoints: dict[str, str] = field(default_factory=dict)
    data: DataConfig = field(default_factory=DataConfig)
    split: str = "test"
    aggregate: str = "mean"
    frames_per_video: int | None = None
    batch_size: int = 16
    device: str = "auto"
    seed: int = 0
    n_boot: int = 1000
    workers: int = 2
    fresh: bool = False
    store_dir: str | None = None
    results_dir: str = DEFAULT_RESULTS_DIR
    leaderboard_dir: str | None = None  # None: leaderboards/ beside results_dir

    def __post_init__(self) -> None:
        for name in ("sources", "targets"):
            value = getattr(self, name)
            if isinstance(value, str):
                value = value.split(",")
            names = tuple(dict.fromkeys(str(v).strip() for v in value if str(v).strip()))
            object.__setattr__(self, name, names)
        if not self.sources:
            raise ValueError("transfer needs at least one source detector")
        if self.split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {self.split!r}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.workers < 0:
            raise ValueError(f"workers must be >= 0, got {self.workers}")

    @property
    def columns(self) -> tuple[str, ...]:
        """The target detectors (the sources when none were given)."""
        return self.targets or self.sources

    @property
    def detectors(self) -> tuple[str, ...]:
        """Every detector the matrix needs, each once: the sources, then the other targets."""
        return tuple(dict.fromkeys((*self.sources, *self.columns)))


@dataclass
class TransferResult:
    """The result files (one per source x budget) and their contents."""

    paths: list[Path]
    results: list[dict[str, Any]]

    def matrix(self, key: str = "auroc_adv", budget_tag: str | None = None) -> np.ndarray:
        """``(sources, targets)`` array of a per-target number (default attacked AUROC; NaN: none)."""
        rows = [r for r in self.results if budget_tag is None or r["budget_tag"] == budget_tag]
        if budget_tag is None and len({r["budget_tag"] for r in rows}) > 1:
            raise ValueError("several budgets: pass budget_tag")
        return np.array([[_float(r["targets"][t].get(key)) for t in r["target_order"]] for r in rows])


def _float(value: Any) -> float:
    v = number(value)
    return math.nan if v is None else v


__all__ = [
    "DELIVERY",
    "SPLITS",
    "STORE_FORMAT",
    "SURROGATE_RESIZE",
    "TRANSFER_SCHEMA",
    "TransferConfig",
    "TransferResult",
]
