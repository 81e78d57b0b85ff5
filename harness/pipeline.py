"""The pipeline threat model: attack the video file, not the face crop.

Under the default threat model (``crops``) the attack perturbs the float face crop the detector
sees, after the face detector and the resize, and nothing stands between it and the detector.
A real attacker delivers a *video file*: it is re-encoded by the platform, then the defender
decodes it, finds the face again, crops, resizes and scores. ``--threat pipeline`` evaluates
exactly that, per video:

1. decode the source video's frames the defender samples (streamed: :func:`read_frames_at`);
2. the attack optimizes a perturbation of the full frames the defender samples (the frames of
   the face cache: a white-box attacker knows the sampling), its budget in those frames'
   pixels, through a differentiable path frame -> face box crop (the cached box, the same
   margin and square geometry as :func:`~harness.faces.square_crop`) -> resize ->
   detector (:class:`FrameToFace`); the other frames are delivered unchanged;
3. the delivered frames (8-bit, within budget) are written as an H.264 mp4 at the threat's CRF
   (:func:`encode_video`; ``lossless``: libx264rgb at qp 0, bit-exact), decoded again, the face
   detector runs again, and the new crops are scored the way the harness scores any video: the
   attacked AUROC is what the defender would see;
4. recorded per video: faces lost (sampled frames with a face before and none after), faces
   moved (box IoU < 0.5 with the original box), the delivered video's PSNR against the
   original frames, its size, and the score of the *unattacked* video through the same codec
   (the codec's share of any change: ``auroc_codec``).

Orientation: every frame here is upright (a display matrix, as phones write, is applied when
decoding, as face extraction does), and the delivered video is written upright with no display
matrix, as a platform that transcodes phone footage delivers it. Keeping the matrix and storing
the frames turned back would make the defender's decode depend on whether its decoder applies the
matrix (and move the edge padding of odd sides to another corner); upright frames decode to the
pixel grid the attack optimized and the cached face boxes were found on, in any decoder.

A video in which the defender finds no face after the attack cannot be flagged: it is scored
0.0 (real) and counted (``videos_without_face``). Frames are encoded with x264's MB-tree off
and one thread, so the delivered bytes are reproducible (the embedded benchmark is written the
same way). Attacks must query the whole batch (one video's sampled frames) at once: the box of
each sample is known by position; gradient attacks do, a query subset is refused clearly.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from harness.detectors import Detector, DetectorSpec
from harness.threat import ThreatConfig
from harness.video import deliver, fidelity, frame_rate, read_frames_at

MOVED_IOU = 0.5  # a face whose new box overlaps the original by less than this has moved


# -- the differentiable defender's path -------------------------------------------------------------
def crop_geometry(box: Sequence[float], margin: float) -> tuple[int, int, int]:
    """``(left, top, side)`` of the square crop :func:`~harness.faces.square_crop` takes."""
    x1, y1, x2, y2 = box
    side = max(x2 - x1, y2 - y1) * (1 + 2 * margin)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    return int(round(cx - side / 2)), int(round(cy - side / 2)), max(1, int(round(side)))


def _resize(x: Tensor, size: tuple[int, int]) -> Tensor:
    """Area averaging when shrinking, bilinear when growing (the harness's cv2 rule), differentiable."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    if x.shape[-2] > size[0]:
        return F.interpolate(x, size=size, mode="area")
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


def crop_faces_torch(frames: Tensor, geoms: Tensor, crop_size: int, input_size: tuple[int, int]) -> Tensor:
    """Face crops ``(n, 3, h, w)`` of full frames ``(n, 3, H, W)``, differentiable in ``frames``.

    ``geoms``: ``(n, 3)`` integer ``(left, top, side)``; zero padding outside the frame; the
    square is resized to the cache's ``crop_size`` and then to the detector's input, as the
    cached crops are.
    """
    h, w = frames.shape[-2:]
    out = []
    for frame, (left, top, side) in zip(frames, geoms.tolist(), strict=True):
        pad = max(0, -left, -top, left + side - w, top + side - h)
        img = F.pad(frame[None], (pad, pad, pad, pad)) if pad else frame[None]
        crop = img[..., top + pad : top + pad + side, left + pad : left + pad + side]
        out.append(_resize(_resize(crop, (crop_size, crop_size)), input_size))
    return torch.cat(out)


class FrameToFace(Detector):
    """A detector on full frames: crop each sample's face box, resize, then the wrapped detector.

    The input of sample ``i`` (a frame ``(3, H, W)``, or a clip ``(T, 3, H, W)``) is cropped at
    ``geoms[i]`` (``(3,)`` or ``(T, 3)``: left, top, side). The wrapped detector is a submodule,
    so the attack's guards (no parameter or buffer may change) cover it. Normalization is the
    wrapped detector's own (this wrapper's mean/std are the identity).
    """

    def __init__(self, inner: Detector, frame_size: tuple[int, int], geoms: Tensor, crop_size: int) -> None:
        s = inner.spec
        spec = DetectorSpec(
            name=f"{s.name}@frames",
            kind=s.kind,
            input_size=frame_size,
            mean=(0.0, 0.0, 0.0),
            std=(1.0, 1.0, 1.0),
            reference=s.reference,
            frames_per_clip=s.frames_per_clip,
        )
        super().__init__(spec)
        self.inner = inner
        self.geoms = geoms
        self.crop_size = int(crop_size)
        # A new module is in train mode; the attack restores the mode it found, which would put
        # the wrapped detector (BatchNorm, dropout) in train mode afterwards: mirror its mode.
        self.train(inner.training)

    def logits(self, x: Tensor) -> Tensor:
        if x.shape[0] != self.geoms.shape[0]:
            raise RuntimeError(
                f"the pipeline threat model scores {self.geoms.shape[0]} samples (one video's sampled "
                f"frames) but the attack queried {x.shape[0]}: attacks that query a subset of the "
                "batch are not supported with --threat pipeline; use a gradient attack"
            )
        size = self.inner.spec.input_size
        if x.ndim == 5:  # clips: every frame its own box
            n, t = x.shape[:2]
            crops = crop_faces_torch(x.flatten(0, 1), self.geoms.reshape(-1, 3), self.crop_size, size)
            return self.inner(crops.unflatten(0, (n, t)).clamp(0, 1))
        return self.inner(crop_faces_torch(x, self.geoms, self.crop_size, size).clamp(0, 1))


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two ``(x1, y1, x2, y2)`` boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


# -- one member of a run under the pipeline threat model --------------------------------------------
class _VideoFrames(torch.utils.data.Dataset):
    """Unit ``i`` (one video) -> ``{"unit", "frames" uint8 (K,H,W,3): the sampled frames in attack
    order, "fps" (num, den)}``, decoded in a worker (streamed); picklable."""

    def __init__(self, jobs: dict[int, tuple[Path, list[int]]]) -> None:
        self.jobs = jobs

    def __len__(self) -> int:
        return len(self.jobs)

    def __getitem__(self, index: int) -> dict[str, Any]:
        path, order = self.jobs[index]
        fps = frame_rate(path)
        return {
            "unit": index,
            "frames": torch.from_numpy(read_frames_at(path, order)),
            "fps": torch.tensor([fps.numerator, fps.denominator]),
        }


@dataclass
class _Delivered:
    """What the defender gets from one delivered video: its scores and how its faces fared."""

    probs: list[float]
    boxes: dict[int, list[float]]  # frame index -> box, sampled frames with a face


def run_pipeline_member(
    ctx: Any, member: Any, suite: str | None, progress: bool, threat: ThreatConfig, n_members: int = 1
) -> Any:
    """Evaluate one member under the pipeline threat model; its result as data (saved to the run's
    store, if any, like every member's)."""
    from harness import metrics
    from harness.faces import FaceDetector, extract_track, sample_indices
    from harness.runner.compute import batch_to_device, check_finite, forward_probs
    from harness.runner.config import codecs, create_member_attack
    from harness.runner.context import finish_member, member_run_key, run_stage, unit_seed
    from harness.runner.document import result_document
    from harness.runner.member import fit_attack, safe_id, save_dir, video_table
    from harness.stream import Unit, clip_indices

    config, detector = ctx.config, ctx.detector
    spec, faces = detector.spec, config.data.faces
    if faces.detector == "none":
        raise ValueError(
            "--threat pipeline re-detects faces in the delivered video; this dataset's faces are "
            "taken as they are (face detector 'none'): use --threat crops"
        )
    attack = create_member_attack(config, member)
    ordering = codecs(config, member)
    if ordering.pre is not None or ordering.post is not None:
        raise ValueError("--threat pipeline re-encodes the delivered video itself: drop attack.pre/post")
    if getattr(attack, "needs_fit", False):
        fit_attack(ctx, attack, progress)
    tag = member.tag
    member_key = member_run_key(ctx, member)
    label = f"{member.attack} {tag}".strip()
    out_dir = save_dir(config, member, tag, n_members)
    by_id = ctx.prep.index.by_id()
    refs = ctx.refs[: ctx.n_eval]
    units = [Unit(i, i, ((i, ref.crops),), len(ref.crops)) for i, ref in enumerate(refs)]
    sources = {i: ctx.prep.index.abspath(by_id[ref.video_id]) for i, ref in enumerate(refs)}
    face_detector = FaceDetector(faces, str(ctx.device))
    margin = faces.margin
    wanted = {"fake": (1,), "real": (0,), "both": (0, 1)}[attack.config.target]
    oom: dict[str, int] = {}

    def defend(path: Path, video_id: str) -> _Delivered:
        """Decode, detect, crop and score a delivered file as the harness scores any video."""
        from harness.datasets import VideoRecord
        from harness.faces import resize_crops

        record = VideoRecord(video_id, path.name, 0, video_id)
        track = extract_track(record, path, faces, face_detector)
        if not track.ok or track.crops is None:
            return _Delivered([], {})
        boxes = dict(zip(track.frame_indices, track.boxes, strict=True))
        n = len(track.crops)
        if spec.kind == "clip":
            picks = clip_indices(n, spec.frames_per_clip)
        else:
            fpv = ctx.key["frames_per_video"]
            picks = sample_indices(n, fpv) if fpv is not None and n > fpv else list(range(n))
        # uint8 like the cached crops of every other run (the device copy divides by 255)
        images = np.ascontiguousarray(resize_crops(track.crops[picks], spec.input_size))
        x = torch.from_numpy(images).permute(0, 3, 1, 2)
        x = batch_to_device(x[None] if spec.kind == "clip" else x, ctx)
        return _Delivered(forward_probs(ctx, x, oom).tolist(), boxes)

    def attack_order(ref: Any) -> list[int]:
        """The frames the attack perturbs, as its samples: every sampled frame, or one clip."""
        if spec.kind == "clip":
            return [ref.frames[i] for i in clip_indices(len(ref.frames), spec.frames_per_clip)]
        return list(ref.frames)

    def compute(unit: Any, batch: dict[str, Any]) -> dict[str, Any]:
        t0 = time.perf_counter()
        ref = refs[unit.index]
        source = sources[unit.index]
        frames = batch["frames"].numpy()  # the sampled frames, in attack order
        fps = Fraction(int(batch["fps"][0]), int(batch["fps"][1]))
        track = ctx.prep.report.tracks[ref.video_id]
        box_of = dict(zip(track.frame_indices, track.boxes, strict=True))
        order = attack_order(ref)
        geoms = torch.tensor([crop_geometry(box_of[f], margin) for f in order], dtype=torch.long)
        x = torch.from_numpy(frames).permute(0, 3, 1, 2).float().div(255).to(ctx.device)
        if spec.kind == "clip":
            x, geoms = x[None], geoms[None]
        y = torch.full((len(x),), ref.label, dtype=torch.long, device=ctx.device)
        wrapper = FrameToFace(detector, tuple(frames.shape[1:3]), geoms, faces.crop_size).to(ctx.device)
        seed = unit_seed(config.seed, unit.index)
        result = attack(wrapper, x, y, seed=seed, groups=[ref.video_id] * len(x))
        if detector.training:  # pragma: no cover - a bug, never a user error
            raise RuntimeError("the detector was left in train mode by the pipeline attack")
        adv = (result.x_adv.detach().float().cpu().clamp(0, 1) * 255).round().to(torch.uint8)
        adv = adv.reshape(-1, *adv.shape[-3:]).permute(0, 2, 3, 1).numpy()
        replace = dict(zip(order, adv, strict=True))
        with tempfile.TemporaryDirectory(prefix="harness-pipeline-") as tmp:
            out = Path(tmp) / "delivered.mp4"
            if out_dir is not None:
                name = f"{safe_id(ref.video_id)}.mp4"
                out = out_dir / ("fake" if ref.label == 1 else "real") / name
            deliver(source, out, replace, fps, threat.crf, threat.preset)
            attacked = defend(out, ref.video_id)
            quality = fidelity(source, out, replace)
            size = out.stat().st_size
            memo = (ref.video_id, threat.crf, threat.preset)
            plain = ctx.codec_only.get(memo)
            if plain is None:  # the unattacked video through the same codec (once per run and CRF)
                codec_only = Path(tmp) / "reencoded.mp4"
                deliver(source, codec_only, {}, fps, threat.crf, threat.preset)
                plain = ctx.codec_only[memo] = defend(codec_only, ref.video_id)
        before = {f: box_of[f] for f in ref.frames}
        lost = [f for f in before if f not in attacked.boxes]
        ious = [box_iou(before[f], attacked.boxes[f]) for f in before if f in attacked.boxes]
        return {
            "p": attacked.probs,
            "pc": plain.probs,
            "faces_before": len(before),
            "lost": len(lost),
            "moved": int(sum(v < MOVED_IOU for v in ious)),
            "iou": float(np.mean(ious)) if ious else None,
            "psnr": quality.psnr,
            "psnr_attacked_frames": quality.psnr_attacked,
            "linf_attack": float(result.linf.max()) if len(result.linf) else 0.0,
            "linf_delivered": quality.linf_attacked,
            "bytes": int(size),
            "att": bool(ref.label in wanted),
            "q": int(result.queries),
            "s": time.perf_counter() - t0,
        }

    records = run_stage(
        ctx,
        member_key,
        units,
        compute,
        f"attack {label}",
        progress,
        make_dataset=lambda todo: _VideoFrames(
            {u.index: (sources[u.index], attack_order(refs[u.index])) for u in todo}
        ),
    )
    rows = [records[u.index] for u in units]
    ids = [ref.video_id for ref in refs]
    score_of = {}
    codec_of = {}
    for vid, row in zip(ids, rows, strict=True):
        for key, store in (("p", score_of), ("pc", codec_of)):
            probs = np.asarray(row[key], dtype=np.float64)
            check_finite(probs, config.detector, f"pipeline ({label})")
            store[vid] = metrics.aggregate_video(probs, config.aggregate) if len(probs) else 0.0
    adv_scores = np.array([score_of[v] for v in ctx.video_ids])
    codec_scores = np.array([codec_of[v] for v in ctx.video_ids])
    row_of = dict(zip(ids, rows, strict=True))
    video_attacked = np.array([row_of[v]["att"] for v in ctx.video_ids], dtype=bool)
    common = {
        "threshold": ctx.threshold,
        "threshold_val_fpr": ctx.threshold_val_fpr,
        "n_boot": config.n_boot,
        "seed": config.seed,
    }
    summary = metrics.summarize(ctx.labels, ctx.clean_scores, adv_scores, attacked=video_attacked, **common)
    codec = metrics.summarize(ctx.labels, ctx.clean_scores, codec_scores, attacked=video_attacked, **common)
    att_rows = [r for r in rows if r["att"]] or rows
    psnrs = np.array([r["psnr"] for r in att_rows], dtype=np.float64)
    faces_before = sum(r["faces_before"] for r in att_rows)
    pipeline_metrics = {
        "auroc_codec": codec["auroc_adv"],
        "auroc_codec_ci": codec.get("auroc_adv_ci"),
        "auroc_drop_vs_codec": (
            None
            if summary["auroc_adv"] is None or codec["auroc_adv"] is None
            else codec["auroc_adv"] - summary["auroc_adv"]
        ),
        "videos_without_face": int(sum(1 for r in rows if not r["p"])),
        "videos_without_face_codec_only": int(sum(1 for r in rows if not r["pc"])),
        "faces_sampled": int(faces_before),
        "faces_lost": int(sum(r["lost"] for r in att_rows)),
        "faces_moved": int(sum(r["moved"] for r in att_rows)),
        "faces_lost_fraction": float(sum(r["lost"] for r in att_rows) / max(1, faces_before)),
        "face_iou_mean": _mean([r["iou"] for r in att_rows if r["iou"] is not None]),
        "psnr_mean": float(np.mean(psnrs[np.isfinite(psnrs)])) if np.isfinite(psnrs).any() else None,
        "psnr_video_mean": float(np.mean(psnrs[np.isfinite(psnrs)])) if np.isfinite(psnrs).any() else None,
        "psnr_video_min": float(psnrs.min()) if len(psnrs) else None,
        "psnr_attacked_frames_mean": _mean(
            [r["psnr_attacked_frames"] for r in att_rows if np.isfinite(r["psnr_attacked_frames"])]
        ),
        "linf_max": max(r["linf_attack"] for r in att_rows),
        "linf_delivered_max": max(r["linf_delivered"] for r in att_rows),
        "video_bytes_mean": float(np.mean([r["bytes"] for r in att_rows])),
        "n_attacked": int(sum(r["att"] for r in rows)),
        "queries": int(sum(r["q"] for r in rows)),
        "queries_per_sample": sum(r["q"] for r in rows)
        / max(1, sum(r["faces_before"] for r in rows if r["att"])),
        "attack_seconds": float(sum(r["s"] for r in rows)),
        "n_samples": int(sum(len(r["p"]) for r in rows)),
        "n_skipped_videos": len(ctx.skipped),
    }
    result = result_document(
        ctx,
        member,
        suite,
        attack,
        tag,
        {**summary, **pipeline_metrics},
        rows=[{} for _ in rows],  # one video per batch
        member_key=member_key,
    )
    result["threat"] = "pipeline"
    result["threat_config"] = asdict(threat)
    result["threat_note"] = (
        "attacked AUROC: the defender's scores of the delivered videos (full frames perturbed within "
        "the budget at the sampled frames, H.264 re-encoded, faces re-detected and re-cropped); "
        "auroc_codec: the same codec and face detection on the unattacked videos"
    )
    videos = video_table(ctx, adv_scores, codec_score=codec_scores)
    return finish_member(ctx, result, videos, member_key)


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


__all__ = [
    "FrameToFace",
    "box_iou",
    "crop_faces_torch",
    "crop_geometry",
    "run_pipeline_member",
]
