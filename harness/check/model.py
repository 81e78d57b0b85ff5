"""What a check finds, as data: one :class:`MemberDiff` per judged value, one :class:`CheckReport`.

The statuses are the words the table, the JUnit XML and the tests use; :data:`FAILING` are the
ones that fail the check (a JUnit failure), :data:`ERROR` a member that did not run (a JUnit error).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.check.config import PerturbationRule

CLEAN = "clean"  # the key of the clean-AUROC diff

# Statuses of a MemberDiff.
PASS = "pass"
WITHIN_CI = "within CI"
IMPROVED = "improved"
NEW = "new"
REGRESSION = "regression"
WEAKENED = "attack weakened"
CLEAN_REGRESSION = "clean regression"
MISSING = "missing"
UNDEFINED = "undefined"
ERROR = "error"
COLLAPSED = "perturbation collapsed"
FAILING = frozenset({REGRESSION, WEAKENED, CLEAN_REGRESSION, MISSING, UNDEFINED, COLLAPSED})


@dataclass(frozen=True)
class MemberDiff:
    """The verdict on one value: a suite member's attacked AUROC, or the clean AUROC (key ``clean``)."""

    key: str
    metric: str  # auroc_adv | auroc_clean
    status: str
    baseline: float | None
    current: float | None
    ci: tuple[float, float] | None  # this run's 95% bootstrap interval of `metric`
    message: str
    notes: tuple[str, ...] = ()

    @property
    def delta(self) -> float | None:
        if self.baseline is None or self.current is None:
            return None
        return self.current - self.baseline

    @property
    def failed(self) -> bool:
        """A regression (a JUnit failure)."""
        return self.status in FAILING

    @property
    def errored(self) -> bool:
        """The member did not run to the end (a JUnit error)."""
        return self.status == ERROR


@dataclass(frozen=True)
class CheckReport:
    """What ``check`` found: the diffs, the snapshot of this run, and what was written."""

    diffs: tuple[MemberDiff, ...]
    current: dict[str, Any]
    previous: dict[str, Any] | None  # the baseline compared with (None: no usable one)
    baseline_path: Path
    tolerance: float
    updated: bool = False
    junit_path: Path | None = None
    results: tuple[Path, ...] = ()
    seconds: float = 0.0
    notes: tuple[str, ...] = ()
    perturbation: PerturbationRule = field(default_factory=PerturbationRule)

    @property
    def problems(self) -> list[MemberDiff]:
        return [d for d in self.diffs if d.failed or d.errored]

    @property
    def passed(self) -> bool:
        return not self.problems


__all__ = [
    "CLEAN",
    "CLEAN_REGRESSION",
    "COLLAPSED",
    "ERROR",
    "FAILING",
    "IMPROVED",
    "MISSING",
    "NEW",
    "PASS",
    "REGRESSION",
    "UNDEFINED",
    "WEAKENED",
    "WITHIN_CI",
    "CheckReport",
    "MemberDiff",
]
