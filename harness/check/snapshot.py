"""A run's results as a baseline-shaped snapshot, and whether a baseline fits this run.

:func:`snapshot` is what ``--update-baseline`` writes and what :func:`harness.check.judge.compare`
reads on both sides. Its numbers are stored at :data:`DIGITS` decimals (:func:`rounded`), so a
snapshot in memory compares exactly as it would after a round trip through its file.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from harness.results import interval, number, result_key

BASELINE_SCHEMA = 1
DIGITS = 6  # decimals a baseline stores (readable files, exact round trips)


def rounded(value: Any) -> float | None:
    """A stored number at the snapshot's precision (:data:`DIGITS` decimals); ``None`` if not finite."""
    value = number(value)
    return None if value is None else round(value, DIGITS)


def rounded_interval(value: Any) -> tuple[float, float] | None:
    """A stored ``[low, high]`` interval at the snapshot's precision, else ``None``."""
    ci = interval(value)
    return None if ci is None else (round(ci[0], DIGITS), round(ci[1], DIGITS))


def count(value: Any) -> int | None:
    """A stored count as an ``int``; ``None`` when missing, not finite or a bool."""
    value = number(value)
    return None if value is None else int(value)


def plain(value: Any) -> Any:
    """A JSON-ready copy as a baseline stores it: tuples -> lists, non-finite floats -> ``null``."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return plain(value.item())
    return value


def _stored_interval(value: Any) -> list[float] | None:
    ci = rounded_interval(value)
    return None if ci is None else list(ci)


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
    out.update({k: rounded(m.get(k)) for k in _PERTURBATION_FLOATS})
    out.update({k: count(m.get(k)) for k in _PERTURBATION_INTS})
    quantized = result.get("quantized", m.get("quantized"))
    out["quantized"] = quantized if isinstance(quantized, bool) else None
    return out


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
    readable and a snapshot compares with a baseline read back from disk exactly. ``failed``:
    each member that did not run, with its reason.
    """
    first = results[0] if results else {}
    members: dict[str, Any] = {}
    for r in results:
        m = r["metrics"]
        members[result_key(r)] = {
            "auroc_adv": rounded(m.get("auroc_adv")),
            "auroc_adv_ci": _stored_interval(m.get("auroc_adv_ci")),
            "auroc_clean": rounded(m.get("auroc_clean")),
            "auroc_clean_ci": _stored_interval(m.get("auroc_clean_ci")),
            "attack_config": plain(r.get("attack_config") or {}),
            "perturbation": _perturbation(r),
        }
    clean = None
    if results:
        m = first["metrics"]
        clean = {
            "auroc_clean": rounded(m.get("auroc_clean")),
            "auroc_clean_ci": _stored_interval(m.get("auroc_clean_ci")),
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


def identity_changes(previous: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """What besides the numbers differs between two snapshots (checkpoint, data, code, suite, tolerance)."""
    out = []
    for key in ("checkpoint_sha256", "split_manifest_hash", "code_version", "suite_members", "tolerance"):
        if previous.get(key) != current.get(key):
            out.append(f"{key}: {previous.get(key)} -> {current.get(key)}")
    return out


__all__ = [
    "BASELINE_SCHEMA",
    "DIGITS",
    "check_compatible",
    "count",
    "identity_changes",
    "plain",
    "rounded",
    "rounded_interval",
    "snapshot",
]
