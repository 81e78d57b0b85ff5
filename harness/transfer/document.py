"""The result of one (source, attack, budget): its JSON with provenance, the per-video CSV beside
it, and the matrix table ``harness transfer`` prints.

One JSON per (source, attack, budget) at ``<results_dir>/<dataset>/transfer/<source>--<attack>-<tag>.json``
(:func:`result_path`), numbers as numbers, paths made portable, written atomically with
``<same name>.videos.csv`` (``video_id, label, <target>_clean, <target>_adv, ...``).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np

from harness.fileio import jsonable
from harness.provenance import portable
from harness.results import interval, number, write_result_files
from harness.transfer.config import (
    DELIVERY,
    SURROGATE_RESIZE,
    TRANSFER_SCHEMA,
    TransferConfig,
    TransferResult,
)
from harness.transfer.craft import Crafted
from harness.transfer.models import Model
from harness.transfer.score import Clean
from harness.transfer.store import store_root


def result_path(config: TransferConfig, result: dict[str, Any]) -> Path:
    """``<results_dir>/<dataset>/transfer/<source>--<attack>-<budget tag>.json``."""
    name = f"{result['source']}--{result['attack']}-{result['budget_tag']}.json"
    return Path(config.results_dir) / result["dataset"] / "transfer" / name


def document(
    config: TransferConfig,
    prep: Any,
    c: Crafted,
    source: Model,
    targets: dict[str, Any],
    n_videos: int,
    crop_size: tuple[int, int],
    provenance: dict[str, Any],
    start: float,
) -> dict[str, Any]:
    """The result of the examples ``c`` crafted on ``source``, scored by ``targets`` (per-target
    entries), with the resolved config, the store it reads and ``provenance``."""
    from harness.suites import strength_tag

    def short(value: Any) -> Any:
        return portable(value, config.data.cache_dir)

    attack = c.attack
    out = dataclasses.asdict(config)
    for key in ("root", "cache_dir"):
        out["data"][key] = short(out["data"][key])
    for key in ("results_dir", "leaderboard_dir", "store_dir"):
        out[key] = short(out[key])
    out["checkpoints"] = {k: short(v) for k, v in out["checkpoints"].items()}
    return {
        "schema_version": TRANSFER_SCHEMA,
        "kind": "transfer",
        "dataset": prep.manifest.dataset,
        "source": c.source,
        "attack": c.member.attack,
        "budget": attack.eps,
        "strength_param": attack.strength_param(),
        "strength": attack.strength_value,
        "budget_tag": strength_tag(attack.strength_param(), attack.strength_value),
        "norm": attack.norm,
        "uses_gradients": attack.uses_gradients,
        "black_box": attack.black_box,
        "attack_config": attack.resolved_config(),
        "attack_target": attack.config.target,
        "quantized": True,
        "crafted_at": {
            "resolution": list(crop_size),
            "source_input_size": list(c.spec["input_size"]),
            "surrogate_resize": SURROGATE_RESIZE,
            "delivery": DELIVERY,
        },
        "store": {
            "key": c.key,
            "dir": short(str(store_root(config) / c.key[:16])),
            "videos": len(c.paths),
            "crafted": c.crafted,
            "reused": c.reused,
        },
        "perturbation": c.stats,
        "target_order": list(config.columns),
        "targets": targets,
        "split": config.split,
        "aggregate": config.aggregate,
        "frames_per_video": config.frames_per_video,
        "n_videos": n_videos,
        "source_checkpoint": short(source.checkpoint),
        "source_checkpoint_sha256": source.sha256,
        "source_spec": c.spec,
        "split_manifest_hash": prep.manifest.hash,
        "seed": config.seed,
        "config": out,
        **provenance,
        "wall_seconds": time.perf_counter() - start,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def save_result(
    config: TransferConfig,
    result: dict[str, Any],
    clean: Clean,
    scores: dict[str, tuple[np.ndarray, np.ndarray]],
) -> tuple[Path, dict[str, Any]]:
    """Write ``result`` and its per-video scores (target -> (clean, attacked), in ``clean.ids``
    order) atomically; returns the path and the result as written."""
    path = result_path(config, result)
    columns: dict[str, Any] = {"video_id": clean.ids, "label": clean.labels}
    for name, (clean_scores, adv_scores) in scores.items():
        columns[f"{name}_clean"] = clean_scores
        columns[f"{name}_adv"] = adv_scores
    saved = jsonable(result)
    write_result_files(path, saved, columns)  # the CSV and the JSON together or not at all
    return path, saved


def format_matrix(result: TransferResult) -> str:
    """The table `harness transfer` prints: per budget, attacked AUROC [95% CI] source x target."""
    lines = []
    for tag in dict.fromkeys(r["budget_tag"] for r in result.results):
        rows = [r for r in result.results if r["budget_tag"] == tag]
        cols = rows[0]["target_order"]
        r0 = rows[0]
        lines.append(
            f"{r0['attack']} {tag} on {r0['dataset']} ({r0['split']}, {r0['n_videos']} videos): attacked "
            "AUROC [95% CI]; rows: source (crafted on), columns: target (scored by); *: white-box"
        )
        width = max(22, *(len(c) + 2 for c in cols))
        lines.append(f"{'source':<16}" + "".join(f"{c:>{width}}" for c in cols))
        clean = "".join(
            f"{_cell(r0['targets'][c]['auroc_clean'], r0['targets'][c]['auroc_clean_ci']):>{width}}"
            for c in cols
        )
        lines.append(f"{'(clean)':<16}" + clean)
        for r in rows:
            cells = ""
            for c in cols:
                t = r["targets"][c]
                text = _cell(t["auroc_adv"], t["auroc_adv_ci"]) + ("*" if t["white_box"] else " ")
                cells += f"{text:>{width}}"
            lines.append(f"{r['source']:<16}" + cells)
        crafted = sum(r["store"]["crafted"] for r in rows)
        reused = sum(r["store"]["reused"] for r in rows)
        lines.append(f"store: {crafted} videos crafted, {reused} reused; device {r0['device']}")
    lines.append("results: " + ", ".join(str(p) for p in result.paths))
    return "\n".join(lines)


def _cell(value: Any, ci: Any) -> str:
    v, bounds = number(value), interval(ci)
    if v is None:
        return "n/a"
    return f"{v:.3f} [{bounds[0]:.2f},{bounds[1]:.2f}]" if bounds else f"{v:.3f}"


__all__ = ["document", "format_matrix", "result_path", "save_result"]
