"""``harness certify``: the certified AUROC of a randomized-smoothing detector.

For every evaluated frame ``x`` (the test split, streamed from the face cache like ``harness
run``), the base detector scores ``n`` noisy copies ``x + N(0, sigma^2 I)`` (and ``n0`` more for
the class certificate). The score ``g(x)`` (``score="soft"``, default: the smoothed fake
probability ``E[f(x + noise)]``, the same ``g`` a ``--set detector.smoothing_sigma=...`` row
estimates; ``"hard"``: the probability that the base detector says fake, Cohen et al.) is the
mean of a Bernoulli draw per copy (``soft``: ``1{U < f(x + noise)}`` with ``U`` uniform, whose
mean is exactly ``g(x)``; ``hard``: ``1{f(x + noise) > 0.5}``), so the two-sided
Clopper-Pearson interval at ``1 - alpha`` holds ``g(x)`` exactly as stated, for any ``n``. From
there :mod:`harness.metrics.certified`: the certified range of every frame and video at each
radius, and the certified AUROC curve with bootstrap intervals over videos.

What the certificate assumes: an attacker who changes every frame the detector sees by at most
``r`` in L2 norm (on the ``[0, 1]`` crop the detector takes, all channels; for a clip detector,
every clip, all its frames together); a statement about the smoothed ``g``, not about one Monte
Carlo estimate of it; and each frame's interval failing with probability at most ``alpha`` (all
hold with probability at least ``1 - frames * alpha``, recorded as ``family_wise_alpha``).

The noise of every frame is seeded by the seed, the video id and the crop's index in the face
cache (never by the rank or the batch), so under torchrun the frames are shared among processes
by video (:func:`harness.runner.context.run_stage`: resumable, gathered) and the numbers equal
one process's. One JSON at ``<results_dir>/<dataset>/<row>/certify-sigma<sigma>.json`` (beside
the row's ``harness run`` results; ``row``: ``--name``, else ``<detector>-smooth<sigma>``, the
row a smoothed ``harness run`` writes) and its per-video table (``.videos.csv``).
"""

from __future__ import annotations

import dataclasses
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.certify_document import CERTIFY_SCHEMA, document, format_certify
from harness.data import DataConfig
from harness.results import DEFAULT_RESULTS_DIR

SCORES = ("soft", "hard")
BOUND = "clopper-pearson"


@dataclass(frozen=True)
class CertifyConfig:
    """One certification; precedence CLI > YAML (``--config``) > these defaults.

    ``sigma``: the smoothing noise (``[0, 1]`` pixel units, not clamped); ``n``: Monte Carlo
    samples per frame for the interval; ``n0``: more samples per frame that select the class of
    the per-frame class certificate (Cohen et al.'s CERTIFY, what ART computes); ``alpha``: each
    frame's failure probability; ``radii``: the L2 radii of the curve; ``score``: ``soft`` or
    ``hard`` (see the module docs). ``noise_batch``: noisy copies per pass through the detector
    (speed and memory only). ``name``: the leaderboard row (default ``<detector>-smooth<sigma>``).
    The rest as in :class:`~harness.runner.RunConfig`.
    """

    detector: str = "xception"
    checkpoint: str | None = None
    name: str | None = None
    detector_options: dict[str, Any] = field(default_factory=dict)
    data: DataConfig = field(default_factory=DataConfig)
    sigma: float = 0.25
    n: int = 1000
    n0: int = 100
    alpha: float = 0.001
    radii: tuple[float, ...] = (0.0, 0.1, 0.25, 0.5)
    score: str = "soft"
    split: str = "auto"
    aggregate: str = "mean"
    frames_per_video: int | None = None
    batch_size: int = 16  # frames per batch (each becomes n0 + n noisy copies)
    noise_batch: int = 256  # noisy copies per pass through the detector
    device: str = "auto"
    seed: int = 0
    n_boot: int = 1000
    workers: int = 2
    precision: str = "fp32"
    fresh: bool = False
    results_dir: str = DEFAULT_RESULTS_DIR
    leaderboard_dir: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "radii", tuple(float(r) for r in self.radii))
        if not (math.isfinite(self.sigma) and self.sigma > 0):
            raise ValueError(f"sigma must be > 0, got {self.sigma}")
        if self.n < 1 or self.n0 < 1:
            raise ValueError(f"n and n0 must be >= 1, got n={self.n}, n0={self.n0}")
        if not 0 < self.alpha < 1:
            raise ValueError(f"alpha must be in (0, 1), got {self.alpha}")
        if not self.radii or any(not (math.isfinite(r) and r >= 0) for r in self.radii):
            raise ValueError(f"radii must be a non-empty list of L2 radii >= 0, got {list(self.radii)}")
        if self.score not in SCORES:
            raise ValueError(f"score must be one of {', '.join(SCORES)}, got {self.score!r}")
        smoothing = sorted(k for k in self.detector_options if k.startswith("smoothing_"))
        if smoothing:
            raise ValueError(
                f"certify smooths the base detector itself: use --sigma/--n (and --set noise_batch=...), "
                f"not detector.{', detector.'.join(smoothing)}"
            )


@dataclass
class CertifyResult:
    """A certification as data: the JSON document, its per-video table and where it was saved."""

    result: dict[str, Any]
    videos: dict[str, list[Any]]
    path: Path | None = None


def row_name(config: CertifyConfig) -> str:
    """The leaderboard row a certification is filed under."""
    from harness.smoothing import smoothed_row_name

    return config.name or str(smoothed_row_name(config.detector, {"smoothing_sigma": config.sigma}))


def result_path(results_dir: str | Path, dataset: str, row: str, sigma: float) -> Path:
    """``<results_dir>/<dataset>/<row>/certify-sigma<sigma>.json``."""
    from harness.smoothing import sigma_tag

    return Path(results_dir) / dataset / row / f"certify-sigma{sigma_tag(sigma)}.json"


def _run_config(config: CertifyConfig) -> Any:
    from harness.runner import RunConfig

    return RunConfig(
        detector=config.detector,
        checkpoint=config.checkpoint,
        name=config.name,
        detector_options=dict(config.detector_options),
        data=config.data,
        split=config.split,
        aggregate=config.aggregate,
        frames_per_video=config.frames_per_video,
        batch_size=config.batch_size,
        device=config.device,
        seed=config.seed,
        n_boot=config.n_boot,
        workers=config.workers,
        precision=config.precision,
        fresh=config.fresh,
        results_dir=config.results_dir,
        leaderboard_dir=config.leaderboard_dir,
    )


def params(config: CertifyConfig) -> dict[str, Any]:
    """What the per-frame draws depend on besides the run's data and detector."""
    return {
        "sigma": config.sigma,
        "n": config.n,
        "n0": config.n0,
        "score": config.score,
        "seed": config.seed,
        "noise": "gaussian, not clamped; blocks of 32 copies per seed",
    }


def frame_seeds(seed: int, video_id: str, crop: int) -> dict[str, int]:
    """The seeds of one frame's draws (noise and Bernoulli draws of the selection and of the
    estimation samples), from the run's seed, the video id and the crop's index in the face
    cache: never from the rank or the batch."""
    from harness.smoothing import mix_seed

    base = mix_seed(seed, "certify", video_id, crop)
    return {part: mix_seed(base, part) for part in ("select", "estimate", "select-draws", "estimate-draws")}


def draw_counts(p: np.ndarray, score: str, seeds: list[int]) -> np.ndarray:
    """Fake draws per row of ``p`` (``(N, n)`` fake probabilities of noisy copies): ``soft``,
    ``1{U < p}`` with ``U`` uniform from each row's seed; ``hard``, ``1{p > 0.5}``."""
    if score == "hard":
        return (p > 0.5).sum(axis=1).astype(np.int64)
    if not seeds:
        return np.zeros(len(p), dtype=np.int64)
    u = np.stack([np.random.default_rng(s).random(p.shape[1]) for s in seeds])
    return (u < p).sum(axis=1).astype(np.int64)


def certify_batch(
    detector: Any, x: Any, keys: list[tuple[str, int]], config: CertifyConfig
) -> dict[str, list[Any]]:
    """Counts of one batch of frames ``x`` (on the detector's device): ``k0`` (fake draws of
    ``n0``), ``k`` (of ``n``) and ``m`` (the mean fake probability of the ``n`` copies)."""
    import torch

    from harness.smoothing import fake_probability, noisy_scores

    seeds = [frame_seeds(config.seed, vid, crop) for vid, crop in keys]

    def score(z: torch.Tensor) -> torch.Tensor:
        return fake_probability(detector.base_logits(z))

    def probs(part: str, n: int) -> np.ndarray:
        with torch.no_grad():
            seeds_ = [s[part] for s in seeds]
            return noisy_scores(score, x, seeds_, config.sigma, n, config.noise_batch).cpu().numpy()

    p0, p = probs("select", config.n0), probs("estimate", config.n)
    k0 = draw_counts(p0, config.score, [s["select-draws"] for s in seeds])
    k = draw_counts(p, config.score, [s["estimate-draws"] for s in seeds])
    return {"k0": k0.tolist(), "k": k.tolist(), "m": p.mean(axis=1).tolist()}


def _frame_keys(unit: Any, refs: list[Any], kind: str) -> list[tuple[str, int]]:
    """(video id, crop index) of every sample of a unit (clips: crop -1)."""
    out = []
    for pos, crops in unit.parts:
        ref = refs[pos]
        if kind == "clip":
            out.append((ref.video_id, -1))
        else:
            out += [(ref.video_id, int(c)) for c in crops]
    return out


def certify(config: CertifyConfig, progress: bool = True) -> CertifyResult:
    """Certify ``config.detector`` smoothed at ``config.sigma`` on the evaluated split; save the
    result (rank 0) and return it. Streams from the face cache; resumes after a kill; under
    torchrun the videos are shared among the processes (same numbers as one process)."""
    from harness import distributed, metrics
    from harness.records import remove
    from harness.results import ResultStore, write_result_files
    from harness.runner.compute import batch_to_device
    from harness.runner.context import digest, prepare, run_stage
    from harness.workflow import ensure_detector

    if config.aggregate not in metrics.AGGREGATIONS:
        raise ValueError(f"aggregate must be one of {metrics.AGGREGATIONS}, got {config.aggregate!r}")
    row = row_name(config)
    run_config = _run_config(config)
    with distributed.process_group(config.device) as w:
        progress = progress and w.main
        run_config, detector = ensure_detector(run_config, progress)
        run_config = dataclasses.replace(run_config, detector=row)
        store = ResultStore(config.results_dir)
        ctx = prepare(run_config, detector, store, progress)
        summary = {k: getattr(config, k) for k in ("alpha", "radii", "aggregate", "n_boot")}
        key = digest({**ctx.key, "certify": params(config), **summary})  # what the result depends on
        path = result_path(config.results_dir, ctx.prep.manifest.dataset, row, config.sigma)
        done = distributed.broadcast(_finished(path, key, config) if w.main else None)
        if done is not None:
            if w.main:
                print(
                    f"harness: already certified (same code, data, checkpoint and settings): {path}; "
                    "--fresh recomputes",
                    file=sys.stderr,
                )
            return CertifyResult(done, {}, path)
        stage = f"certify-{digest(params(config))}"
        if config.fresh:
            distributed.barrier()
            if w.main:
                remove(ctx.state_dir / stage)
            distributed.barrier()
        kind = detector.spec.kind

        def compute(unit: Any, batch: dict[str, Any]) -> dict[str, Any]:
            x = batch_to_device(batch["x"], ctx)
            return certify_batch(detector, x, _frame_keys(unit, ctx.refs, kind), config)

        records = run_stage(ctx, stage, ctx.units, compute, "certify", progress)
        k0 = np.concatenate([np.asarray(records[u.index]["k0"], dtype=np.int64) for u in ctx.units])
        k = np.concatenate([np.asarray(records[u.index]["k"], dtype=np.int64) for u in ctx.units])
        m = np.concatenate([np.asarray(records[u.index]["m"], dtype=np.float64) for u in ctx.units])
        result, videos = document(config, ctx, row, key, k0, k, m)
        if w.main:
            write_result_files(path, result, videos)
        distributed.barrier()
        remove(ctx.state_dir / stage)
        if w.main:
            for parent in [ctx.state_dir, *list(ctx.state_dir.parents)[:3]]:
                try:
                    parent.rmdir()  # only when empty: the run's own resume logs stay
                except OSError:
                    break
    return CertifyResult(result, videos, path)


def _finished(path: Path, key: str, config: CertifyConfig) -> dict[str, Any] | None:
    if config.fresh or not path.is_file():
        return None
    import json

    try:
        result = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return result if result.get("run_key") == key else None


def build_certify_config(args: Any) -> CertifyConfig:
    """The config of ``harness certify`` from its flags (CLI > YAML > defaults)."""
    from harness.config import build_config, parse_value
    from harness.flags import data_flags, translate_sets

    names = ("detector", "checkpoint", "name", "sigma", "n", "n0", "alpha", "score", "device", "workers")
    names += ("batch_size", "precision", "fresh", "results_dir", "leaderboard_dir")
    cli: dict[str, Any] = {k: getattr(args, k) for k in names if hasattr(args, k)}
    if hasattr(args, "radii"):
        cli["radii"] = [parse_value(r) for r in str(args.radii).split(",") if r.strip()]
    data = data_flags(args)
    if data:
        cli["data"] = data
    sets = translate_sets(getattr(args, "set", None))
    return build_config(CertifyConfig, getattr(args, "config", None), cli=cli, sets=sets)


def cli_certify(args: Any) -> int:
    """``harness certify``: certify, save the result, regenerate that folder's leaderboard, print."""
    from harness import distributed
    from harness.results import default_leaderboard_dir

    config = build_certify_config(args)
    result = certify(config, progress=not getattr(args, "quiet", False))
    if distributed.is_main():
        from harness.leaderboard import write_leaderboards

        board = Path(config.leaderboard_dir or default_leaderboard_dir(config.results_dir))
        write_leaderboards(Path(config.results_dir), board)
        print(format_certify(result))
        print(f"leaderboard: {board}")
    return 0


__all__ = [
    "CERTIFY_SCHEMA",
    "CertifyConfig",
    "CertifyResult",
    "certify",
    "build_certify_config",
    "certify_batch",
    "cli_certify",
    "format_certify",
    "frame_seeds",
    "result_path",
    "row_name",
]
