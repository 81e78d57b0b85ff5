"""What one ``harness check`` runs and how it is judged: :class:`CheckConfig` and its defaults.

:class:`PerturbationRule` holds the thresholds of the perturbation part of the rule (an attack
that silently stopped working); the rule itself is :mod:`harness.check.judge`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from harness.runner import RunConfig

DEFAULT_SUITE = "smoke"
DEFAULT_TOLERANCE = 0.02
DEFAULT_RESULTS_DIR = "runs/check"  # git-ignored; never the repo's results/ or leaderboards/

# The perturbation rule's defaults (PerturbationRule): when an attack counts as silently broken.
COLLAPSE_RATIO = 0.5  # a mean perturbation size below this fraction of the baseline's fails
COLLAPSE_FLOOR = 1e-4  # baseline sizes below this (pixel units) are not judged: nothing to collapse
PSNR_RISE_DB = 6.0  # mean PSNR up by more than this fails (6.02 dB = half the L2 size)
FRACTION_TOLERANCE = 0.1  # unperturbed / zero-gradient fraction up by more than this fails


def _finite_at_least(value: Any, low: float) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= low
    )


def check_tolerance(tolerance: Any) -> None:
    """Raise ``ValueError`` unless ``tolerance`` is a finite number >= 0."""
    if not (isinstance(tolerance, (int, float)) and math.isfinite(tolerance)) or tolerance < 0:
        raise ValueError(f"tolerance must be a number >= 0, got {tolerance!r}")


@dataclass(frozen=True)
class PerturbationRule:
    """When a member's perturbation counts as collapsed: the attack silently stopped working.

    ``size_ratio``: a mean perturbation size (``linf_mean`` and ``l2_mean`` of a budgeted attack,
    ``l2_mean`` of a perturbation without a budget) below this fraction of the baseline's fails
    (0 turns the size rule off); ``size_floor``: baseline sizes below it are not judged (a
    baseline that hardly perturbed has nothing to collapse from); ``psnr_rise_db``: for a
    perturbation without a budget, mean PSNR up by more than this many dB fails, and so does an
    infinite one (every sample unchanged); ``fraction_tolerance``: the fraction of attacked
    samples left unperturbed, or of samples with an all-zero input gradient, up by more than this
    (absolute) fails.
    """

    size_ratio: float = COLLAPSE_RATIO
    size_floor: float = COLLAPSE_FLOOR
    psnr_rise_db: float = PSNR_RISE_DB
    fraction_tolerance: float = FRACTION_TOLERANCE

    def __post_init__(self) -> None:
        if not (_finite_at_least(self.size_ratio, 0.0) and self.size_ratio <= 1.0):
            raise ValueError(f"size_ratio must be a number in [0, 1], got {self.size_ratio!r}")
        for name in ("size_floor", "psnr_rise_db", "fraction_tolerance"):
            if not _finite_at_least(getattr(self, name), 0.0):
                raise ValueError(f"{name} must be a number >= 0, got {getattr(self, name)!r}")


@dataclass(frozen=True)
class CheckConfig:
    """One ``harness check``: the run (a suite, default ``smoke``) and how it is judged.

    ``run.results_dir`` and ``run.leaderboard_dir`` are replaced by ``results_dir`` and
    ``results_dir/leaderboards``: a check never writes into the repo's results or leaderboards.
    ``perturbation``: the thresholds of the perturbation rule (an attack that stopped working).
    """

    baseline: str
    run: RunConfig = field(default_factory=lambda: RunConfig(suite=DEFAULT_SUITE))
    tolerance: float = DEFAULT_TOLERANCE
    junit: str | None = None
    update_baseline: bool = False
    results_dir: str = DEFAULT_RESULTS_DIR
    perturbation: PerturbationRule = field(default_factory=PerturbationRule)

    def __post_init__(self) -> None:
        if not self.baseline:
            raise ValueError("check needs --baseline PATH (a baseline JSON, written by --update-baseline)")
        check_tolerance(self.tolerance)


__all__ = [
    "COLLAPSE_FLOOR",
    "COLLAPSE_RATIO",
    "DEFAULT_RESULTS_DIR",
    "DEFAULT_SUITE",
    "DEFAULT_TOLERANCE",
    "FRACTION_TOLERANCE",
    "PSNR_RISE_DB",
    "CheckConfig",
    "PerturbationRule",
    "check_tolerance",
]
