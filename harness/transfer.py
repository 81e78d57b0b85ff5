"""``harness transfer``: craft adversarial examples once on a source detector, score them on targets.

``transfer(TransferConfig(...))`` is the library function behind the CLI. For every source
detector and attack budget, every evaluated video is attacked once through the source; the
adversarial crops are kept in a store (8-bit, per video) and then scored by every target
detector, the source included (the diagonal of the matrix is the white-box number). The result is
a source x target matrix of attacked AUROC with 95% bootstrap intervals resampled by video, one
JSON per (source, attack, budget) under ``results/<dataset>/transfer/``.

**One adversarial image for every target.** Detectors read different input sizes (the demo cnn 64
px, the demo Meso-4 128 px, Xception 299 px). The attack therefore runs on the crop as stored in
the face cache (``faces.crop_size``, 256 px by default), through a differentiable resize to the
source's input size inside a wrapper (:func:`through_resize`): the harness's own crop resize
(OpenCV ``INTER_AREA`` when shrinking, an antialiased box filter; ``INTER_LINEAR`` when growing)
written as a linear map (:func:`resize_matrix`), so the attack follows the gradient of exactly
the resize its examples will go through. The wrapper is a harness detector whose input is the
crop-size image, so the attack's budget check and its 8-bit rounding inside the budget apply at the
stored resolution. The result is stored as uint8 and every target (the source too) sees it through
the harness's standard uint8 resize of crops (:func:`~harness.datasets._faces.resize_crops`, the
same path clean crops take), so what is scored is exactly what an attacker could deliver.

**The store.** ``<cache>/adversarial/<store key>/<video key>.npz``, written atomically. The store
key hashes what fixes the attack's output apart from the video: the source checkpoint's SHA-256
and input spec, the attack and its resolved settings (seed included), the surrogate resize and
the device type; a video's key adds the SHA-256 of its input crops (uint8 bytes), its label and
the chunks it is attacked in. Each video is attacked on its own (in chunks of ``batch_size``
crops) with a seed derived from the attack seed and its crops, so a stored example is a function
of its key alone, whatever else is evaluated. A second run with the same source, attack and data
finds every video in the store and does no attack work (``store.crafted`` / ``store.reused`` in
the result); re-scoring on a new target costs only its forward passes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from harness.data import DataConfig

TRANSFER_SCHEMA = 1
STORE_FORMAT = 1
SPLITS = ("test", "val", "train", "all")
SURROGATE_RESIZE = (
    "OpenCV's crop resize as an exact linear map (INTER_AREA box filter shrinking, INTER_LINEAR growing)"
)
DELIVERY = (
    "uint8 crops at the stored crop resolution, resized to each target's input with the harness's "
    "uint8 crop resize (OpenCV INTER_AREA shrinking, INTER_LINEAR growing)"
)


@dataclass(frozen=True)
class TransferConfig:
    """One transfer matrix; precedence CLI > YAML (``--config``) > these defaults.

    ``sources``: detectors the adversarial examples are crafted on (one matrix row each);
    ``targets``: detectors that score them (one column each; empty: the sources, a square matrix
    whose diagonal is white-box). Either may be given as a comma list. ``checkpoints``: weights
    per detector name (``{"cnn": "my_cnn.pt"}``); without one, the embedded benchmark's demo model
    is used (trained once). ``attack_options``: the attack's settings; its strength (``eps``) may
    be a list, one result per value. ``split``: the evaluated videos (``test``; thresholds are
    fixed on ``val``). ``fresh``: craft again even when the store holds the examples.
    ``store_dir``: the adversarial-example store (default ``<cache>/adversarial``).
    """

    sources: tuple[str, ...] = ("xception",)
    targets: tuple[str, ...] = ()
    attack: str = "pgd"
    attack_options: dict[str, Any] = field(default_factory=dict)
    checkpoints: dict[str, str] = field(default_factory=dict)
    data: DataConfig = field(default_factory=DataConfig)
    split: str = "test"
    aggregate: str = "mean"
    frames_per_video: int | None = None
    batch_size: int = 16
    device: str = "auto"
    seed: int = 0
    n_boot: int = 1000
    workers: int = 2
    fresh: bool = False
    store_dir: str | None = None
    results_dir: str = "results"
    leaderboard_dir: str = "leaderboards"

    def __post_init__(self) -> None:
        for name in ("sources", "targets"):
            value = getattr(self, name)
            if isinstance(value, str):
                value = value.split(",")
            names = tuple(dict.fromkeys(str(v).strip() for v in value if str(v).strip()))
            object.__setattr__(self, name, names)
        if not self.sources:
            raise ValueError("transfer needs at least one source detector")
        if self.split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {self.split!r}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.workers < 0:
            raise ValueError(f"workers must be >= 0, got {self.workers}")

    @property
    def columns(self) -> tuple[str, ...]:
        """The target detectors (the sources when none were given)."""
        return self.targets or self.sources


@dataclass
class TransferResult:
    """The result files (one per source x budget) and their contents."""

    paths: list[Path]
    results: list[dict[str, Any]]

    def matrix(self, key: str = "auroc_adv", budget_tag: str | None = None) -> np.ndarray:
        """``(sources, targets)`` array of a per-target number (default attacked AUROC)."""
        rows = [r for r in self.results if budget_tag is None or r["budget_tag"] == budget_tag]
        if budget_tag is None and len({r["budget_tag"] for r in rows}) > 1:
            raise ValueError("several budgets: pass budget_tag")
        return np.array([[_nan(r["targets"][t].get(key)) for t in r["target_order"]] for r in rows])


def _nan(v: Any) -> float:
    return float(v) if isinstance(v, (int, float)) else math.nan


# -- the surrogate: a crop-size detector that resizes to the source --------------------------------
def resize_matrix(n_in: int, n_out: int) -> Tensor:
    """``(n_out, n_in)`` weights of OpenCV's uint8 crop resize along one axis, as a linear map.

    Shrinking: ``INTER_AREA``, each output pixel the mean of the input pixels its box covers
    (fractional coverage at the box edges), an antialiased box filter; growing: ``INTER_LINEAR``
    with half-pixel centres and clamped edges. ``A @ x @ B.T`` is then differentiable and equals
    :func:`~harness.datasets._faces.resize_crops` on the same image up to its 8-bit rounding (and
    OpenCV's fixed-point weights when growing): measured within 0.5/255 shrinking 256 px crops to
    32-224 px, 0.8/255 growing them to 299 and 380 px.
    """
    m = torch.zeros(n_out, n_in, dtype=torch.float64)
    scale = n_in / n_out
    if n_out <= n_in:
        for i in range(n_out):
            a, b = i * scale, (i + 1) * scale
            for j in range(math.floor(a), min(n_in, math.ceil(b))):
                m[i, j] = (min(b, j + 1) - max(a, j)) / scale
        return m
    for i in range(n_out):
        f = (i + 0.5) * scale - 0.5
        s = math.floor(f)
        f -= s
        if s < 0:
            s, f = 0, 0.0
        if s >= n_in - 1:
            s, f = n_in - 1, 0.0
        m[i, s] += 1 - f
        if f > 0:
            m[i, s + 1] += f
    return m


class _ResizeInto(nn.Module):
    """The source detector behind :func:`resize_matrix` resizes of its ``(N,3,H,W)`` input."""

    def __init__(self, source: nn.Module, size: tuple[int, int]) -> None:
        super().__init__()
        self.source = source
        self.size = tuple(int(v) for v in size)
        self._maps: dict[tuple[Any, ...], tuple[Tensor, Tensor]] = {}

    def _map(self, x: Tensor) -> tuple[Tensor, Tensor]:
        key = (*x.shape[-2:], x.device, x.dtype)
        if key not in self._maps:
            h, w = x.shape[-2:]
            rows = resize_matrix(h, self.size[0]).to(x.device, x.dtype)
            cols = resize_matrix(w, self.size[1]).to(x.device, x.dtype)
            self._maps[key] = (rows, cols.T.contiguous())
        return self._maps[key]

    def forward(self, x: Tensor) -> Tensor:
        if tuple(x.shape[-2:]) != self.size:
            rows, cols_t = self._map(x)
            x = (rows @ x @ cols_t).clamp(0.0, 1.0)
        with self.source.range_check(False):  # the wrapper checked its input; the resize keeps [0,1]
            return self.source(x)


def through_resize(source: Any, crop_size: tuple[int, int]) -> Any:
    """``source`` behind the detector contract at ``crop_size``: the attack's input is the stored
    crop, resized inside (differentiably) to the source's input size.

    Normalization stays in the source (the wrapper's is the identity); the source's own [0,1]
    check is off inside (the wrapper checks its input, and the resize keeps values in [0,1]).
    """
    from harness.detectors import wrap_model

    spec = source.spec
    h, w = (int(v) for v in crop_size)
    return wrap_model(
        _ResizeInto(source, spec.input_size),
        name=f"{spec.name}@{h}x{w}",
        input_size=(h, w),
        reference=f"{spec.name} through a differentiable resize from {h}x{w} to "
        f"{spec.input_size[0]}x{spec.input_size[1]} (harness transfer)",
    ).eval()


# -- the store -------------------------------------------------------------------------------------
def _sha(payload: Any) -> str:
    from harness.runner import _jsonable

    return hashlib.sha256(json.dumps(_jsonable(payload), sort_keys=True, default=str).encode()).hexdigest()


def store_key(
    source_sha256: str,
    source_spec: dict[str, Any],
    attack: str,
    attack_config: dict[str, Any],
    device_type: str,
) -> str:
    """What fixes a stored example apart from its video (see the module docs)."""
    return _sha(
        {
            "format": STORE_FORMAT,
            "source_checkpoint_sha256": source_sha256,
            "source_spec": source_spec,
            "attack": attack,
            "attack_config": attack_config,
            "surrogate_resize": SURROGATE_RESIZE,
            "device_type": device_type,
        }
    )


def crops_sha256(crops: np.ndarray) -> str:
    """SHA-256 of uint8 crops (their shape and bytes)."""
    a = np.ascontiguousarray(crops)
    h = hashlib.sha256(f"{a.dtype.str}{a.shape}".encode())
    h.update(a.tobytes())
    return h.hexdigest()


def chunks(n: int, size: int) -> list[int]:
    """Lengths of the consecutive chunks of ``n`` crops attacked per call."""
    return [min(size, n - i) for i in range(0, n, size)]


def video_key(key: str, crops_hash: str, label: int, chunk_lengths: Sequence[int]) -> str:
    return _sha({"store": key, "crops": crops_hash, "label": int(label), "chunks": list(chunk_lengths)})


def video_seed(seed: int, crops_hash: str, label: int) -> int:
    """The attack seed of a video: from the attack's seed and the video's content."""
    digest = hashlib.sha256(f"{int(seed)}:{crops_hash}:{int(label)}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % (2**31 - 1 - 10_000)


def store_root(config: TransferConfig) -> Path:
    from harness.datasets._base import cache_root

    return Path(config.store_dir) if config.store_dir else cache_root(config.data.cache_dir) / "adversarial"


def store_path(root: Path, key: str, vkey: str) -> Path:
    return root / key[:16] / f"{vkey[:32]}.npz"


def write_example(path: Path, x: np.ndarray, meta: dict[str, Any]) -> None:
    """Write one video's uint8 adversarial crops ``(K,S,S,3)`` and their metadata atomically."""
    from harness.runner import _jsonable

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez_compressed(
                f, x=np.ascontiguousarray(x, dtype=np.uint8), meta=json.dumps(_jsonable(meta))
            )
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; a store is meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_example(path: Path) -> tuple[np.ndarray, dict[str, Any]] | None:
    """``(uint8 crops, metadata)`` of a stored video, or None when absent or unreadable."""
    try:
        with np.load(path, allow_pickle=False) as z:
            return z["x"], json.loads(str(z["meta"]))
    except (OSError, ValueError, KeyError):
        return None


class StoreReader:
    """What :class:`~harness.stream.UnitDataset` reads instead of the face cache: the stored
    adversarial crops of each video (``(K,S,S,3)`` uint8, in the order of the video's crops)."""

    def __init__(self, paths: dict[str, str]) -> None:
        self.paths = dict(paths)
        self._last: tuple[str, np.ndarray] | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_last": None}

    def crops(self, video_id: str) -> np.ndarray:
        if self._last is not None and self._last[0] == video_id:
            return self._last[1]
        got = read_example(Path(self.paths[video_id]))
        if got is None:
            raise FileNotFoundError(
                f"stored adversarial example of {video_id} vanished: {self.paths[video_id]}"
            )
        self._last = (video_id, got[0])
        return got[0]


# -- the work --------------------------------------------------------------------------------------
@dataclass
class _Model:
    name: str
    checkpoint: str
    sha256: str
    detector: Any


@dataclass
class _Crafted:
    """The stored examples of one (source, member): per video, its store path."""

    source: str
    member: Any
    attack: Any
    key: str
    paths: dict[str, str]
    crafted: int = 0
    reused: int = 0
    stats: dict[str, Any] = field(default_factory=dict)
    spec: dict[str, Any] = field(default_factory=dict)  # the source's input spec


def _checkpoint(config: TransferConfig, name: str, prep: Any, progress: bool) -> str:
    if name in config.checkpoints:
        return str(config.checkpoints[name])
    if config.data.dataset != "synthetic":
        raise ValueError(
            f"dataset {config.data.dataset!r} needs a checkpoint for {name!r}: --set checkpoints.{name}=PATH "
            "(demo models exist only for the embedded benchmark)"
        )
    from harness.train import ensure_demo_model

    return str(ensure_demo_model(name, config.data, config.device, progress, prepared=prep))


def _load(config: TransferConfig, name: str, prep: Any, device: torch.device, progress: bool) -> _Model:
    from harness.checkpoint import sha256_file
    from harness.detectors import create_detector, resolve_checkpoint

    ckpt = _checkpoint(config, name, prep, progress)
    det = create_detector(name, checkpoint=ckpt).to(device).eval()
    if det.spec.kind != "frame":
        raise ValueError(f"transfer scores frame detectors; {name!r} is a {det.spec.kind} detector")
    meta = det.checkpoint_meta
    if meta.get("dataset") == prep.manifest.dataset and meta.get("split_manifest_hash") not in (
        None,
        prep.manifest.hash,
    ):
        raise ValueError(
            f"checkpoint {ckpt} was trained on another split of {prep.manifest.dataset} (manifest "
            f"{meta['split_manifest_hash'][:12]} vs {prep.manifest.short_hash}): its test videos may overlap "
            "this training data; use the same --set data.seed/protocol"
        )
    return _Model(name, ckpt, sha256_file(resolve_checkpoint(ckpt)), det)


def _members(config: TransferConfig) -> list[Any]:
    from harness.attacks import ATTACKS
    from harness.suites import expand_member, split_ordering

    cls = ATTACKS.get(config.attack)
    if getattr(cls, "needs_fit", False):
        raise ValueError(f"{config.attack} learns on the train split first; transfer crafts per video only")
    members = expand_member(config.attack, dict(config.attack_options))
    for m in members:
        _, pre, post = split_ordering(m.options)
        if pre or post:
            raise ValueError(
                "attack.pre / attack.post are not supported by transfer (one threat model at a time)"
            )
        if m.options.get("quantize") is False:
            raise ValueError("transfer stores 8-bit examples: attack.quantize=false is not supported")
        _attack(config, m)  # bad settings fail before any work
    return members


def _attack(config: TransferConfig, member: Any) -> Any:
    from harness.attacks import create_attack

    return create_attack(member.attack, **{"seed": config.seed, **member.options, "quantize": True})


def _craft(
    config: TransferConfig,
    prep: Any,
    refs: list[Any],
    source: _Model,
    member: Any,
    crop_size: tuple[int, int],
    device: torch.device,
    progress: bool,
    calls: list[int] | None = None,
) -> _Crafted:
    """Attack every video of ``refs`` through ``source`` (or find it in the store)."""
    from tqdm import tqdm

    from harness.stream import UnitDataset, loader, plan_units, release_free_memory

    attack = _attack(config, member)
    resolved = attack.resolved_config()
    key = store_key(source.sha256, source.detector.spec.to_dict(), member.attack, resolved, device.type)
    root = store_root(config)
    out = _Crafted(source.name, member, attack, key, {}, spec=source.detector.spec.to_dict())
    surrogate = through_resize(source.detector, crop_size)
    units = plan_units(refs, "frame", config.batch_size)
    dataset = UnitDataset(prep, refs, units, "frame", crop_size)
    pending: dict[int, list[Tensor]] = {}
    linf: list[np.ndarray] = []
    l2: list[np.ndarray] = []
    unperturbed = zero_grad = queries = 0
    seconds = 0.0
    budget = attack.eps if attack.norm == "linf" else None
    label = f"craft {source.name} {member.attack}"
    bar = tqdm(total=len(refs), desc=label, unit="video", disable=not progress)
    for batch in loader(dataset, units, config.workers, torch.device("cpu")):
        unit = units[int(batch["unit"])]
        offset = 0
        for pos, picks in unit.parts:
            pending.setdefault(pos, []).append(batch["x"][offset : offset + len(picks)])
            offset += len(picks)
            ref = refs[pos]
            if sum(len(p) for p in pending[pos]) < len(ref.crops):
                continue  # a long video: its remaining crops come in the next units
            clean = torch.cat(pending.pop(pos))  # uint8 (K,3,S,S)
            hwc = clean.permute(0, 2, 3, 1).numpy()
            digest = crops_sha256(hwc)
            lengths = chunks(len(clean), config.batch_size)
            path = store_path(root, key, video_key(key, digest, ref.label, lengths))
            stored = None if config.fresh else read_example(path)
            if stored is not None and stored[0].shape == hwc.shape:
                meta = stored[1]
                out.reused += 1
            else:
                adv, meta = _attack_video(attack, surrogate, clean, ref, digest, lengths, device, calls)
                if budget is not None:  # the stored bytes are inside the budget of the clean crops
                    diff = np.abs(adv.astype(np.int16) - hwc.astype(np.int16)).max()
                    if diff > math.floor(budget * 255 + 1e-4):
                        raise RuntimeError(
                            f"{ref.video_id}: the stored example breaks the budget ({diff}/255)"
                        )
                meta.update(
                    {
                        "video_id": ref.video_id,
                        "label": ref.label,
                        "frames": list(ref.frames),
                        "crops_sha256": digest,
                        "store_key": key,
                        "source": source.name,
                        "source_checkpoint_sha256": source.sha256,
                        "attack": member.attack,
                        "attack_config": resolved,
                        "chunks": lengths,
                    }
                )
                write_example(path, adv, meta)
                out.crafted += 1
                seconds += float(meta["seconds"])
            out.paths[ref.video_id] = str(path)
            linf.append(np.asarray(meta["linf"], dtype=np.float64))
            l2.append(np.asarray(meta["l2"], dtype=np.float64))
            unperturbed += int(meta["unperturbed"])
            zero_grad += int(meta.get("zero_grad") or 0)
            queries += int(meta["queries"])
            bar.update(1)
        release_free_memory()
    bar.close()
    li, l2a = np.concatenate(linf), np.concatenate(l2)
    n = int(li.size)
    out.stats = {
        "n_samples": n,
        "linf_max": float(li.max()) if n else math.nan,
        "linf_mean": float(li.mean()) if n else math.nan,
        "l2_mean": float(l2a.mean()) if n else math.nan,
        "unperturbed_fraction": unperturbed / n if n else None,
        "zero_grad_fraction": zero_grad / n if n and attack.uses_gradients else None,
        "queries": queries,
        "queries_per_sample": queries / n if n else None,
        "attack_seconds_this_run": seconds,
    }
    return out


def _attack_video(
    attack: Any,
    surrogate: Any,
    clean: Tensor,
    ref: Any,
    digest: str,
    lengths: Sequence[int],
    device: torch.device,
    calls: list[int] | None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """One video's adversarial crops (uint8 ``(K,S,S,3)``) and per-sample statistics."""
    t0 = time.perf_counter()
    x = clean.to(device).float().div_(255.0)
    y = torch.full((len(x),), int(ref.label), dtype=torch.long, device=device)
    seed = video_seed(attack.config.seed, digest, ref.label)
    parts = []
    start = 0
    for i, n in enumerate(lengths):
        if calls is not None:
            calls.append(n)
        parts.append(attack(surrogate, x[start : start + n], y[start : start + n], seed=seed + i))
        start += n
    x_adv = torch.cat([p.x_adv for p in parts])
    adv = (x_adv.detach().float().cpu() * 255.0).round().clamp(0, 255).to(torch.uint8)
    zero = [p.zero_grad for p in parts]
    meta = {
        "linf": torch.cat([p.linf for p in parts]).tolist(),
        "l2": torch.cat([p.l2 for p in parts]).tolist(),
        "unperturbed": int(sum(int(p.unperturbed.sum()) for p in parts)),
        "zero_grad": None if any(z is None for z in zero) else int(sum(int(z.sum()) for z in zero)),
        "queries": int(sum(p.queries for p in parts)),
        "seconds": time.perf_counter() - t0,
        "seed": seed,
    }
    return adv.permute(0, 2, 3, 1).numpy(), meta


def _scores(
    config: TransferConfig,
    prep: Any,
    refs: list[Any],
    model: _Model,
    device: torch.device,
    reader: StoreReader | None = None,
    label: str = "",
    progress: bool = False,
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Video ids, labels and video scores of ``model`` on ``refs``: the cached clean crops, or the
    stored adversarial ones (``reader``), through the standard uint8 resize to its input size."""
    from tqdm import tqdm

    from harness import metrics
    from harness.stream import (
        UnitDataset,
        VideoRef,
        loader,
        plan_meta,
        plan_units,
        release_free_memory,
        to_device,
    )

    det = model.detector
    if reader is not None:  # stored crops are in the order of the video's picks
        refs = [VideoRef(r.video_id, r.label, tuple(range(len(r.crops))), r.frames) for r in refs]
    units = plan_units(refs, "frame", config.batch_size)
    dataset = UnitDataset(prep, refs, units, "frame", det.spec.input_size)
    if reader is not None:
        dataset.reader = reader
    probs: dict[int, np.ndarray] = {}
    bar = tqdm(total=len(units), desc=label, unit="batch", disable=not progress)
    with torch.no_grad():
        for batch in loader(dataset, units, config.workers, device):
            x = to_device(batch["x"], device)
            probs[int(batch["unit"])] = (
                torch.softmax(det(x).float(), 1)[:, 1].cpu().numpy().astype(np.float64)
            )
            bar.update(1)
            release_free_memory()
    bar.close()
    p = np.concatenate([probs[u.index] for u in units])
    if not np.isfinite(p).all():
        raise FloatingPointError(f"{model.name}: non-finite scores ({label}); check the checkpoint")
    meta = plan_meta(units, refs, "frame")
    ids, scores = metrics.aggregate_by_video(meta.video_ids, p, config.aggregate)
    _, labels = metrics.video_labels(meta.video_ids, np.asarray(meta.labels))
    return [str(v) for v in ids], labels, scores


@dataclass
class _Clean:
    ids: list[str]
    labels: np.ndarray
    scores: np.ndarray
    threshold: float
    threshold_val_fpr: float | None
    thresholds: dict[str, Any]


def _clean(
    config: TransferConfig,
    prep: Any,
    refs: list[Any],
    val_refs: list[Any],
    model: _Model,
    device: torch.device,
) -> _Clean:
    from harness import metrics
    from harness.runner import VAL_FPR, threshold_provenance

    ids, labels, scores = _scores(config, prep, refs, model, device, label=f"clean {model.name}")
    if val_refs:
        _, val_labels, val_scores = _scores(config, prep, val_refs, model, device, label=f"val {model.name}")
        source = "clean validation scores"
    else:
        val_labels, val_scores = labels, scores
        source = "clean scores of the evaluated videos (no held-out split)"
    both = len(set(val_labels.tolist())) == 2
    n_real, n_fake = int((val_labels == 0).sum()), int((val_labels == 1).sum())
    return _Clean(
        ids,
        labels,
        scores,
        metrics.threshold_balanced(val_labels, val_scores) if both else 0.5,
        metrics.threshold_at_fpr(val_labels, val_scores, VAL_FPR) if n_real else None,
        threshold_provenance(n_real, n_fake, both, source),
    )


def transfer(config: TransferConfig, progress: bool = True, calls: list[int] | None = None) -> TransferResult:
    """Craft on every source (or reuse the store), score on every target, write one result per
    (source, budget) and regenerate the leaderboards.

    ``calls``: when given, the sample count of every attack call is appended (tests count attack
    work with it). Runs in one process (no torchrun); memory holds one batch (and one long video)
    of pixels at a time, and per-video scores.
    """
    from harness import metrics
    from harness.data import prepare_dataset
    from harness.leaderboard import write_leaderboards
    from harness.runner import _device_name, _library_versions
    from harness.scoring import resolve_device
    from harness.stream import video_refs

    if config.aggregate not in metrics.AGGREGATIONS:
        raise ValueError(f"aggregate must be one of {metrics.AGGREGATIONS}, got {config.aggregate!r}")
    start = time.perf_counter()
    members = _members(config)
    device = resolve_device(config.device)
    torch.manual_seed(config.seed)
    prep = prepare_dataset(config.data, progress=progress)
    if config.split == "all":
        refs = [r for s in ("train", "val", "test") for r in video_refs(prep, s, config.frames_per_video)]
    else:
        refs = video_refs(prep, config.split, config.frames_per_video)
    if not refs:
        raise ValueError(f"no usable videos in split {config.split!r} (see `harness data prepare`)")
    val_refs = video_refs(prep, "val", config.frames_per_video) if config.split in ("test", "train") else []
    crop_size = (int(prep.config.faces.crop_size),) * 2

    models: dict[str, _Model] = {}
    loaded: dict[str, _Model] = {}  # checkpoint facts of every model, kept after it is freed

    def model(name: str) -> _Model:
        if name not in models:
            models[name] = _load(config, name, prep, device, progress)
            loaded[name] = dataclasses.replace(models[name], detector=None)
        return models[name]

    crafted: list[_Crafted] = []
    for src in config.sources:
        for m in members:
            crafted.append(_craft(config, prep, refs, model(src), m, crop_size, device, progress, calls))
        models.pop(src)  # one model in memory at a time (a target is loaded again to score)

    adv_scores: dict[tuple[int, str], np.ndarray] = {}
    cleans: dict[str, _Clean] = {}
    for name in config.columns:
        target = model(name)
        cleans[name] = _clean(config, prep, refs, val_refs, target, device)
        for i, c in enumerate(crafted):
            ids, _, adv = _scores(
                config, prep, refs, target, device, StoreReader(c.paths), f"{c.source} -> {name}", progress
            )
            if ids != cleans[name].ids:  # pragma: no cover - same refs, same plan
                raise RuntimeError("attacked and clean videos do not line up")
            adv_scores[(i, name)] = adv
        models.pop(name)

    provenance = {
        "code_version": _code_version(),
        "libraries": _library_versions(),
        "device": _device_name(device),
        "world_size": 1,
    }
    paths, results = [], []
    for i, c in enumerate(crafted):
        targets: dict[str, Any] = {}
        for name in config.columns:
            cl = cleans[name]
            summary = metrics.summarize(
                cl.labels,
                cl.scores,
                adv_scores[(i, name)],
                threshold=cl.threshold,
                threshold_val_fpr=cl.threshold_val_fpr,
                n_boot=config.n_boot,
                seed=config.seed,
            )
            targets[name] = {
                "white_box": name == c.source,
                "checkpoint": _portable(loaded[name].checkpoint, config),
                "checkpoint_sha256": loaded[name].sha256,
                "thresholds": cl.thresholds,
                **summary,
            }
        result = _result(config, prep, c, loaded[c.source], targets, refs, crop_size, provenance, start)
        path = result_path(config, result)
        records = {n: (cleans[n].scores, adv_scores[(i, n)]) for n in config.columns}
        _write_records(path.with_suffix(".videos.csv"), cleans[config.columns[0]], records)
        from harness.datasets._splits import write_json_atomic
        from harness.runner import _jsonable

        write_json_atomic(path, _jsonable(result))
        paths.append(path)
        results.append(_jsonable(result))
    write_leaderboards(Path(config.results_dir), Path(config.leaderboard_dir))
    return TransferResult(paths, results)


def _code_version() -> str:
    from harness.version import code_version

    return code_version()


def _portable(value: Any, config: TransferConfig) -> Any:
    from harness.runner import _portable as portable

    return portable(value, config.data.cache_dir)


def result_path(config: TransferConfig, result: dict[str, Any]) -> Path:
    """``results/<dataset>/transfer/<source>--<attack>-<budget tag>.json``."""
    name = f"{result['source']}--{result['attack']}-{result['budget_tag']}.json"
    return Path(config.results_dir) / result["dataset"] / "transfer" / name


def _result(
    config: TransferConfig,
    prep: Any,
    c: _Crafted,
    source: _Model,
    targets: dict[str, Any],
    refs: list[Any],
    crop_size: tuple[int, int],
    provenance: dict[str, Any],
    start: float,
) -> dict[str, Any]:
    from harness.suites import strength_tag

    attack = c.attack
    out = dataclasses.asdict(config)
    for key in ("root", "cache_dir"):
        out["data"][key] = _portable(out["data"][key], config)
    for key in ("results_dir", "leaderboard_dir", "store_dir"):
        out[key] = _portable(out[key], config)
    out["checkpoints"] = {k: _portable(v, config) for k, v in out["checkpoints"].items()}
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
            "dir": _portable(str(store_root(config) / c.key[:16]), config),
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
        "n_videos": len(refs),
        "source_checkpoint": _portable(source.checkpoint, config),
        "source_checkpoint_sha256": source.sha256,
        "source_spec": c.spec,
        "split_manifest_hash": prep.manifest.hash,
        "seed": config.seed,
        "config": out,
        **provenance,
        "wall_seconds": time.perf_counter() - start,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _write_records(path: Path, clean: _Clean, records: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
    """Per-video scores beside the result: ``video_id, label, <target>_clean, <target>_adv, ...``."""
    import csv

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["video_id", "label", *(f"{n}_{k}" for n in records for k in ("clean", "adv"))])
        for j, vid in enumerate(clean.ids):
            row = [vid, int(clean.labels[j])]
            for c_scores, a_scores in records.values():
                row += [f"{c_scores[j]:.6f}", f"{a_scores[j]:.6f}"]
            w.writerow(row)
    os.replace(tmp, path)


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


def _cell(v: Any, ci: Any) -> str:
    if not isinstance(v, (int, float)) or math.isnan(v):
        return "n/a"
    if isinstance(ci, (list, tuple)) and all(isinstance(x, (int, float)) for x in ci):
        return f"{v:.3f} [{ci[0]:.2f},{ci[1]:.2f}]"
    return f"{v:.3f}"


__all__ = [
    "StoreReader",
    "TransferConfig",
    "TransferResult",
    "crops_sha256",
    "format_matrix",
    "read_example",
    "result_path",
    "store_key",
    "store_path",
    "store_root",
    "through_resize",
    "transfer",
    "video_key",
]
