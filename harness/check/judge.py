"""The judging rule: a run's snapshot against a baseline, as pure functions (no I/O).

Per member and for clean AUROC ("taking the bootstrap interval into account"):

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
judged too (:class:`~harness.check.config.PerturbationRule`): the member fails as
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

Values are read at the snapshot's precision (:func:`~harness.check.snapshot.rounded`), so a
snapshot judges the same in memory as after a round trip through its baseline file.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from harness.check.config import PerturbationRule, check_tolerance
from harness.check.model import (
    CLEAN,
    CLEAN_REGRESSION,
    COLLAPSED,
    ERROR,
    IMPROVED,
    MISSING,
    NEW,
    PASS,
    REGRESSION,
    UNDEFINED,
    WEAKENED,
    WITHIN_CI,
    MemberDiff,
)
from harness.check.snapshot import count, rounded, rounded_interval

RULE = (
    "rule: a value fails when it moved beyond the tolerance ({tol:g}) AND the baseline lies outside this "
    "run's 95% bootstrap CI; attacked AUROC falling = regression, rising = attack weakened (both fail); "
    "clean AUROC falling fails; beyond the tolerance but inside the CI = 'within CI' (pass); "
    "no CI: the tolerance alone decides; a member also fails when its perturbation collapsed (mean "
    "size below {ratio:g}x the baseline's, or the unperturbed or zero-gradient fraction up more than "
    "{frac:g})"
)
_EPS = 1e-9  # float noise when a change equals the tolerance


def rule_text(tolerance: float, perturbation: PerturbationRule | None = None) -> str:
    """The rule in one line, with its thresholds (the footer of the table)."""
    rule = perturbation if perturbation is not None else PerturbationRule()
    return RULE.format(tol=tolerance, ratio=rule.size_ratio, frac=rule.fraction_tolerance)


def format_number(value: float | None, digits: int = 4) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def format_interval(ci: tuple[float, float] | None) -> str:
    return "no CI" if ci is None else f"[{ci[0]:.3f}, {ci[1]:.3f}]"


def _unperturbed_fraction(stats: Mapping[str, Any]) -> float | None:
    value = rounded(stats.get("unperturbed_fraction"))
    if value is None:
        n, k = count(stats.get("n_attacked")), count(stats.get("n_unperturbed"))
        value = k / n if n and k is not None else None
    return value


def _collapse_findings(base: Any, cur: Any, rule: PerturbationRule) -> list[str]:
    """What moved in a member's perturbation beyond the rule (empty: nothing, or nothing to compare)."""
    if not isinstance(base, Mapping) or not isinstance(cur, Mapping):
        return []
    norm = cur.get("norm") if "norm" in cur else base.get("norm")
    found = []
    for stat in ("linf_mean", "l2_mean") if norm is not None else ("l2_mean",):
        b, c = rounded(base.get(stat)), rounded(cur.get(stat))
        if b is not None and c is not None and b >= rule.size_floor and c < rule.size_ratio * b:
            found.append(f"{stat} {b:.6g} -> {c:.6g} (below {rule.size_ratio:g}x the baseline's)")
    if norm is None:
        b, c = rounded(base.get("psnr_mean")), rounded(cur.get("psnr_mean"))
        if b is not None and c is None and (count(cur.get("psnr_n_inf")) or 0) > 0:
            found.append(f"psnr_mean {b:.2f} dB -> inf (every sample unchanged)")
        elif b is not None and c is not None and c - b > rule.psnr_rise_db + _EPS:
            found.append(f"psnr_mean {b:.2f} -> {c:.2f} dB (+{c - b:.2f} dB > {rule.psnr_rise_db:g} dB)")
    tol = rule.fraction_tolerance
    b, c = _unperturbed_fraction(base), _unperturbed_fraction(cur)
    if b is not None and c is not None and c - b > tol + _EPS:
        n, k = count(cur.get("n_attacked")), count(cur.get("n_unperturbed"))
        counts = f", {k} of {n} attacked samples" if n is not None and k is not None else ""
        found.append(f"unperturbed fraction {b:.3f} -> {c:.3f} (+{c - b:.3f} > {tol:g}{counts})")
    b, c = rounded(base.get("zero_grad_fraction")), rounded(cur.get("zero_grad_fraction"))
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


def _config_notes(base: Any, cur: Any) -> tuple[str, ...]:
    if not isinstance(base, Mapping) or not isinstance(cur, Mapping) or base == cur:
        return ()
    changed = [
        f"{k} {base.get(k)!r} -> {cur.get(k)!r}"
        for k in sorted(set(base) | set(cur))
        if base.get(k) != cur.get(k)
    ]
    return ("attack settings changed: " + ", ".join(changed),)


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
    b, c = rounded(base), rounded(cur)
    ci = rounded_interval(ci_raw)
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
            f"95% CI {format_interval(ci)} (sampling noise)",
        )
    why = (
        f"beyond the tolerance {tolerance:g} and the baseline lies outside this run's 95% CI "
        f"{format_interval(ci)}"
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


def _judge_clean(baseline: Mapping[str, Any], current: Mapping[str, Any], tolerance: float) -> MemberDiff:
    base_clean, cur_clean = baseline.get("clean") or {}, current.get("clean")
    if cur_clean is None:
        return MemberDiff(
            CLEAN,
            "auroc_clean",
            ERROR,
            rounded(base_clean.get("auroc_clean")),
            None,
            None,
            "no member finished in this run: clean AUROC unknown",
        )
    return _judge(
        CLEAN,
        "auroc_clean",
        base_clean.get("auroc_clean"),
        cur_clean.get("auroc_clean"),
        cur_clean.get("auroc_clean_ci"),
        tolerance,
        attacked=False,
    )


def _judge_member(
    key: str, base: Mapping[str, Any], cur: Mapping[str, Any], tolerance: float, rule: PerturbationRule
) -> MemberDiff:
    """A member both sides have: its attacked AUROC, then its perturbation (which can fail it)."""
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
    if not findings:
        return diff
    return dataclasses.replace(
        diff,
        status=COLLAPSED,
        message=(
            f"perturbation collapsed: {'; '.join(findings)}: the attack {key} may have silently "
            "stopped working (zero gradients, a no-op, a broken adapter), which the AUROC alone "
            f"can miss; if intended, re-baseline with --update-baseline ({diff.message})"
        ),
    )


def compare(
    baseline: Mapping[str, Any],
    current: Mapping[str, Any],
    tolerance: float,
    perturbation: PerturbationRule | None = None,
) -> list[MemberDiff]:
    """Judge a run's snapshot against a baseline (both as :func:`~harness.check.snapshot.snapshot`
    makes them); no I/O.

    One diff for clean AUROC, then one per member: the baseline's members in their order, then
    members new in this run. The rule is in the module docstring; ``perturbation`` holds the
    thresholds of its perturbation part (default :class:`~harness.check.config.PerturbationRule`).
    """
    check_tolerance(tolerance)
    rule = perturbation if perturbation is not None else PerturbationRule()
    failed: Mapping[str, str] = current.get("failed_members") or {}
    diffs = [_judge_clean(baseline, current, tolerance)]

    base_members: Mapping[str, Any] = baseline.get("members") or {}
    cur_members: Mapping[str, Any] = current.get("members") or {}
    listed = [k for k in baseline.get("suite_members") or [] if k in base_members]
    for key in listed + sorted(k for k in base_members if k not in listed):
        base = base_members[key]
        if key in failed:
            message = f"the attack failed in this run: {failed[key]}"
            diffs.append(
                MemberDiff(key, "auroc_adv", ERROR, rounded(base.get("auroc_adv")), None, None, message)
            )
        elif key not in cur_members:
            message = (
                "in the baseline but not in this run (suite changed?): restore the member, or "
                "re-baseline on purpose with --update-baseline"
            )
            diffs.append(
                MemberDiff(key, "auroc_adv", MISSING, rounded(base.get("auroc_adv")), None, None, message)
            )
        else:
            diffs.append(_judge_member(key, base, cur_members[key], tolerance, rule))

    cur_order = [k for k in current.get("suite_members") or [] if k in cur_members or k in failed]
    cur_order += [k for k in list(cur_members) + list(failed) if k not in cur_order]
    for key in cur_order:
        if key in base_members:
            continue
        if key in failed:
            message = f"new member; its attack failed in this run: {failed[key]}"
            diffs.append(MemberDiff(key, "auroc_adv", ERROR, None, None, None, message))
            continue
        cur = cur_members[key]
        value = rounded(cur.get("auroc_adv"))
        message = (
            f"new member (not in the baseline): attacked AUROC {format_number(value)}; "
            "re-baseline with --update-baseline to track it"
        )
        ci = rounded_interval(cur.get("auroc_adv_ci"))
        diffs.append(MemberDiff(key, "auroc_adv", NEW, None, value, ci, message))
    return diffs


__all__ = ["RULE", "compare", "format_interval", "format_number", "rule_text"]
