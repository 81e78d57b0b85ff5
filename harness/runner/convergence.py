"""The convergence check of a white-box member: would more attack effort lower its AUROC?

A robust row is only credible when a stronger attack does not lower it further (Carlini et al.,
2019, "On evaluating adversarial robustness"; AutoAttack's restarts). For a white-box member (a
gradient attack, not black-box, delivered straight to the detector's crops, one perturbation per
sample; see :func:`plan`) the runner attacks the same videos again, at the same budget:

- ``steps``: the same attack with :data:`STEPS_FACTOR` (5) times its ``steps``, every other
  setting (step size, random start, seed: the same starting points) unchanged; none for an attack
  without ``steps`` (FGSM);
- ``apgd``: APGD-CE (step-size free, so a badly tuned step size cannot hide a weak member) with
  :data:`APGD_RESTARTS` (3) restarts at the member's L-inf budget: for an APGD member its own
  settings with 3x its restarts, for any other L-inf member 5x the member's steps per restart
  (FGSM: 5); none for other norms (APGD here is L-inf).

The rule (:data:`RULE`): the member has **not converged** when, for a check, the paired bootstrap
95% interval of ``AUROC(member) - AUROC(check)`` (the same video resamples for both: the run's
``n_boot`` and ``seed``, the resamples of the member's own intervals) lies entirely above 0: the
stronger attack lowers the AUROC by more than the interval allows. The result records the member's
and each check's AUROC with intervals, the paired interval of the drop and the verdict
(``result["convergence"]``), the checks' per-video scores beside the member's in its
``.videos.csv`` (``adv_score_steps``, ``adv_score_apgd``); the leaderboard flags a row
``not-converged`` from those numbers (:func:`harness.leaderboard.flags.convergence_flags`).

Each check is a resumable stage (its batches go to a resume log like the member's, named by the
check's own run key, so an identical check of two members of a run is computed once).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from harness.runner.compute import batch_to_device, check_finite, forward_probs, retrying

if TYPE_CHECKING:
    from harness.runner.context import RunContext

STEPS_FACTOR = 5  # the "steps" check: the member's attack with this many times its steps
APGD_RESTARTS = 3  # the "apgd" check: APGD-CE with this many restarts (times an APGD member's own)
_TIE = 1e-9  # drops up to this are equal numbers, never evidence
_ALPHA = 0.05  # 95% intervals
RULE = (
    "not converged when, for a stronger attack on the same videos at the same budget (the same attack "
    f"with {STEPS_FACTOR}x its steps; APGD-CE with {APGD_RESTARTS} restarts, each of {STEPS_FACTOR}x "
    f"the member's steps, or an APGD member's own settings with {APGD_RESTARTS}x its restarts), the "
    "paired bootstrap 95% interval of AUROC(member) - AUROC(stronger) (the same video resamples for "
    "both) lies entirely above 0"
)


@dataclass(frozen=True)
class Check:
    """One stronger attack of a member's check: ``name`` (``steps`` | ``apgd``) and the member
    that runs it (its options say ``convergence: false``: a check has no check of its own)."""

    name: str
    member: Any  # harness.suites.SuiteMember


def robust_checkpoint(meta: dict[str, Any] | None) -> bool:
    """Whether a checkpoint's metadata records training to be robust: adversarial training
    (``adversarial``) or Gaussian noise augmentation (``noise_sigma`` > 0)."""
    meta = meta or {}
    sigma = meta.get("noise_sigma")
    noisy = isinstance(sigma, (int, float)) and not isinstance(sigma, bool) and sigma > 0
    return bool(meta.get("adversarial")) or noisy


def wanted(config: Any, member: Any, checkpoint_meta: dict[str, Any] | None) -> bool:
    """Whether ``member`` asks for the check: its own ``convergence`` setting, else the run's
    ``convergence``, else (``None``, auto) whether the checkpoint was trained to be robust."""
    from harness.suites import member_convergence

    own = member_convergence(member.options)
    if own is not None:
        return own
    if config.convergence is not None:
        return bool(config.convergence)
    return robust_checkpoint(checkpoint_meta)


def _white_box(attack: Any, member: Any) -> bool:
    """A gradient attack, not black-box, delivered straight to the crops, per sample (what the
    leaderboard's :func:`~harness.leaderboard.flags.is_white_box` counts), without a fitting step."""
    from harness.suites import split_ordering
    from harness.threat import member_threat

    _, pre, post = split_ordering(member.options)
    return (
        attack.uses_gradients
        and not attack.black_box
        and not getattr(attack, "needs_fit", False)
        and pre is None
        and post is None
        and not member_threat(member.options).pipeline
        and attack.config.scope == "sample"
        and attack.norm in ("linf", "l2")
    )


def effort(attack: Any) -> tuple[int | None, int]:
    """``(steps, restarts)`` of a gradient attack: ``config.steps`` (1 for FGSM, ``None`` for an
    attack without steps) and ``config.n_restarts`` (1 without)."""
    steps = getattr(attack.config, "steps", None)
    if not isinstance(steps, int) or isinstance(steps, bool):
        steps = 1 if attack.name == "fgsm" else None
    restarts = getattr(attack.config, "n_restarts", 1)
    return steps, restarts if isinstance(restarts, int) and restarts >= 1 else 1


def plan(config: Any, member: Any, checkpoint_meta: dict[str, Any] | None) -> list[Check]:
    """The checks of ``member`` (empty: no check). An explicit ``convergence: true`` on a member
    that is not white-box is an error, since no check applies to it."""
    from harness.runner.config import create_member_attack
    from harness.suites import SuiteMember, member_convergence

    if not wanted(config, member, checkpoint_meta):
        return []
    attack = create_member_attack(config, member)
    if not _white_box(attack, member):
        if member_convergence(member.options):
            raise ValueError(
                f"{member.key}: convergence applies to white-box members only (a gradient attack "
                "on the crops, per sample, without pre/post codecs): remove 'convergence: true'"
            )
        return []
    options = {k: v for k, v in member.options.items() if k != "convergence"}
    checks = []
    steps, restarts = effort(attack)
    if steps is not None and "steps" in attack.config.__dataclass_fields__:
        stronger = {**options, "steps": steps * STEPS_FACTOR, "convergence": False}
        checks.append(Check("steps", SuiteMember(member.attack, stronger)))
    if attack.norm == "linf" and attack.eps is not None:
        if member.attack == "apgd":
            apgd = {**options, "n_restarts": restarts * APGD_RESTARTS}
        else:
            apgd = {"eps": attack.eps, "steps": (steps or 1) * STEPS_FACTOR, "n_restarts": APGD_RESTARTS}
            if "target" in options:
                apgd["target"] = options["target"]
        checks.append(Check("apgd", SuiteMember("apgd", {**apgd, "convergence": False})))
    return checks


def run_key_part(config: Any, member: Any, checkpoint_meta: dict[str, Any] | None) -> Any:
    """What the member's result depends on from its checks (``None`` without: run keys of members
    without a check are unchanged)."""
    checks = plan(config, member, checkpoint_meta)
    if not checks:
        return None
    return {"rule": RULE, "checks": [[c.name, c.member.attack, c.member.options] for c in checks]}


def _check_scores(ctx: RunContext, check: Check, progress: bool) -> tuple[np.ndarray, Any, float]:
    """Per-video attacked scores of a check on the run's evaluated videos (a resumable stage, named
    by the check's own run key), the attack that made them and its seconds."""
    from harness import metrics
    from harness.runner.config import create_member_attack
    from harness.runner.context import member_run_key, run_stage, unit_seed
    from harness.stream import unit_meta

    config, detector = ctx.config, ctx.detector
    attack = create_member_attack(config, check.member)
    oom: dict[str, int] = {}
    kind = detector.spec.kind

    def compute(unit: Any, batch: dict[str, Any]) -> dict[str, Any]:
        x = batch_to_device(batch["x"], ctx)
        y = batch["y"].to(ctx.device)
        seed = unit_seed(config.seed, unit.index)  # the member's seeds: the same random starts
        t0 = time.perf_counter()
        known = ctx.zero_grad.get(unit.index)
        zero_known = None if known is None else torch.tensor(known, dtype=torch.bool)
        ids = unit_meta(unit, ctx.refs, kind).video_ids

        def attack_all() -> list[Any]:
            size = oom.setdefault("batch", len(x))
            return [
                attack(
                    detector,
                    x[i : i + size],
                    y[i : i + size],
                    seed=seed + i,
                    zero_grad=None if zero_known is None else zero_known[i : i + size],
                    groups=ids[i : i + size],
                )
                for i in range(0, len(x), size)
            ]

        parts = retrying(attack_all, len(x), oom, ctx.device)
        x_adv = torch.cat([r.x_adv for r in parts])
        probs = retrying(lambda: forward_probs(ctx, x_adv, oom), len(x), oom, ctx.device)
        return {"p": probs.tolist(), "s": time.perf_counter() - t0}

    stage = member_run_key(ctx, check.member)
    label = f"convergence {check.name}: {check.member.attack} {check.member.tag}"
    records = run_stage(ctx, stage, list(ctx.units), compute, label, progress)
    rows = [records[u.index] for u in ctx.units]
    probs = np.concatenate([np.asarray(r["p"], dtype=np.float64) for r in rows])
    check_finite(probs, config.detector, f"attacked ({label})")
    _, scores = metrics.aggregate_by_video(ctx.meta.video_ids, probs, config.aggregate)
    return scores, attack, float(sum(float(r["s"]) for r in rows))


def _ci(values: np.ndarray) -> list[float]:
    from harness import metrics

    return list(metrics.percentile_ci(values, _ALPHA, 0.1))


def lowers(member_auroc: float, check_auroc: float, drop_ci: Any) -> bool:
    """:data:`RULE` on one check: the check's AUROC is lower and the paired interval of the drop
    lies entirely above 0 (the leaderboard's ``not-converged`` flag applies the same rule to the
    stored numbers)."""
    from harness.results import interval

    ci = interval(drop_ci)
    return check_auroc < member_auroc - _TIE and ci is not None and ci[0] > _TIE


def run_checks(
    ctx: RunContext, member: Any, attack: Any, adv_scores: np.ndarray, progress: bool
) -> tuple[dict[str, Any] | None, dict[str, np.ndarray], list[str]]:
    """Run ``member``'s checks (none: ``(None, {}, [])``): the result's ``convergence`` block, the
    checks' per-video scores (extra columns of the ``.videos.csv``) and the stages that only this
    member uses (dropped once its result is saved; the APGD check's stays until the run ends, as
    another member of the run may have the same check)."""
    from harness import metrics
    from harness.runner.context import member_run_key

    config = ctx.config
    checks = plan(config, member, ctx.detector.checkpoint_meta)
    if not checks:
        return None, {}, []
    steps, restarts = effort(attack)
    labels = ctx.labels
    block_checks, columns, own = [], {}, []
    auc = metrics.auroc(labels, adv_scores)
    member_ci: list[float] | None = None
    for check in checks:
        scores, stronger, seconds = _check_scores(ctx, check, progress)
        boots = metrics.boot_aurocs(labels, [adv_scores, scores], None, config.n_boot, config.seed)
        member_ci = _ci(boots[:, 0])
        drop_ci = _ci(boots[:, 0] - boots[:, 1])
        s_steps, s_restarts = effort(stronger)
        value = metrics.auroc(labels, scores)
        block_checks.append(
            {
                "name": check.name,
                "key": check.member.key,
                "attack": check.member.attack,
                "attack_config": stronger.resolved_config(),
                "steps": s_steps,
                "restarts": s_restarts,
                "total_steps": None if s_steps is None else s_steps * s_restarts,
                "auroc": value,
                "auroc_ci": _ci(boots[:, 1]),
                "drop": auc - value,
                "drop_ci": drop_ci,
                "lowers": lowers(auc, value, drop_ci),
                "attack_seconds": seconds,
            }
        )
        columns[f"adv_score_{check.name}"] = scores
        if check.name == "steps":
            own.append(member_run_key(ctx, check.member))
    block = {
        "rule": RULE,
        "steps_factor": STEPS_FACTOR,
        "apgd_restarts": APGD_RESTARTS,
        "member": {
            "key": member.key,
            "steps": steps,
            "restarts": restarts,
            "total_steps": None if steps is None else steps * restarts,
            "auroc": auc,
            "auroc_ci": member_ci,
        },
        "checks": block_checks,
        "converged": not any(c["lowers"] for c in block_checks),
    }
    return block, columns, own
