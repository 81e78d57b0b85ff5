"""``harness check``: run a suite, compare it with a committed baseline, fail CI on a regression.

``check(CheckConfig(...))`` runs the suite (default ``smoke``) with :func:`harness.runner.evaluate`
into the check's own results folder (default ``runs/check/``, never the repo's ``results/`` or
``leaderboards/``), and compares the numbers with a baseline JSON written earlier, on purpose, by
``--update-baseline``. The comparison itself, :func:`compare`, is a pure function of two dicts.

The rule ("taking the bootstrap interval into account"), per member and for clean AUROC:

* ``delta = current - baseline`` of the attacked AUROC (``auroc_adv``), or of the clean AUROC;
* ``|delta| <= tolerance``: **pass**;
* beyond the tolerance but the baseline value lies inside this run's 95% bootstrap interval:
  **within CI** (pass, shown in the table): the change is not larger than the sampling noise;
* beyond the tolerance and outside the interval:

  - attacked AUROC fell: **regression** (the detector got less robust) -> fail;
  - attacked AUROC rose: **attack weakened** (attacks must not regress either) -> fail;
  - clean AUROC fell: **clean regression** -> fail; clean AUROC rose: **improved** (pass, noted);

* no interval (one class, too few videos): the tolerance alone decides.

An attack that silently stops working (zero gradients, a no-op after a refactor, a broken
adapter) can keep the attacked AUROC inside a wide interval, so each member's perturbation is
judged too (:class:`PerturbationRule`, thresholds as named constants): the member fails as
**perturbation collapsed**, whatever its AUROC did, when

* its mean perturbation size fell below ``size_ratio`` (0.5) of the baseline's: ``linf_mean``
  or ``l2_mean`` for a budgeted attack, ``l2_mean`` for a perturbation without a budget (JPEG,
  blur, ...), whose mean PSNR rising by more than ``psnr_rise_db`` (6 dB, about half the L2
  size) or becoming infinite (every sample unchanged) fails too; baseline sizes below
  ``size_floor`` are not judged;
* the fraction of attacked samples left unperturbed, or of samples whose input gradient was all
  zero, rose by more than ``fraction_tolerance`` (0.1, absolute).

The statistics are optional on both sides (baselines written before them, results without the
newer keys): a statistic missing from either side is not judged.

A member in the baseline that this run lacks is **missing** (fail); a member this run has that
the baseline lacks is **new** (a note); a member whose attack failed is an **error**.
A baseline is only compared with a run of the same detector, dataset, suite and split manifest.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.runner import RunConfig

BASELINE_SCHEMA = 1
DEFAULT_SUITE = "smoke"
DEFAULT_TOLERANCE = 0.02
DEFAULT_RESULTS_DIR = "runs/check"
CLEAN = "clean"

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

# The perturbation rule's defaults (PerturbationRule): when an attack counts as silently broken.
COLLAPSE_RATIO = 0.5  # a mean perturbation size below this fraction of the baseline's fails
COLLAPSE_FLOOR = 1e-4  # baseline sizes below this (pixel units) are not judged: nothing to collapse
PSNR_RISE_DB = 6.0  # mean PSNR up by more than this fails (6.02 dB = half the L2 size)
FRACTION_TOLERANCE = 0.1  # unperturbed / zero-gradient fraction up by more than this fails

RULE = (
    "rule: a value fails when it moved beyond the tolerance ({tol:g}) AND the baseline lies outside this "
    "run's 95% bootstrap CI; attacked AUROC falling = regression, rising = attack weakened (both fail); "
    "clean AUROC falling fails; beyond the tolerance but inside the CI = 'within CI' (pass); "
    "no CI: the tolerance alone decides; a member also fails when its perturbation collapsed (mean "
    "size below {ratio:g}x the baseline's, or the unperturbed or zero-gradient fraction up more than "
    "{frac:g})"
)
_EPS = 1e-9  # float noise when a change equals the tolerance


def _finite_at_least(value: Any, low: float) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= low
    )


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
        if (
            not (isinstance(self.tolerance, (int, float)) and math.isfinite(self.tolerance))
            or self.tolerance < 0
        ):
            raise ValueError(f"tolerance must be a number >= 0, got {self.tolerance!r}")


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


# ---------------------------------------------------------------------------------------------
# Pure functions: snapshot, compatibility, comparison, table, JUnit.


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return round(float(value), 6)


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return int(value)


def _ci(value: Any) -> list[float] | None:
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        return None
    lo, hi = _num(value[0]), _num(value[1])
    return None if lo is None or hi is None else [lo, hi]


def member_key(result: Mapping[str, Any]) -> str:
    """``attack@tag`` of a result, the same key as :attr:`harness.suites.SuiteMember.key`."""
    return f"{result['attack']}@{result['budget_tag']}"


def snapshot(
    results: Sequence[Mapping[str, Any]],
    *,
    suite: str,
    suite_members: Sequence[str],
    tolerance: float,
    failed: Mapping[str, str] | None = None,
    code_version: str = "",
    created: str = "",
) -> dict[str, Any]:
    """The baseline-shaped summary of a run's result dicts (what ``--update-baseline`` writes).

    Numbers are rounded to 6 decimals and non-finite values become ``null``, so the file is
    readable and a snapshot compares with a baseline read back from disk exactly.
    """
    first = results[0] if results else {}
    members: dict[str, Any] = {}
    for r in results:
        m = r["metrics"]
        members[member_key(r)] = {
            "auroc_adv": _num(m.get("auroc_adv")),
            "auroc_adv_ci": _ci(m.get("auroc_adv_ci")),
            "auroc_clean": _num(m.get("auroc_clean")),
            "auroc_clean_ci": _ci(m.get("auroc_clean_ci")),
            "attack_config": _plain(r.get("attack_config") or {}),
            "perturbation": _perturbation(r),
        }
    clean = None
    if results:
        m = first["metrics"]
        clean = {
            "auroc_clean": _num(m.get("auroc_clean")),
            "auroc_clean_ci": _ci(m.get("auroc_clean_ci")),
            "n_videos": m.get("n_videos"),
        }
    out: dict[str, Any] = {
        "schema_version": BASELINE_SCHEMA,
        "detector": first.get("detector"),
        "dataset": first.get("dataset"),
        "suite": suite,
        "suite_members": list(suite_members),
        "split_manifest_hash": first.get("split_manifest_hash"),
        "checkpoint_sha256": first.get("checkpoint_sha256"),
        "code_version": code_version,
        "created": created,
        "tolerance": tolerance,
        "clean": clean,
        "members": members,
    }
    if failed:
        out["failed_members"] = dict(failed)
    return out


_PERTURBATION_FLOATS = (
    "linf_mean",
    "linf_max",
    "l2_mean",
    "l2_max",
    "psnr_mean",
    "psnr_min",
    "unperturbed_fraction",
    "zero_grad_fraction",
)
_PERTURBATION_INTS = ("n_samples", "psnr_n_inf", "n_attacked", "n_unperturbed")


def _perturbation(result: Mapping[str, Any]) -> dict[str, Any]:
    """A member's perturbation statistics, for the perturbation rule; absent keys become ``null``.

    ``norm`` (``linf``/``l2``, ``null`` for a perturbation without a budget) picks the sizes the
    rule compares; infinite PSNR (every sample unchanged) is stored as ``null``.
    """
    m = result.get("metrics") or {}
    out: dict[str, Any] = {"norm": result.get("norm")}
    out.update({k: _num(m.get(k)) for k in _PERTURBATION_FLOATS})
    out.update({k: _int(m.get(k)) for k in _PERTURBATION_INTS})
    quantized = result.get("quantized", m.get("quantized"))
    out["quantized"] = quantized if isinstance(quantized, bool) else None
    return out


def _unperturbed_fraction(stats: Mapping[str, Any]) -> float | None:
    value = _num(stats.get("unperturbed_fraction"))
    if value is None:
        n, k = _int(stats.get("n_attacked")), _int(stats.get("n_unperturbed"))
        value = k / n if n and k is not None else None
    return value


def _collapse_findings(base: Any, cur: Any, rule: PerturbationRule) -> list[str]:
    """What moved in a member's perturbation beyond the rule (empty: nothing, or nothing to compare)."""
    if not isinstance(base, Mapping) or not isinstance(cur, Mapping):
        return []
    norm = cur.get("norm") if "norm" in cur else base.get("norm")
    found = []
    for stat in ("linf_mean", "l2_mean") if norm is not None else ("l2_mean",):
        b, c = _num(base.get(stat)), _num(cur.get(stat))
        if b is not None and c is not None and b >= rule.size_floor and c < rule.size_ratio * b:
            found.append(f"{stat} {b:.6g} -> {c:.6g} (below {rule.size_ratio:g}x the baseline's)")
    if norm is None:
        b, c = _num(base.get("psnr_mean")), _num(cur.get("psnr_mean"))
        if b is not None and c is None and (_int(cur.get("psnr_n_inf")) or 0) > 0:
            found.append(f"psnr_mean {b:.2f} dB -> inf (every sample unchanged)")
        elif b is not None and c is not None and c - b > rule.psnr_rise_db + _EPS:
            found.append(f"psnr_mean {b:.2f} -> {c:.2f} dB (+{c - b:.2f} dB > {rule.psnr_rise_db:g} dB)")
    tol = rule.fraction_tolerance
    b, c = _unperturbed_fraction(base), _unperturbed_fraction(cur)
    if b is not None and c is not None and c - b > tol + _EPS:
        n, k = _int(cur.get("n_attacked")), _int(cur.get("n_unperturbed"))
        counts = f", {k} of {n} attacked samples" if n is not None and k is not None else ""
        found.append(f"unperturbed fraction {b:.3f} -> {c:.3f} (+{c - b:.3f} > {tol:g}{counts})")
    b, c = _num(base.get("zero_grad_fraction")), _num(cur.get("zero_grad_fraction"))
    if b is not None and c is not None and c - b > tol + _EPS:
        found.append(f"zero-gradient fraction {b:.3f} -> {c:.3f} (+{c - b:.3f} > {tol:g})")
    return found


def _perturbation_notes(base: Any, cur: Any) -> tuple[str, ...]:
    if not isinstance(base, Mapping) or not isinstance(cur, Mapping):
        return ()
    b, c = base.get("quantized"), cur.get("quantized")
    if isinstance(b, bool) and isinstance(c, bool) and b != c:
        return (f"quantized {b} -> {c} (adversarial images {'now' if c else 'no longer'} rounded to 8 bits)",)
    return ()


def _plain(value: Any) -> Any:
    """JSON-ready copy (tuples -> lists, non-finite floats -> null)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return _plain(value.item())
    return value


def check_compatible(
    baseline: Mapping[str, Any],
    *,
    detector: str | None,
    dataset: str | None,
    suite: str | None,
    split_manifest_hash: str | None = None,
    where: str = "the baseline",
) -> None:
    """Raise ``ValueError`` naming both sides when the baseline was made for another run.

    Detector, dataset and suite must match; the split-manifest hash too when both are known
    (another hash means other test videos: other dataset options, seed or protocol).
    """
    pairs = {"detector": detector, "dataset": dataset, "suite": suite}
    differ = [k for k, v in pairs.items() if v is not None and baseline.get(k) != v]
    if differ:
        theirs = ", ".join(f"{k} {baseline.get(k)!r}" for k in pairs)
        ours = ", ".join(f"{k} {v!r}" for k, v in pairs.items())
        raise ValueError(
            f"{where} was made for {theirs}, but this run is {ours} ({' and '.join(differ)} differ): "
            "pass the matching --detector/--dataset/--suite to compare, or write a baseline for this "
            "run on purpose with --update-baseline"
        )
    theirs_hash = baseline.get("split_manifest_hash")
    if split_manifest_hash and theirs_hash and theirs_hash != split_manifest_hash:
        raise ValueError(
            f"{where} was made on split manifest {str(theirs_hash)[:12]}, this run uses "
            f"{split_manifest_hash[:12]}: the test videos differ (other dataset options, data seed or "
            "protocol, or a changed benchmark); compare on the same data, or re-baseline on purpose "
            "with --update-baseline"
        )


def _fmt(value: float | None, digits: int = 4) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _fmt_ci(ci: Sequence[float] | None) -> str:
    return "no CI" if ci is None else f"[{ci[0]:.3f}, {ci[1]:.3f}]"


def _judge(
    key: str,
    metric: str,
    base: Any,
    cur: Any,
    ci_raw: Any,
    tolerance: float,
    *,
    attacked: bool,
    notes: tuple[str, ...] = (),
) -> MemberDiff:
    """Apply the rule (module docstring) to one value."""
    b, c = _num(base), _num(cur)
    ci_list = _ci(ci_raw)
    ci = (ci_list[0], ci_list[1]) if ci_list else None
    label = "attacked AUROC" if attacked else "clean AUROC"

    def diff(status: str, message: str) -> MemberDiff:
        return MemberDiff(key, metric, status, b, c, ci, message, notes)

    if c is None:
        if b is None:
            return diff(PASS, f"{label} undefined in the baseline and in this run")
        return diff(UNDEFINED, f"{label} undefined in this run (baseline {b:.4f}): one class or no videos?")
    if b is None:
        return diff(PASS, f"{label} {c:.4f}; undefined in the baseline")
    delta = c - b
    moved = f"{label} {b:.4f} -> {c:.4f} ({delta:+.4f})"
    if abs(delta) <= tolerance + _EPS:
        return diff(PASS, f"{moved}: within the tolerance {tolerance:g}")
    if ci is not None and ci[0] <= b <= ci[1]:
        return diff(
            WITHIN_CI,
            f"{moved}: beyond the tolerance {tolerance:g} but the baseline lies inside this run's "
            f"95% CI {_fmt_ci(ci)} (sampling noise)",
        )
    why = (
        f"beyond the tolerance {tolerance:g} and the baseline lies outside this run's 95% CI {_fmt_ci(ci)}"
        if ci is not None
        else f"beyond the tolerance {tolerance:g} (no bootstrap CI: the tolerance alone decides)"
    )
    if delta < 0:
        if attacked:
            return diff(REGRESSION, f"{moved}: {why}; the detector is less robust to {key}")
        return diff(CLEAN_REGRESSION, f"{moved}: {why}; the detector got worse on clean videos")
    if attacked:
        return diff(
            WEAKENED,
            f"{moved}: {why}; the attack {key} got weaker (or the detector was retrained: if intended, "
            "re-baseline with --update-baseline)",
        )
    return diff(IMPROVED, f"{moved}: {why}; clean AUROC improved (re-baseline to keep it)")


def _config_notes(base: Any, cur: Any) -> tuple[str, ...]:
    if not isinstance(base, Mapping) or not isinstance(cur, Mapping) or base == cur:
        return ()
    changed = [
        f"{k} {base.get(k)!r} -> {cur.get(k)!r}"
        for k in sorted(set(base) | set(cur))
        if base.get(k) != cur.get(k)
    ]
    return ("attack settings changed: " + ", ".join(changed),)


def compare(
    baseline: Mapping[str, Any],
    current: Mapping[str, Any],
    tolerance: float,
    perturbation: PerturbationRule | None = None,
) -> list[MemberDiff]:
    """Judge a run's snapshot against a baseline (both as :func:`snapshot` makes them); no I/O.

    One diff for clean AUROC, then one per member: the baseline's members in their order, then
    members new in this run. The rule is in the module docstring; ``perturbation`` holds the
    thresholds of its perturbation part (default :class:`PerturbationRule`).
    """
    if not math.isfinite(tolerance) or tolerance < 0:
        raise ValueError(f"tolerance must be a number >= 0, got {tolerance!r}")
    rule = perturbation if perturbation is not None else PerturbationRule()
    failed: Mapping[str, str] = current.get("failed_members") or {}
    diffs: list[MemberDiff] = []

    base_clean, cur_clean = baseline.get("clean") or {}, current.get("clean")
    if cur_clean is None:
        diffs.append(
            MemberDiff(
                CLEAN,
                "auroc_clean",
                ERROR,
                _num(base_clean.get("auroc_clean")),
                None,
                None,
                "no member finished in this run: clean AUROC unknown",
            )
        )
    else:
        diffs.append(
            _judge(
                CLEAN,
                "auroc_clean",
                base_clean.get("auroc_clean"),
                cur_clean.get("auroc_clean"),
                cur_clean.get("auroc_clean_ci"),
                tolerance,
                attacked=False,
            )
        )

    base_members: Mapping[str, Any] = baseline.get("members") or {}
    cur_members: Mapping[str, Any] = current.get("members") or {}
    listed = [k for k in baseline.get("suite_members") or [] if k in base_members]
    order = listed + sorted(k for k in base_members if k not in listed)
    for key in order:
        base = base_members[key]
        if key in failed:
            diffs.append(
                MemberDiff(
                    key,
                    "auroc_adv",
                    ERROR,
                    _num(base.get("auroc_adv")),
                    None,
                    None,
                    f"the attack failed in this run: {failed[key]}",
                )
            )
        elif key not in cur_members:
            diffs.append(
                MemberDiff(
                    key,
                    "auroc_adv",
                    MISSING,
                    _num(base.get("auroc_adv")),
                    None,
                    None,
                    "in the baseline but not in this run (suite changed?): restore the member, or "
                    "re-baseline on purpose with --update-baseline",
                )
            )
        else:
            cur = cur_members[key]
            diff = _judge(
                key,
                "auroc_adv",
                base.get("auroc_adv"),
                cur.get("auroc_adv"),
                cur.get("auroc_adv_ci"),
                tolerance,
                attacked=True,
                notes=_config_notes(base.get("attack_config"), cur.get("attack_config"))
                + _perturbation_notes(base.get("perturbation"), cur.get("perturbation")),
            )
            findings = _collapse_findings(base.get("perturbation"), cur.get("perturbation"), rule)
            if findings:
                diff = dataclasses.replace(
                    diff,
                    status=COLLAPSED,
                    message=(
                        f"perturbation collapsed: {'; '.join(findings)}: the attack {key} may have silently "
                        "stopped working (zero gradients, a no-op, a broken adapter), which the AUROC alone "
                        f"can miss; if intended, re-baseline with --update-baseline ({diff.message})"
                    ),
                )
            diffs.append(diff)
    cur_order = [k for k in current.get("suite_members") or [] if k in cur_members or k in failed]
    cur_order += [k for k in list(cur_members) + list(failed) if k not in cur_order]
    for key in cur_order:
        if key in base_members:
            continue
        if key in failed:
            diffs.append(
                MemberDiff(
                    key,
                    "auroc_adv",
                    ERROR,
                    None,
                    None,
                    None,
                    f"new member; its attack failed in this run: {failed[key]}",
                )
            )
            continue
        cur = cur_members[key]
        value = _num(cur.get("auroc_adv"))
        diffs.append(
            MemberDiff(
                key,
                "auroc_adv",
                NEW,
                None,
                value,
                _ci_tuple(cur.get("auroc_adv_ci")),
                f"new member (not in the baseline): attacked AUROC {_fmt(value)}; "
                "re-baseline with --update-baseline to track it",
            )
        )
    return diffs


def _ci_tuple(value: Any) -> tuple[float, float] | None:
    ci = _ci(value)
    return (ci[0], ci[1]) if ci else None


def render_table(
    diffs: Sequence[MemberDiff],
    tolerance: float = DEFAULT_TOLERANCE,
    verdict: bool = True,
    perturbation: PerturbationRule | None = None,
) -> str:
    """The diff table ``harness check`` prints, with a one-line verdict and the rule as footer.

    ``verdict=False`` (``--update-baseline``): the last line lists what changed instead.
    """
    width = max([len("member")] + [len(d.key) for d in diffs]) + 2
    header = (
        f"{'member':<{width}}{'metric':<14}{'baseline':>9}{'current':>9}{'delta':>9}  "
        f"{'95% CI (current)':<18}  status"
    )
    lines = [header, "-" * len(header)]
    for d in diffs:
        metric = "AUROC clean" if d.metric == "auroc_clean" else "AUROC attacked"
        delta = "" if d.delta is None else f"{d.delta:+.4f}"
        status = d.status.upper() if (d.failed or d.errored) else d.status
        lines.append(
            f"{d.key:<{width}}{metric:<14}{_fmt(d.baseline):>9}{_fmt(d.current):>9}{delta:>9}  "
            f"{_fmt_ci(d.ci) if d.current is not None else '':<18}  {status}"
        )
    problems = [d for d in diffs if d.failed or d.errored]
    lines.append("-" * len(header))
    for d in diffs:
        if d.status not in (PASS, NEW) or d.notes:
            for text in (d.message, *d.notes):
                lines.append(f"{d.key}: {text}")
    if not verdict:
        changed = [d.key for d in diffs if d.status != PASS or d.notes]
        lines.append(
            f"changed (beyond the tolerance, new, missing or other settings): {len(changed)} of "
            f"{len(diffs)} values" + (f" ({', '.join(changed)})" if changed else "")
        )
    elif problems:
        lines.append(
            f"FAILED: {len(problems)} of {len(diffs)} checks ("
            + ", ".join(f"{d.key}: {d.status}" for d in problems)
            + ")"
        )
    else:
        lines.append(f"passed: {len(diffs)} checks")
    rule = perturbation if perturbation is not None else PerturbationRule()
    lines.append(RULE.format(tol=tolerance, ratio=rule.size_ratio, frac=rule.fraction_tolerance))
    return "\n".join(lines)


def junit_xml(
    diffs: Sequence[MemberDiff],
    *,
    name: str = "harness check",
    classname: str = "harness.check",
    times: Mapping[str, float] | None = None,
    seconds: float = 0.0,
    timestamp: str | None = None,
    properties: Mapping[str, Any] | None = None,
) -> str:
    """JUnit XML for CI systems (GitLab, Jenkins, GitHub): one testsuite, one testcase per diff.

    A regression is a ``<failure>``, a member whose attack failed an ``<error>``, a new member
    (not judged) ``<skipped>``; every message carries the numbers.
    """
    import xml.etree.ElementTree as ET

    times = times or {}
    counts = {
        "tests": str(len(diffs)),
        "failures": str(sum(d.failed for d in diffs)),
        "errors": str(sum(d.errored for d in diffs)),
        "skipped": str(sum(d.status == NEW for d in diffs)),
        "time": f"{seconds:.3f}",
    }
    root = ET.Element("testsuites", {"name": name, **counts})
    suite = ET.SubElement(
        root,
        "testsuite",
        {
            "name": name,
            **counts,
            "timestamp": timestamp or time.strftime("%Y-%m-%dT%H:%M:%S"),
            "hostname": _hostname(),
        },
    )
    if properties:
        props = ET.SubElement(suite, "properties")
        for key, value in properties.items():
            ET.SubElement(props, "property", {"name": str(key), "value": "" if value is None else str(value)})
    for d in diffs:
        case = ET.SubElement(
            suite, "testcase", {"classname": classname, "name": d.key, "time": f"{times.get(d.key, 0.0):.3f}"}
        )
        text = "\n".join((d.message, *d.notes))
        if d.errored:
            ET.SubElement(case, "error", {"message": d.message, "type": d.status}).text = text
        elif d.failed:
            ET.SubElement(case, "failure", {"message": d.message, "type": d.status}).text = text
        elif d.status == NEW:
            ET.SubElement(case, "skipped", {"message": d.message})
        else:
            ET.SubElement(case, "system-out").text = f"{d.status}: {text}"
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _hostname() -> str:
    import socket

    try:
        return socket.gethostname() or "localhost"
    except OSError:
        return "localhost"


# ---------------------------------------------------------------------------------------------
# Files.


def load_baseline(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a baseline JSON; errors name the file and the fix."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(
            f"baseline {p} not found: write one on purpose with `harness check ... --baseline {p} "
            "--update-baseline`"
        )
    try:
        data = json.loads(p.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(
            f"baseline {p} is not readable JSON ({exc}); re-create it with --update-baseline"
        ) from exc
    if not isinstance(data, dict) or "members" not in data or "clean" not in data:
        raise ValueError(f"baseline {p} is not a harness check baseline (no 'members'/'clean')")
    version = data.get("schema_version")
    if version != BASELINE_SCHEMA:
        raise ValueError(
            f"baseline {p} has schema_version {version!r}; this harness reads {BASELINE_SCHEMA}: "
            "re-create it with --update-baseline"
        )
    return data


def write_baseline(path: str | os.PathLike[str], baseline: Mapping[str, Any]) -> Path:
    """Write a baseline atomically: sorted keys, indented, so diffs of the committed file read well."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    body = json.dumps(_plain(baseline), indent=2, sort_keys=True) + "\n"
    _write_text_atomic(p, body)
    return p


def _write_text_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# ---------------------------------------------------------------------------------------------
# The library function and the CLI.


def check(config: CheckConfig, progress: bool = True) -> CheckReport:
    """Run the suite and judge it against the baseline (or write the baseline, on purpose).

    A baseline for another detector, dataset or suite is refused before any work; a missing
    baseline is an error unless ``update_baseline``. Members that fail to run are errors in the
    report (the others still run). With ``update_baseline`` the previous baseline, if it fits,
    is compared with so the caller can print what changed; the new one is written only when
    every member ran.
    """
    from harness.runner import SuiteError, evaluate
    from harness.suites import load_suite
    from harness.version import code_version

    suite = load_suite(config.run.suite or DEFAULT_SUITE)
    keys = [m.key for m in suite.members]
    run = dataclasses.replace(
        config.run,
        suite=config.run.suite or DEFAULT_SUITE,
        results_dir=config.results_dir,
        leaderboard_dir=str(Path(config.results_dir) / "leaderboards"),
    )
    identity = {"detector": run.detector, "dataset": run.data.dataset, "suite": suite.name}
    previous: dict[str, Any] | None = None
    notes: list[str] = []
    if not config.update_baseline:
        previous = load_baseline(config.baseline)
        check_compatible(previous, **identity, where=f"baseline {config.baseline}")
    elif Path(config.baseline).is_file():
        try:
            previous = load_baseline(config.baseline)
            check_compatible(previous, **identity)
        except ValueError as exc:
            previous = None  # replaced on purpose; nothing comparable to show
            notes.append(f"replacing a baseline that does not compare with this run: {exc}")

    start = time.perf_counter()
    failed: dict[str, str] = {}
    try:
        results = evaluate(run, progress=progress)
    except SuiteError as exc:
        results = exc.results
        done = {member_key(r.result) for r in results}
        failed = _failure_messages(str(exc), [k for k in keys if k not in done])
    seconds = time.perf_counter() - start

    current = snapshot(
        [r.result for r in results],
        suite=suite.name,
        suite_members=keys,
        tolerance=config.tolerance,
        failed=failed,
        code_version=code_version(),
        created=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    )
    if previous is not None and current["split_manifest_hash"]:
        try:
            check_compatible(
                previous,
                **identity,
                split_manifest_hash=current["split_manifest_hash"],
                where=f"baseline {config.baseline}",
            )
        except ValueError as exc:
            if not config.update_baseline:
                raise
            previous = None
            notes.append(f"replacing a baseline that does not compare with this run: {exc}")
    empty = {"clean": None, "members": {}}
    diffs = compare(
        previous if previous is not None else empty, current, config.tolerance, config.perturbation
    )
    times = {member_key(r.result): float(r.result["metrics"].get("attack_seconds", 0.0)) for r in results}

    from harness.distributed import is_main

    updated = False
    junit_path = None
    if not is_main():  # under torchrun rank 0 alone writes the baseline and the JUnit file
        pass
    elif config.update_baseline:
        if not failed:
            write_baseline(config.baseline, current)
            updated = True
    elif config.junit:
        junit_path = Path(config.junit)
        name = f"harness check {run.detector}/{current['dataset'] or run.data.dataset}/{suite.name}"
        xml = junit_xml(
            diffs,
            name=name,
            classname=f"harness.check.{run.detector}.{suite.name}",
            times=times,
            seconds=seconds,
            properties={
                "baseline": config.baseline,
                "tolerance": config.tolerance,
                "baseline_checkpoint_sha256": previous.get("checkpoint_sha256") if previous else None,
                "checkpoint_sha256": current["checkpoint_sha256"],
                "split_manifest_hash": current["split_manifest_hash"],
                "code_version": current["code_version"],
            },
        )
        _write_text_atomic(junit_path, xml)
    return CheckReport(
        diffs=tuple(diffs),
        current=current,
        previous=previous,
        baseline_path=Path(config.baseline),
        tolerance=config.tolerance,
        updated=updated,
        junit_path=junit_path,
        results=tuple(r.path for r in results),
        seconds=seconds,
        notes=tuple(notes),
        perturbation=config.perturbation,
    )


def _failure_messages(text: str, keys: Sequence[str]) -> dict[str, str]:
    """Each failed member's reason, cut from :class:`SuiteError`'s ``"key: reason; key: reason"``."""
    starts = sorted((i, k) for k in keys if (i := text.find(f"{k}: ")) >= 0)
    out = {k: "failed (see the messages above)" for k in keys}
    for n, (i, k) in enumerate(starts):
        end = starts[n + 1][0] if n + 1 < len(starts) else len(text)
        out[k] = text[i + len(k) + 2 : end].rstrip("; ")
    return out


def _identity_changes(previous: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    out = []
    for key in ("checkpoint_sha256", "split_manifest_hash", "code_version", "suite_members", "tolerance"):
        if previous.get(key) != current.get(key):
            out.append(f"{key}: {previous.get(key)} -> {current.get(key)}")
    return out


def build_check_config(args: Any) -> CheckConfig:
    """A :class:`CheckConfig` from ``harness check`` flags (unset flags are absent: SUPPRESS)."""
    from harness.cli import _data_cli, _translate_sets
    from harness.config import build_config

    cli: dict[str, Any] = {
        k: getattr(args, k)
        for k in (
            "detector",
            "suite",
            "checkpoint",
            "device",
            "precision",
            "workers",
            "batch_size",
            "channels_last",
            "compile",
            "fresh",
        )
        if hasattr(args, k)
    }
    data = _data_cli(args)
    if data:
        cli["data"] = data
    run = build_config(
        RunConfig, getattr(args, "config", None), cli=cli, sets=_translate_sets(getattr(args, "set", None))
    )
    if not run.suite:
        run = dataclasses.replace(run, suite=DEFAULT_SUITE)
    return CheckConfig(
        baseline=args.baseline,
        run=run,
        tolerance=getattr(args, "tolerance", DEFAULT_TOLERANCE),
        junit=getattr(args, "junit", None),
        update_baseline=bool(getattr(args, "update_baseline", False)),
        results_dir=getattr(args, "results_dir", DEFAULT_RESULTS_DIR),
    )


def cli_check(args: Any) -> int:
    """``harness check``: 0 pass (or baseline written), 1 regression; usage errors raise (exit 2)."""
    config = build_check_config(args)
    report = check(config, progress=not getattr(args, "quiet", False))
    cur = report.current
    print(
        f"harness check: {cur['detector']} on {cur['dataset']}, suite {cur['suite']} "
        f"({len(cur['suite_members'])} members), {report.seconds:.0f}s; baseline {report.baseline_path}"
    )
    if config.update_baseline:
        if not report.updated:
            print(render_table(report.diffs, report.tolerance, perturbation=report.perturbation))
            print(
                f"harness check: baseline NOT written: {len(cur.get('failed_members', {}))} members failed "
                f"to run ({', '.join(cur.get('failed_members', {}))})"
            )
            return 1
        for note in report.notes:
            print(f"note: {note}")
        if report.previous is None:
            print("new baseline (no comparable previous one); its values:")
        else:
            print("what changed against the previous baseline:")
            for line in _identity_changes(report.previous, cur):
                print(f"  {line}")
        print(render_table(report.diffs, report.tolerance, verdict=False, perturbation=report.perturbation))
        print(f"harness check: baseline written to {report.baseline_path}")
        return 0
    print(render_table(report.diffs, report.tolerance, perturbation=report.perturbation))
    if report.previous and report.previous.get("checkpoint_sha256") != cur.get("checkpoint_sha256"):
        print(
            "note: the checkpoint differs from the baseline's (a demo model retrained on another machine "
            "may differ slightly); numbers are compared all the same"
        )
    if report.junit_path:
        print(f"junit: {report.junit_path}")
    return 0 if report.passed else 1


__all__ = [
    "CheckConfig",
    "CheckReport",
    "MemberDiff",
    "PerturbationRule",
    "build_check_config",
    "check",
    "check_compatible",
    "cli_check",
    "compare",
    "junit_xml",
    "load_baseline",
    "render_table",
    "snapshot",
    "write_baseline",
]
