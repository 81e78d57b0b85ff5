"""``harness run``: score a detector clean and under attack, write results, regenerate leaderboards.

``evaluate(RunConfig(...))`` is the library function behind the CLI (a notebook or CI script can
call it too). One JSON result per (detector, dataset, attack, budget), with the per-video records
beside it; leaderboards are regenerated from all results in ``results_dir``.
"""

from __future__ import annotations

import dataclasses
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from harness.data import DataConfig, PreparedData, load_split, prepare_dataset
from harness.datasets._splits import write_json_atomic

RESULT_SCHEMA = 2
VAL_FPR = 0.01  # the false-positive rate the *_at_val_fpr threshold allows on validation reals


def threshold_provenance(n_val_real: int, n_val_fake: int, both: bool, source: str) -> dict[str, Any]:
    """What the two thresholds of a result rest on, in words and counts (written into every result).

    ``threshold``: Youden's J (balanced accuracy) maximized on the clean validation video
    scores, placed midway between the best cut's score and the next lower one (0.5 when the
    validation scores lack a class). ``threshold_val_fpr``: the lowest observed validation score
    with at most ``VAL_FPR`` of the validation reals at or above it. With fewer than
    ``1 / VAL_FPR`` validation reals that means *no* validation real above it: the rates
    ``*_at_val_fpr`` are then "at zero validation false positives", not at 1% FPR, and say so.
    """
    allowed = int(VAL_FPR * n_val_real + 1e-9)
    if n_val_real == 0:
        fpr_rule = "undefined: no validation reals"
    elif allowed == 0:
        fpr_rule = (
            f"zero false positives among the {n_val_real} validation reals (a {VAL_FPR:.0%} FPR "
            f"needs >= {round(1 / VAL_FPR)} reals to mean more than that)"
        )
    else:
        fpr_rule = (
            f"at most {allowed} of the {n_val_real} validation reals at or above it ({VAL_FPR:.0%} FPR)"
        )
    return {
        "source": source,
        "n_val_real": n_val_real,
        "n_val_fake": n_val_fake,
        "threshold_rule": (
            "max Youden J on clean validation video scores, midway to the next lower score"
            if both
            else "0.5 (validation scores lack a class)"
        ),
        "val_fpr_target": VAL_FPR,
        "val_fpr_allowed_reals": allowed,
        "threshold_val_fpr_rule": fpr_rule,
    }


@dataclass(frozen=True)
class RunConfig:
    """One evaluation; precedence CLI > YAML (``--config``) > these defaults.

    The attack's strength setting in ``attack_options`` (``eps``, ``quality``, ``crf``, ...) may
    be a list: one result per value (a robustness curve). ``suite`` runs a suite's members instead.
    ``split``: ``"auto"`` evaluates the test split, except for a checkpoint that was not trained
    on this dataset (e.g. the published MesoNet weights on a folder of faces): then every video
    is unseen and all of them are evaluated. ``quantize`` (default on) rounds every attacked
    frame to the 8-bit grid inside its budget before scoring, as an attacker must deliver images
    or video; off only to study float perturbations (each result records which).
    ``save_adversarial``: a folder that receives the attacked crops exactly as scored, as 8-bit
    PNGs in ``real/<video_id>/`` and ``fake/<video_id>/`` (one sub-folder per member,
    ``<attack>-<strength>/``, when the run has several), readable by the ``folder`` dataset.
    """

    detector: str = "xception"
    attack: str = "pgd"
    checkpoint: str | None = None
    detector_options: dict[str, Any] = field(default_factory=dict)
    attack_options: dict[str, Any] = field(default_factory=dict)
    data: DataConfig = field(default_factory=DataConfig)
    suite: str | None = None  # a suite name (configs/suites/) or YAML path: run all its members
    split: str = "auto"  # auto | test | val | train | all
    aggregate: str = "mean"  # video score from frame scores: mean | median | max | mean_logit
    frames_per_video: int | None = (
        None  # frame detectors: score this many crops per video, evenly spaced (None: all)
    )
    batch_size: int = 16
    device: str = "auto"
    seed: int = 0
    n_boot: int = 1000
    quantize: bool = True  # attacked frames rounded to 8 bits inside the budget (what is deliverable)
    save_adversarial: str | None = None  # write the attacked crops as scored (PNG) under this folder
    results_dir: str = "results"
    leaderboard_dir: str = "leaderboards"


@dataclass
class RunResult:
    path: Path
    result: dict[str, Any]


def _library_versions() -> dict[str, str]:
    from importlib import metadata

    out = {"python": platform.python_version()}
    for dist in (
        "torch",
        "torchvision",
        "timm",
        "torchattacks",
        "adversarial-robustness-toolbox",
        "facenet-pytorch",
        "av",
        "opencv-python-headless",
        "numpy",
        "scikit-learn",
    ):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return out


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda:{torch.cuda.get_device_name(device)}"
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def budget_tag(eps: float | None) -> str:
    """A file-name-safe budget: ``4/255`` -> ``eps4of255`` when it is a multiple of 1/255."""
    from harness.suites import strength_tag

    return strength_tag("eps" if eps is not None else None, eps)


def _resolve_checkpoint(config: RunConfig, prep: PreparedData, progress: bool) -> str:
    if config.checkpoint:
        return config.checkpoint
    if config.data.dataset != "synthetic":
        raise ValueError(
            f"dataset {config.data.dataset!r} needs --checkpoint PATH (demo models exist only for the "
            "embedded benchmark; train one with `harness train` or use mesonet:Meso4_DF-style weights)"
        )
    from harness.train import ensure_demo_model

    return str(ensure_demo_model(config.detector, config.data, config.device, progress, prepared=prep))


def attack_plan(config: RunConfig) -> tuple[list[Any], str | None]:
    """The (attack, settings) members this run evaluates, and the suite name (if any).

    With ``suite``: its members. Otherwise ``attack`` with ``attack_options``, one member per
    value when its strength setting (``eps``, ``quality``, ...) is a list. Validated up front.
    """
    from harness.attacks import create_attack
    from harness.suites import expand_member, load_suite

    if config.suite:
        if config.attack_options:
            raise ValueError(
                "attack settings (--set attack.*) do not combine with --suite: a suite fixes its "
                "members' settings; copy the suite YAML and edit it instead"
            )
        suite = load_suite(config.suite)
        return list(suite.members), suite.name
    members = expand_member(config.attack, dict(config.attack_options))
    for m in members:
        create_attack(m.attack, **m.options)  # bad settings fail before any work
    return members, None


@dataclass
class _Context:
    """What every member of a run shares: data, detector, clean scores and thresholds."""

    config: RunConfig
    prep: PreparedData
    detector: Any
    device: torch.device
    checkpoint: str
    checkpoint_sha256: str
    split: str
    threshold_source: str
    eval_videos: list[Any]
    samples: Any
    clean_probs: np.ndarray
    video_ids: list[str]
    labels: np.ndarray
    clean_scores: np.ndarray
    threshold: float
    threshold_val_fpr: float | None
    thresholds: dict[str, Any]  # how the thresholds were fixed: rule and validation counts
    skipped: list[Any]
    start: float
    provenance: dict[str, Any]  # code version, library versions, device: looked up once per run


def _prepare(config: RunConfig, progress: bool, detector: Any = None) -> _Context:
    from harness import metrics
    from harness.checkpoint import sha256_file
    from harness.detectors import create_detector, resolve_checkpoint
    from harness.scoring import fake_probabilities, make_samples, resolve_device

    start = time.perf_counter()
    torch.manual_seed(config.seed)
    device = resolve_device(config.device)
    prep = prepare_dataset(config.data, progress=progress)
    if detector is None:
        ckpt = _resolve_checkpoint(config, prep, progress)
        detector = create_detector(config.detector, checkpoint=ckpt, **config.detector_options)
    elif not config.checkpoint:
        raise ValueError("a ready detector needs config.checkpoint: the weights file it was loaded from")
    else:
        ckpt = config.checkpoint
    detector = detector.to(device).eval()
    spec = detector.spec
    trained_here = detector.checkpoint_meta.get("dataset") == prep.manifest.dataset
    if trained_here and detector.checkpoint_meta.get("split_manifest_hash") not in (None, prep.manifest.hash):
        raise ValueError(
            f"checkpoint {ckpt} was trained on another split of {prep.manifest.dataset} (manifest "
            f"{detector.checkpoint_meta['split_manifest_hash'][:12]} vs {prep.manifest.short_hash}): its "
            "test videos may overlap this training data; use the same --set data.seed/protocol"
        )
    split = config.split if config.split != "auto" else ("test" if trained_here else "all")
    if split == "all":
        eval_videos = [v for s in ("train", "val", "test") for v in load_split(prep, s)]
        val_videos = eval_videos  # an unseen dataset: the threshold is fixed on its clean scores
        threshold_source = "clean scores of the evaluated videos (no held-out split)"
    else:
        eval_videos = load_split(prep, split)
        val_videos = load_split(prep, "val") if split != "val" else eval_videos
        threshold_source = "clean validation scores"
    if not eval_videos:
        raise ValueError(f"no usable videos in split {split!r} (see `harness data prepare`)")
    if config.frames_per_video is not None and spec.kind == "frame":
        eval_videos = subsample_frames(eval_videos, config.frames_per_video)
        val_videos = subsample_frames(val_videos, config.frames_per_video)

    # Thresholds fixed on clean validation scores.
    val = make_samples(val_videos, spec.kind, spec.input_size, spec.frames_per_clip)
    val_probs = fake_probabilities(detector, val.x, config.batch_size, device).numpy()
    _, val_scores = metrics.aggregate_by_video(val.video_ids, val_probs, config.aggregate)
    _, val_labels = metrics.video_labels(val.video_ids, val.labels.numpy())
    both = len(set(val_labels.tolist())) == 2
    thr = metrics.threshold_balanced(val_labels, val_scores) if both else 0.5
    n_val_real, n_val_fake = int((val_labels == 0).sum()), int((val_labels == 1).sum())
    thr_fpr = metrics.threshold_at_fpr(val_labels, val_scores, VAL_FPR) if n_val_real else None
    thresholds = threshold_provenance(n_val_real, n_val_fake, both, threshold_source)

    samples = make_samples(eval_videos, spec.kind, spec.input_size, spec.frames_per_clip)
    clean_probs = fake_probabilities(detector, samples.x, config.batch_size, device).numpy()
    vids, clean_scores = metrics.aggregate_by_video(samples.video_ids, clean_probs, config.aggregate)
    _, labels = metrics.video_labels(samples.video_ids, samples.labels.numpy())
    return _Context(
        config=config,
        prep=prep,
        detector=detector,
        device=device,
        checkpoint=ckpt,
        checkpoint_sha256=sha256_file(resolve_checkpoint(ckpt)),
        split=split,
        threshold_source=threshold_source,
        eval_videos=eval_videos,
        samples=samples,
        clean_probs=clean_probs,
        video_ids=vids,
        labels=labels,
        clean_scores=clean_scores,
        threshold=thr,
        threshold_val_fpr=thr_fpr,
        thresholds=thresholds,
        skipped=list(prep.manifest.skipped) + list(prep.report.skipped),
        start=start,
        provenance={
            "code_version": _code_version(),
            "libraries": _library_versions(),
            "device": _device_name(device),
        },
    )


def _run_member(
    ctx: _Context, member: Any, suite: str | None, progress: bool, n_members: int = 1
) -> RunResult:
    """Attack every sample with one member, score, summarize and write its result files."""
    from tqdm import tqdm

    from harness import metrics
    from harness.attacks import create_attack
    from harness.suites import strength_tag

    config, detector, samples = ctx.config, ctx.detector, ctx.samples
    attack = create_attack(
        member.attack, **{"seed": config.seed, **member.options, "quantize": config.quantize}
    )
    tag = strength_tag(attack.strength_param(), attack.strength_value)
    t0 = time.perf_counter()
    adv_probs = np.empty_like(ctx.clean_probs)
    n = len(samples.x)
    linf, l2, psnr = np.zeros(n), np.zeros(n), np.full(n, np.inf)
    attacked, unperturbed = np.zeros(n, bool), np.zeros(n, bool)
    zero_grad = np.zeros(n, bool) if attack.uses_gradients else None
    queries = 0
    label = f"{member.attack} {tag if tag != 'default' else ''}".strip()
    save_dir = _save_dir(config, member, tag, n_members)
    bar = tqdm(range(0, n, config.batch_size), desc=f"attack {label}", unit="batch", disable=not progress)
    for i in bar:
        sl = slice(i, min(n, i + config.batch_size))
        x = samples.x[sl].to(ctx.device)
        res = attack(detector, x, samples.labels[sl].to(ctx.device))
        queries += res.queries
        with torch.no_grad():
            adv_probs[sl] = torch.softmax(detector(res.x_adv).float(), 1)[:, 1].cpu().numpy()
        linf[sl], l2[sl] = res.linf.numpy(), res.l2.numpy()
        attacked[sl], unperturbed[sl] = res.attacked.cpu().numpy(), res.unperturbed.numpy()
        if zero_grad is not None and res.zero_grad is not None:
            zero_grad[sl] = res.zero_grad.numpy()
        psnr[sl] = metrics.psnr(x.flatten(1).cpu().numpy(), res.x_adv.flatten(1).cpu().numpy())
        if save_dir is not None:
            save_crops(save_dir, res.x_adv, samples, sl)
    if not np.isfinite(adv_probs).all():
        raise FloatingPointError(f"{config.detector}: non-finite scores under {label}; result not written")
    attack_seconds = time.perf_counter() - t0
    _, adv_scores = metrics.aggregate_by_video(samples.video_ids, adv_probs, config.aggregate)
    _, video_attacked = metrics.aggregate_by_video(samples.video_ids, attacked.astype(float), "max")
    summary = metrics.summarize(
        ctx.labels,
        ctx.clean_scores,
        adv_scores,
        threshold=ctx.threshold,
        threshold_val_fpr=ctx.threshold_val_fpr,
        attacked=video_attacked > 0,
        n_boot=config.n_boot,
        seed=config.seed,
    )
    n_attacked = int(attacked.sum())
    stats = (
        metrics.perturbation_stats(linf[attacked], l2[attacked], psnr[attacked])
        if n_attacked
        else (metrics.perturbation_stats(linf, l2, psnr))
    )
    result = {
        "schema_version": RESULT_SCHEMA,
        "detector": config.detector,
        "dataset": ctx.prep.manifest.dataset,
        "attack": member.attack,
        "suite": _portable(suite, config.data.cache_dir),
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
        "split": ctx.split,
        "threshold_source": ctx.threshold_source,
        "thresholds": ctx.thresholds,
        "aggregate": config.aggregate,
        "metrics": {
            **summary,
            **stats,
            "n_attacked": n_attacked,
            "n_unperturbed": int(unperturbed.sum()),
            "unperturbed_fraction": float(unperturbed.sum() / n_attacked) if n_attacked else None,
            "zero_grad_fraction": (
                float(zero_grad.sum() / n_attacked) if zero_grad is not None and n_attacked else None
            ),
            "queries": int(queries),
            "queries_per_sample": queries / max(1, n_attacked),
            "attack_seconds": attack_seconds,
            "n_samples": int(n),
            "n_skipped_videos": len(ctx.skipped),
        },
        "skipped": [dataclasses.asdict(s) for s in ctx.skipped],
        "detector_spec": detector.spec.to_dict(),
        "checkpoint": _portable(ctx.checkpoint, config.data.cache_dir),
        "checkpoint_sha256": ctx.checkpoint_sha256,
        "checkpoint_meta": detector.checkpoint_meta,
        "split_manifest_hash": ctx.prep.manifest.hash,
        "seed": config.seed,
        "config": _portable_config(config),
        **ctx.provenance,
        "wall_seconds": time.perf_counter() - ctx.start,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    path = result_path(config, result)
    _write_records(path.with_suffix(".videos.csv"), ctx.video_ids, ctx.labels, ctx.clean_scores, adv_scores)
    write_json_atomic(path, _jsonable(result))
    return RunResult(path, result)


def _save_dir(config: RunConfig, member: Any, tag: str, n_members: int) -> Path | None:
    if not config.save_adversarial:
        return None
    root = Path(config.save_adversarial)
    return root if n_members == 1 else root / f"{member.attack}-{tag}"


def save_crops(root: Path, x_adv: torch.Tensor, samples: Any, sl: slice) -> None:
    """Write attacked samples as 8-bit PNGs: ``root/{real,fake}/<video_id>/<frame>.png``.

    Frames: one file per crop, named by its frame index; clips: the clip's ``T`` frames
    (``t000.png`` ...). The values are the ones scored (quantized runs round-trip exactly).
    """
    import cv2

    arr = (x_adv.detach().float().cpu().clamp(0, 1) * 255).round().to(torch.uint8)
    for j, k in enumerate(range(sl.start, sl.stop)):
        vid, label, frame = samples.video_ids[k], int(samples.labels[k]), samples.frame_indices[k]
        folder = root / ("fake" if label == 1 else "real") / _safe_id(vid)
        folder.mkdir(parents=True, exist_ok=True)
        frames = arr[j][None] if arr.ndim == 4 else arr[j]
        for t, img in enumerate(frames):
            name = f"{frame:06d}.png" if frame >= 0 and arr.ndim == 4 else f"t{t:03d}.png"
            bgr = cv2.cvtColor(img.permute(1, 2, 0).numpy(), cv2.COLOR_RGB2BGR)
            if not cv2.imwrite(str(folder / name), bgr):
                raise OSError(f"could not write {folder / name}: check that the folder is writable")


def _safe_id(video_id: str) -> str:
    """A video id as one folder name (ids may hold '/': ``real/clip01`` -> ``real__clip01``)."""
    return video_id.replace("/", "__").replace("\\", "__")


def _portable(value: Any, cache: str | None = None) -> Any:
    """A path as it can be published: no absolute path of the machine the result was made on.

    Under the cache folder: ``$HARNESS_CACHE/...``; under the working folder: relative; under
    the home folder: ``~/...``; any other absolute path: its file name only.
    """
    if value is None:
        return None
    text = str(value)
    if not text.startswith("/"):
        return text
    from harness.datasets._base import cache_root

    roots = [
        (cache_root(cache).resolve(), "$HARNESS_CACHE/"),
        (Path.cwd().resolve(), ""),
        (Path.home(), "~/"),
    ]
    for root, short in roots:
        prefix = str(root).rstrip("/") + "/"
        if text.startswith(prefix):
            return short + text[len(prefix) :]
    return Path(text).name


def _portable_config(config: RunConfig) -> dict[str, Any]:
    out = dataclasses.asdict(config)
    cache = config.data.cache_dir
    for key in ("root", "cache_dir"):
        out["data"][key] = _portable(out["data"][key], cache)
    for key in ("results_dir", "leaderboard_dir", "save_adversarial", "checkpoint", "suite"):
        out[key] = _portable(out.get(key), cache)
    return out


def _code_version() -> str:
    from harness.version import code_version

    return code_version()


def subsample_frames(videos: list[Any], k: int) -> list[Any]:
    """Keep ``k`` evenly spaced crops of each video (all of them when it has fewer)."""
    from harness.datasets._faces import sample_indices
    from harness.scoring import VideoCrops

    if k < 1:
        raise ValueError(f"frames_per_video must be >= 1, got {k}")
    out = []
    for v in videos:
        if len(v.crops) <= k:
            out.append(v)
            continue
        picks = sample_indices(len(v.crops), k)
        out.append(VideoCrops(v.video_id, v.label, v.crops[picks], [v.frame_indices[i] for i in picks]))
    return out


class SuiteError(RuntimeError):
    """Some members of a run failed; the results of the others were written (``.results``)."""

    def __init__(self, message: str, results: list[RunResult]) -> None:
        super().__init__(message)
        self.results = results


def evaluate(
    config: RunConfig, progress: bool = True, detector: Any = None, members: list[Any] | None = None
) -> list[RunResult]:
    """Score clean once, then under every member (attack x strength); one result file each.

    ``detector``: a ready :class:`~harness.detectors.Detector` (a submission) instead of building
    ``config.detector`` from the zoo; ``config.checkpoint`` then names its weights file.
    ``members``: evaluate these (a filtered suite) instead of the plan from ``config``.

    Each result is written as soon as its member finishes, so an interrupted or failing run keeps
    the finished ones. A failing member of a multi-member run is reported and the others still
    run; the run then raises :class:`SuiteError` naming what failed.
    """
    from harness import metrics
    from harness.leaderboard import write_leaderboards

    if config.aggregate not in metrics.AGGREGATIONS:
        raise ValueError(f"aggregate must be one of {metrics.AGGREGATIONS}, got {config.aggregate!r}")
    planned, suite = attack_plan(config)
    members = planned if members is None else members
    ctx = _prepare(config, progress, detector)
    results: list[RunResult] = []
    failed: list[str] = []
    try:
        for member in members:
            if len(members) == 1:
                results.append(_run_member(ctx, member, suite, progress))
                continue
            try:
                results.append(_run_member(ctx, member, suite, progress, len(members)))
            except (RuntimeError, ValueError, FloatingPointError, OSError) as exc:
                failed.append(f"{member.key}: {exc}")
                print(f"harness: {member.key} failed, continuing with the others: {exc}")
    finally:
        if results:
            write_leaderboards(Path(config.results_dir), Path(config.leaderboard_dir))
    if failed:
        raise SuiteError(
            f"{len(failed)} of {len(members)} members failed ({len(results)} results written): "
            + "; ".join(failed),
            results,
        )
    return results


def result_path(config: RunConfig, result: dict[str, Any]) -> Path:
    name = f"{result['attack']}-{result['budget_tag']}.json"
    return Path(config.results_dir) / result["dataset"] / result["detector"] / name


def _write_records(path: Path, ids: list[str], labels: Any, clean: Any, adv: Any) -> None:
    import csv
    import os
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["video_id", "label", "clean_score", "adv_score"])
        for row in zip(ids, labels, clean, adv, strict=True):
            w.writerow([row[0], int(row[1]), f"{row[2]:.6f}", f"{row[3]:.6f}"])
    os.replace(tmp, path)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None if np.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, Path):
        return str(value)
    return value


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


__all__ = ["RunConfig", "RunResult", "SuiteError", "attack_plan", "evaluate", "format_table"]
