"""Flags derived from the results of one row: signs that a number is wrong, weak or overstated.

``gradient-masking`` (:func:`masking_flags`) and the sanity flags of :func:`sanity_flags`. Each
flag is a dict with ``code``, ``message`` (the evidence) and ``label`` (the badge text);
:data:`FLAG_HELP` explains every code on the page.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from harness.leaderboard.intervals import Interval, paired_diff_ci
from harness.leaderboard.load import VideoRecords
from harness.leaderboard.text import format_ci
from harness.results import interval, number, result_key

# A black-box attack this much below every white-box attack of its norm at >= its budget is suspect.
MASKING_MARGIN = 0.05
_TIE = 1e-9  # AUROC differences up to this are equal numbers, never evidence
_NORMS = {"linf": "L-inf", "l2": "L2"}

SANITY_CODES = (
    "apgd-weaker-than-pgd",
    "attack-helps-detector",
    "more-steps-weaker",
    "non-monotone-budget",
    "unperturbed-samples",
    "zero-gradients",
)

_BEYOND = (
    "beyond the interval: the paired 95% bootstrap interval of the difference (resampled by video "
    "from both results' records, or the result's own clean-minus-attacked interval) lies entirely "
    "above 0, or without records the two 95% intervals do not overlap; equal numbers never count"
)
FLAG_HELP = {
    "gradient-masking": "a black-box attack beats every white-box attack of its norm at the same or a "
    f"larger budget by more than {MASKING_MARGIN:g} AUROC: gradients are probably masked and the "
    "white-box numbers overstate robustness",
    "apgd-weaker-than-pgd": "APGD's attacked AUROC is above PGD's at the same norm and budget, "
    f"{_BEYOND}: APGD adapts its step size and should be at least as strong, so one of them is broken "
    "or under-run",
    "attack-helps-detector": "a white-box attack's attacked AUROC is above the clean AUROC, "
    f"{_BEYOND}: the attack pushes scores the wrong way (a sign or label bug)",
    "more-steps-weaker": "at the same norm and budget, a white-box attack with more gradient steps "
    "(FGSM counts 1; others their attack_config steps) has a higher attacked AUROC than one with "
    f"fewer, {_BEYOND} (APGD vs PGD has its own flag): the iterative attack is not converging",
    "non-monotone-budget": "the same attack (same norm and steps) at a larger budget has a higher "
    f"attacked AUROC than at a smaller one, {_BEYOND}: a larger budget must not make it weaker",
    "unperturbed-samples": "a gradient attack delivered some attacked samples exactly unchanged "
    "(metrics.unperturbed_fraction > 0): the attack did nothing on them, for example a perturbation "
    "rounded away by 8-bit quantization",
    "zero-gradients": "a gradient attack met an input gradient of exactly zero on some samples "
    "(metrics.zero_grad_fraction > 0): saturated or non-differentiable scores, so the white-box "
    "numbers may overstate robustness",
    "not-converged": "a white-box member's convergence check (--set convergence=true; on by default "
    "for checkpoints trained to be robust) found a stronger attack at the same budget (the same attack "
    "with 5x its steps, or APGD-CE with 3 restarts) that lowers its AUROC, the paired 95% bootstrap "
    "interval of the drop (the same videos resampled for both) lying entirely above 0: the member's "
    "number overstates robustness (the opposite case is more-steps-weaker)",
    "incomplete": "some standard-suite members were not evaluated: the worst case may be too kind",
    "mixed-checkpoints": "the row's results come from different checkpoints",
}


def flag(code: str, message: str, label: str | None = None) -> dict[str, str]:
    """A flag: ``code``, ``message`` and the badge ``label`` (the code unless given)."""
    return {"code": code, "message": message, "label": label or code}


def is_white_box(result: Mapping[str, Any]) -> bool:
    """A white-box attack delivered straight to the detector: it follows the detector's gradients,
    is not a query-only attack, and no codec stands between it and the detector (``pre``/``post``
    rows are another threat model: they are compared among themselves, not with these)."""
    return (
        result.get("uses_gradients") is True
        and result.get("black_box") is False
        and not result.get("pre")
        and not result.get("post")
        and result.get("threat", "crops") == "crops"
        and result.get("scope", "sample") == "sample"
    )


def _threat_key(result: Mapping[str, Any]) -> tuple[Any, ...]:
    """What must match for two results to be compared as stronger/weaker siblings: the codec
    ordering, the threat model (and its codec) and the scope of the perturbation."""
    threat = result.get("threat", "crops")
    codec = (result.get("threat_config") or {}).get("crf") if threat == "pipeline" else None
    return (result.get("pre"), result.get("post"), threat, codec, result.get("scope", "sample"))


def _adv(result: Mapping[str, Any]) -> float | None:
    return number(result["metrics"].get("auroc_adv"))


def masking_flags(results: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """``gradient-masking`` when a black-box attack beats every white-box one it should not beat.

    A white-box attack of the same norm with the same or a larger budget sees everything a
    black-box one sees plus the gradients: if the black-box attack's AUROC is lower by more than
    ``MASKING_MARGIN`` than all of them, the gradients are probably masked (obfuscated), and the
    white-box numbers overstate robustness (Athalye et al., 2018; Carlini et al., 2019).
    """
    notes = []
    for bb in results:
        a, budget = _adv(bb), number(bb.get("budget"))
        if not bb.get("black_box") or not bb.get("norm") or bb.get("pre") or bb.get("post"):
            continue
        if a is None or budget is None:
            continue
        white = []
        for w in results:
            w_adv, w_budget = _adv(w), number(w.get("budget"))
            if (
                w.get("uses_gradients")
                and w.get("norm") == bb["norm"]
                and w_budget is not None
                and w_budget >= budget - 1e-9
                and w_adv is not None
            ):
                white.append((w_adv, result_key(w)))
        if white and a < min(white)[0] - MASKING_MARGIN:
            best, key = min(white)
            names = ", ".join(sorted(k for _, k in white))
            notes.append(
                f"{result_key(bb)} (black-box) AUROC {a:.3f} is more than {MASKING_MARGIN:g} below every "
                f"white-box {_NORMS.get(bb['norm'], bb['norm'])} attack at the same or a larger budget "
                f"({names}; strongest {key} {best:.3f}): the gradients may be masked, so white-box "
                "numbers overstate robustness"
            )
    return [flag("gradient-masking", "; ".join(notes))] if notes else []


def _steps(result: Mapping[str, Any]) -> int | None:
    """Gradient steps of a white-box attack (per restart): ``attack_config.steps``, 1 for FGSM."""
    config = result.get("attack_config")
    steps = config.get("steps") if isinstance(config, Mapping) else None
    if isinstance(steps, int) and not isinstance(steps, bool) and steps > 0:
        return steps
    return 1 if result.get("attack") == "fgsm" else None


def _same_budget(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    x, y = number(a.get("budget")), number(b.get("budget"))
    if not a.get("norm") or a.get("norm") != b.get("norm") or x is None or y is None:
        return False
    return abs(x - y) <= 1e-9


def _beyond(
    x: float, x_ci: Interval | None, y: float, y_ci: Interval | None, paired: Interval | None
) -> str | None:
    """Why ``x`` is above ``y`` beyond the interval (or ``None`` when it is not).

    With a paired interval of ``x - y`` (the same videos resampled for both), its low end must be
    above 0; without one, ``x``'s 95% interval must lie entirely above ``y``'s. Equal numbers
    (within ``_TIE``) never are.
    """
    if x <= y + _TIE:
        return None
    if paired is not None:
        if paired[0] > _TIE:
            return f"paired 95% interval of the difference [{paired[0]:+.3f}, {paired[1]:+.3f}]"
        return None
    if x_ci is not None and y_ci is not None and x_ci[0] > y_ci[1] + _TIE:
        return (
            f"95% intervals [{x_ci[0]:.2f}, {x_ci[1]:.2f}] and [{y_ci[0]:.2f}, {y_ci[1]:.2f}] do not overlap"
        )
    return None


def _adv_above(a: Mapping[str, Any], b: Mapping[str, Any], records: Mapping[str, VideoRecords]) -> str | None:
    """Why ``a``'s attacked AUROC is above ``b``'s beyond the interval, or ``None``."""
    x, y = _adv(a), _adv(b)
    if x is None or y is None or x <= y + _TIE:
        return None  # the bootstrap below only where it can matter
    ra, rb = records.get(str(a.get("_path"))), records.get(str(b.get("_path")))
    paired = paired_diff_ci(ra, ra.adv, rb) if ra is not None and rb is not None else None
    ci_a, ci_b = interval(a["metrics"].get("auroc_adv_ci")), interval(b["metrics"].get("auroc_adv_ci"))
    return _beyond(x, ci_a, y, ci_b, paired)


def _helps(r: Mapping[str, Any], records: Mapping[str, VideoRecords]) -> str | None:
    """Why ``r``'s attacked AUROC is above its clean AUROC beyond the interval, or ``None``: the
    runner's paired ``auroc_drop_ci`` (clean minus attacked) when the result has one, else a paired
    bootstrap of its records, else the two intervals."""
    m = r["metrics"]
    adv, clean = number(m.get("auroc_adv")), number(m.get("auroc_clean"))
    if adv is None or clean is None or adv <= clean + _TIE:
        return None
    drop = interval(m.get("auroc_drop_ci"))
    rec = records.get(str(r.get("_path")))
    if drop is not None:
        paired: Interval | None = (-drop[1], -drop[0])
    else:
        paired = paired_diff_ci(rec, rec.adv) if rec is not None else None
    return _beyond(adv, interval(m.get("auroc_adv_ci")), clean, interval(m.get("auroc_clean_ci")), paired)


def _auc(r: Mapping[str, Any]) -> str:
    return f"{result_key(r)} {format_ci(_adv(r), None)}"


def _fraction_note(r: Mapping[str, Any], key: str, what: str) -> str | None:
    """``pgd@eps4of255: 25% of the attacked samples (3/12) ...`` when ``metrics[key] > 0``."""
    m = r["metrics"]
    frac = number(m.get(key))
    if frac is None or frac <= 0:
        return None
    count = ""
    n, k = m.get("n_attacked"), m.get("n_unperturbed")
    if key == "unperturbed_fraction" and isinstance(n, int) and isinstance(k, int):
        count = f" ({k}/{n})"
    note = f"{result_key(r)}: {frac:.1%} of the attacked samples{count} {what}"
    if key == "unperturbed_fraction" and r.get("quantized") is True:
        note += " (its adversarial frames were rounded to 8 bits: a perturbation under half a grey level vanishes)"
    return note


def _larger_budget(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    x, y = number(a.get("budget")), number(b.get("budget"))
    return x is not None and y is not None and x > y + 1e-9


def convergence_flags(results: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """``not-converged`` when a member's convergence check (``result["convergence"]``, written by
    :mod:`harness.runner.convergence`) holds a stronger attack whose AUROC is lower with the paired
    95% interval of the drop (member minus stronger) entirely above 0; derived from the stored
    numbers by the runner's rule, so the flag and the result's ``converged`` agree."""
    notes = []
    for r in results:
        block = r.get("convergence")
        if not isinstance(block, Mapping) or not isinstance(block.get("checks"), list):
            continue
        own = block.get("member")
        member = number(own.get("auroc")) if isinstance(own, Mapping) else None
        member = _adv(r) if member is None else member
        for check in block["checks"]:
            if not isinstance(check, Mapping):
                continue
            value, drop = number(check.get("auroc")), interval(check.get("drop_ci"))
            if member is None or value is None or drop is None:
                continue
            why = _beyond(member, None, value, None, drop)
            if why:
                notes.append(
                    f"{result_key(r)} {member:.3f} is above {_check_label(check)} {value:.3f}: {why}"
                )
    return [flag("not-converged", "; ".join(notes))] if notes else []


def _check_label(check: Mapping[str, Any]) -> str:
    """``pgd with 50 steps``, ``apgd with 3 restarts of 50 steps``: a stronger attack of a check."""
    attack, steps, restarts = check.get("attack", "?"), check.get("steps"), check.get("restarts")
    if isinstance(restarts, int) and restarts > 1:
        return f"{attack} with {restarts} restarts of {steps} steps"
    return f"{attack} with {steps} steps" if steps is not None else str(attack)


def sanity_flags(
    results: Sequence[Mapping[str, Any]], records: Mapping[str, VideoRecords] | None = None
) -> list[dict[str, str]]:
    """Flags for results that contradict how attacks must behave, so some number is wrong or weak.

    "Beyond the interval" (every flag here): the 95% paired bootstrap interval of the difference
    (resampled by video from the per-video records of both results, or the runner's
    ``auroc_drop_ci`` against clean) lies entirely above 0; without records, the two 95% intervals
    do not overlap. Equal numbers never raise a flag.

    - ``apgd-weaker-than-pgd``: APGD's attacked AUROC is above PGD's at the same norm and budget.
    - ``attack-helps-detector``: a white-box attack's attacked AUROC is above its clean AUROC.
    - ``more-steps-weaker``: at the same norm and budget, a white-box attack with more gradient
      steps (FGSM: 1; others ``attack_config.steps``) has a higher attacked AUROC than one with
      fewer (APGD vs PGD is left to its own flag).
    - ``non-monotone-budget``: the same attack (same norm and steps) at a larger budget has a
      higher attacked AUROC than at a smaller one.
    - ``unperturbed-samples`` / ``zero-gradients``: a gradient attack reports attacked samples
      delivered exactly unchanged (``metrics.unperturbed_fraction > 0``) or an input gradient
      exactly zero (``metrics.zero_grad_fraction > 0``); missing or null metrics raise nothing.
    """
    records = records or {}
    results = [r for r in results if isinstance(r.get("metrics"), Mapping)]
    white = [r for r in results if is_white_box(r)]
    notes: dict[str, list[str]] = {code: [] for code in SANITY_CODES}

    def apgd_vs_pgd(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
        return str(a.get("attack", "")).startswith("apgd") and str(b.get("attack", "")).startswith("pgd")

    for a in white:
        for b in white:
            if a is b or not _same_budget(a, b):
                continue
            sa, sb = _steps(a), _steps(b)
            if apgd_vs_pgd(a, b):
                code = "apgd-weaker-than-pgd"
            elif sa is not None and sb is not None and sa > sb:
                code = "more-steps-weaker"
            else:
                continue
            why = _adv_above(a, b, records)
            if why:
                steps = f" ({sa} steps vs {sb})" if code == "more-steps-weaker" else ""
                notes[code].append(f"{_auc(a)} is above {_auc(b)}{steps}: {why}")
        why = _helps(a, records)
        if why:
            clean = format_ci(number(a["metrics"].get("auroc_clean")), None)
            notes["attack-helps-detector"].append(f"{_auc(a)} is above clean {clean}: {why}")
    for a in results:
        for b in results:
            if (
                a.get("attack") != b.get("attack")
                or _threat_key(a) != _threat_key(b)
                or a.get("norm") != b.get("norm")
                or not a.get("norm")
                or _steps(a) != _steps(b)
                or not _larger_budget(a, b)
            ):
                continue
            why = _adv_above(a, b, records)
            if why:
                notes["non-monotone-budget"].append(f"{_auc(a)} (larger budget) is above {_auc(b)}: {why}")
    for r in results:
        if r.get("uses_gradients") is not True:
            continue
        for code, key, what in (
            ("unperturbed-samples", "unperturbed_fraction", "were delivered exactly unchanged"),
            ("zero-gradients", "zero_grad_fraction", "had an input gradient of exactly zero"),
        ):
            note = _fraction_note(r, key, what)
            if note:
                notes[code].append(note)
    return [flag(code, "; ".join(n)) for code, n in notes.items() if n]
