"""A result's document: its numbers with everything they rest on (provenance), and the table
``harness run`` prints."""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING, Any

from harness.provenance import portable
from harness.results import RESULT_SCHEMA
from harness.runner.config import RunConfig, RunResult, codecs

if TYPE_CHECKING:
    from harness.runner.context import RunContext


def result_document(
    ctx: RunContext,
    member: Any,
    suite: str | None,
    attack: Any,
    tag: str,
    metrics: dict[str, Any],
    rows: list[dict[str, Any]],
    member_key: str,
) -> dict[str, Any]:
    """The JSON result of one member: its numbers (``metrics``) with everything they rest on."""
    from harness.detectors import detector_options
    from harness.threat import member_threat

    config, ordering = ctx.config, codecs(ctx.config, member)
    pre, post = ordering.pre_spec, ordering.post_spec
    return {
        "schema_version": RESULT_SCHEMA,
        "detector": config.detector,
        "dataset": ctx.prep.manifest.dataset,
        "attack": member.attack,
        "suite": portable(suite, config.data.cache_dir),
        "budget": attack.eps,
        "strength_param": attack.strength_param(),
        "strength": attack.strength_value,
        "budget_tag": tag,
        "norm": attack.norm,
        "uses_gradients": attack.uses_gradients,
        "black_box": attack.black_box,
        "attack_config": attack.resolved_config(),
        "target": attack.config.target,
        "quantized": bool(attack.config.quantize),
        "attack_fit": getattr(attack, "fit_info", None) or None,
        "ordering": "compress-then-attack" if pre else ("attack-then-compress" if post else "attack"),
        "pre": pre,
        "post": post,
        "threat": member_threat(member.options).model,
        "scope": attack.config.scope,
        "split": ctx.split,
        "threshold_source": ctx.threshold_source,
        "thresholds": ctx.thresholds,
        "aggregate": config.aggregate,
        "metrics": metrics,
        "skipped": [dataclasses.asdict(s) for s in ctx.skipped],
        "detector_spec": ctx.detector.spec.to_dict(),
        "detector_options": detector_options(ctx.detector),
        "checkpoint": portable(ctx.checkpoint, config.data.cache_dir),
        "checkpoint_sha256": ctx.checkpoint_sha256,
        "checkpoint_meta": ctx.detector.checkpoint_meta,
        "split_manifest_hash": ctx.prep.manifest.hash,
        "seed": config.seed,
        "config": portable_config(config),
        **ctx.provenance,
        "run_key": member_key,
        "execution": {
            "batch_size": config.batch_size,
            "batches": len(rows),
            "workers": config.workers,
            "oom_halvings": int(max(r.get("oom", 0) for r in rows)) if rows else 0,
            "smallest_batch": int(
                min(min(int(r.get("b", config.batch_size)) for r in rows), config.batch_size)
            )
            if rows
            else config.batch_size,
            "batches_resumed_here": int(ctx.batches.get("resumed", 0)),
        },
        "wall_seconds": time.perf_counter() - ctx.start,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def portable_config(config: RunConfig) -> dict[str, Any]:
    """The resolved config as written into a result: paths made publishable."""
    out = dataclasses.asdict(config)
    cache = config.data.cache_dir
    for key in ("root", "cache_dir"):
        out["data"][key] = portable(out["data"][key], cache)
    for key in ("results_dir", "leaderboard_dir", "save_adversarial", "checkpoint", "suite"):
        out[key] = portable(out.get(key), cache)
    return out


def _f(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) else float("nan")


def format_table(results: list[RunResult]) -> str:
    """The compact table `harness run` prints."""
    lines = [
        f"{'detector':<16}{'dataset':<11}{'attack':<13}{'budget':<10}{'AUROC clean':>20}{'AUROC attacked':>20}"
        f"{'drop':>7}{'ASR':>6}{'Linf':>8}{'PSNR':>7}{'videos':>7}{'sec':>7}"
    ]
    for r in results:
        m = r.result["metrics"]

        def ci(key: str, m: dict[str, Any] = m) -> str:
            lo, hi = m.get(f"{key}_ci") or [None, None]
            v = m.get(key)
            if v is None:
                return "n/a"
            return f"{v:.3f} [{lo:.2f},{hi:.2f}]" if lo is not None and hi is not None else f"{v:.3f}"

        budget = r.result["budget_tag"] if r.result["budget_tag"] != "default" else "-"
        asr = m.get("asr_all")
        psnr = m.get("psnr_mean")
        lines.append(
            f"{r.result['detector']:<16}{r.result['dataset']:<11}{r.result['attack']:<13}{budget:<10}"
            f"{ci('auroc_clean'):>20}{ci('auroc_adv'):>20}{_f(m.get('auroc_drop')):>7.3f}"
            f"{_f(asr):>6.2f}{m.get('linf_max', 0):>8.4f}"
            f"{(psnr if isinstance(psnr, float) else float('nan')):>7.1f}{m['n_videos']:>7}"
            f"{r.result['wall_seconds']:>7.0f}"
        )
    if results:
        r0 = results[0].result
        lines.append(
            f"split {r0['split']}, video score = {r0['aggregate']} of frame fake-probabilities; "
            f"95% bootstrap CIs by video; {r0['metrics']['n_skipped_videos']} videos skipped; device {r0['device']}"
        )
        lines.append("results: " + ", ".join(str(r.path) for r in results))
    return "\n".join(lines)
