"""The result of ``harness certify`` (:mod:`harness.certify`): its JSON with the certified AUROC
curve and provenance, the per-video table beside it, and the table the command prints."""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from harness.certify import CertifyConfig, CertifyResult

CERTIFY_SCHEMA = 1


def document(
    config: CertifyConfig,
    ctx: Any,
    row: str,
    key: str,
    k0: np.ndarray,
    k: np.ndarray,
    m: np.ndarray,
) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    """The result JSON (curve, per-frame summary, provenance) and its per-video table."""
    from harness import metrics
    from harness.detectors import detector_options
    from harness.metrics import certified as cert
    from harness.provenance import portable

    vids = np.asarray(ctx.meta.video_ids)
    frame_labels = np.asarray(ctx.meta.labels, dtype=np.int64)
    lo, hi = cert.clopper_pearson(k, config.n, config.alpha)
    curve = cert.certified_auroc_curve(
        vids, frame_labels, lo, hi, config.sigma, config.radii, config.aggregate, config.n_boot, config.seed
    )
    prediction, radius = cert.frame_certificates(k0, config.n0, k, config.n, config.alpha, config.sigma)
    for point in curve:
        point["certified_accuracy_frames"] = cert.certified_accuracy(
            prediction, radius, frame_labels, point["radius"]
        )
    ids, smoothed = metrics.aggregate_by_video(vids, m, config.aggregate)
    _, labels = metrics.video_labels(vids, frame_labels)
    est = metrics.auroc_with_ci(labels, smoothed, None, config.n_boot, seed=config.seed)
    videos: dict[str, list[Any]] = {
        "video_id": list(ids),
        "label": labels.tolist(),
        "score": smoothed.tolist(),
    }
    for r in config.radii:
        _, _, v_lo, v_hi = cert.certified_video_scores(
            vids, frame_labels, lo, hi, config.sigma, r, config.aggregate
        )
        videos[f"low_r{r:g}"] = v_lo.tolist()
        videos[f"high_r{r:g}"] = v_hi.tolist()
    cfg = dataclasses.asdict(config)
    for name in ("root", "cache_dir"):
        cfg["data"][name] = portable(cfg["data"][name], config.data.cache_dir)
    for name in ("checkpoint", "results_dir", "leaderboard_dir"):
        cfg[name] = portable(cfg[name], config.data.cache_dir)
    cfg["radii"] = list(config.radii)
    detector = ctx.detector
    return {
        "schema_version": CERTIFY_SCHEMA,
        "kind": "certify",
        "detector": row,
        "base_detector": config.detector,
        "dataset": ctx.prep.manifest.dataset,
        "sigma": config.sigma,
        "n": config.n,
        "n0": config.n0,
        "alpha": config.alpha,
        "score": config.score,
        "bound": (
            f"two-sided {1 - config.alpha:g} Clopper-Pearson interval on g per frame from n Bernoulli "
            + (
                "draws 1{U < f(x + noise)} (mean exactly g)"
                if config.score == "soft"
                else "draws 1{f(x + noise) > 0.5}"
            )
        ),
        "threat_model": "any L2 perturbation of norm <= radius of every frame the detector sees "
        "([0, 1] pixels of its input crop)",
        "family_wise_alpha": min(1.0, len(k) * config.alpha),
        "radii": list(config.radii),
        "curve": curve,
        "auroc_smoothed": est["value"],
        "auroc_smoothed_ci": [est["low"], est["high"]],
        "frames_abstained": int((prediction < 0).sum()),
        "n_videos": len(ids),
        "n_frames": len(k),
        "split": ctx.split,
        "aggregate": config.aggregate,
        "skipped": [dataclasses.asdict(s) for s in ctx.skipped],
        "detector_spec": detector.spec.to_dict(),
        "detector_options": {
            **detector_options(detector),
            "smoothing_sigma": config.sigma,
            "smoothing_n": config.n,
            "smoothing_seed": config.seed,
        },
        "checkpoint": portable(ctx.checkpoint, config.data.cache_dir),
        "checkpoint_sha256": ctx.checkpoint_sha256,
        "checkpoint_meta": detector.checkpoint_meta,
        "split_manifest_hash": ctx.prep.manifest.hash,
        "seed": config.seed,
        "config": cfg,
        **ctx.provenance,
        "run_key": key,
        "wall_seconds": time.perf_counter() - ctx.start,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }, videos


def format_certify(result: CertifyResult) -> str:
    """The table ``harness certify`` prints: certified AUROC (and frame accuracy) per radius."""
    r = result.result
    lines = [
        f"{r['detector']} on {r['dataset']}: sigma {r['sigma']:g}, n {r['n']}, n0 {r['n0']}, alpha {r['alpha']:g} "
        f"({r['score']}); {r['n_videos']} videos, {r['n_frames']} frames, split {r['split']}",
        f"smoothed AUROC (Monte Carlo estimate) {_ci(r['auroc_smoothed'], r.get('auroc_smoothed_ci'))}",
        f"{'L2 radius':>10}{'certified AUROC':>24}{'certified acc (frames)':>25}",
    ]
    for p in r["curve"]:
        lines.append(
            f"{p['radius']:>10g}{_ci(p['certified_auroc'], p.get('certified_auroc_ci')):>24}"
            f"{p['certified_accuracy_frames']:>25.3f}"
        )
    lines.append(
        f"each frame's interval fails with probability <= {r['alpha']:g} (all hold with probability >= "
        f"{1 - r['family_wise_alpha']:.3g}); 95% bootstrap CIs by video"
    )
    if result.path is not None:
        lines.append(f"result: {result.path}")
    return "\n".join(lines)


def _ci(value: Any, ci: Any) -> str:
    from harness.results import interval, number

    v = number(value)
    if v is None:
        return "n/a"
    c = interval(ci)
    return f"{v:.3f} [{c[0]:.2f},{c[1]:.2f}]" if c else f"{v:.3f}"


__all__ = ["CERTIFY_SCHEMA", "document", "format_certify"]
