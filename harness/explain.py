"""``harness explain``: what a detector looks at in one video, clean and under attack.

Per sampled frame: the face crop the detector sees, its fake probability clean and attacked, the
attacked crop, the perturbation, and Grad-CAM heat maps (Selvaraju et al., ICCV 2017) of the fake
logit, clean and attacked. :func:`explain` computes all of it as data (the CLI and the web app call
it); :func:`render_figure` draws one PNG per video and :func:`write_json` writes the numbers.

Faces and scores go the way of ``harness predict`` (:func:`harness.faces.extract_track`,
:func:`harness.scoring.make_samples`, :func:`harness.scoring.fake_probabilities`), so the clean
probabilities here are those ``harness predict`` prints for the same face settings. The attack is
called as the runner calls it (8-bit output within its budget). Grad-CAM comes from the ``grad-cam``
library on the detector's :meth:`~harness.detectors.Detector.cam_layers`. A clip detector is shown
to the library through :class:`_ClipAsFrames`: one clip's ``T`` frames as a ``(T, 3, H, W)`` batch
that the wrapper scores as one clip, so the trunk's activations are per frame and each frame gets
its own heat map of the clip's fake logit.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor, nn

from harness.faces import FaceConfig

if TYPE_CHECKING:
    from harness.detectors import Detector

Progress = Callable[[float, str], None]
SCHEMA_VERSION = 1


@dataclass
class FrameExplanation:
    """One sampled frame. Images are ``(H, W, 3)`` at the detector's input size; CAMs ``(H, W)``.

    For a clip detector the probabilities are ``None`` (only the clip has one, in
    :class:`Explanation`); the heat maps are still per frame. Attack fields are ``None`` when no
    attack was run.
    """

    index: int  # frame index in the video
    crop: np.ndarray  # uint8 face crop, as the detector sees it
    cam_clean: np.ndarray  # float32 in [0, 1]
    p_clean: float | None
    p_attacked: float | None = None
    attacked_crop: np.ndarray | None = None  # uint8
    perturbation: np.ndarray | None = None  # float32 attacked - clean, pixel units in [-1, 1]
    cam_attacked: np.ndarray | None = None  # float32 in [0, 1]
    linf: float | None = None  # max |perturbation|
    attack_label: int | None = None  # the class the attack moved away from (0 real, 1 fake)


@dataclass
class Explanation:
    """The result of :func:`explain`; numbers in :meth:`summary`, pixels in :attr:`frames`."""

    video: Path
    detector: str
    checkpoint: str | None
    kind: str  # "frame" or "clip"
    cam_layer: str  # the Grad-CAM target layer (dotted module path)
    p_clean: float  # video fake probability: mean over frames (clip: the clip's), as `predict`
    p_attacked: float | None
    attack: str | None
    attack_options: dict[str, Any] = field(default_factory=dict)  # the attack's resolved settings
    label: int | None = None  # the true label, when the caller gave it
    frames: list[FrameExplanation] = field(default_factory=list)
    frames_sampled: int = 0

    def summary(self) -> dict[str, Any]:
        """Everything but the pixels, JSON-ready (what :func:`write_json` writes)."""
        skip = {"crop", "attacked_crop", "perturbation", "cam_clean", "cam_attacked"}
        frames = [{k: v for k, v in dataclasses.asdict(f).items() if k not in skip} for f in self.frames]
        head = {k: getattr(self, k) for k in (f.name for f in dataclasses.fields(self)) if k != "frames"}
        return {"version": SCHEMA_VERSION, **head, "video": str(self.video), "frames": frames}


def explain(
    video: str | os.PathLike[str],
    detector: Detector | str,
    *,
    checkpoint: str | None = None,
    attack: str | None = "pgd",
    attack_options: dict[str, Any] | None = None,
    faces: FaceConfig | None = None,
    frames: int | None = None,
    label: int | None = None,
    seed: int = 0,
    device: str = "auto",
    progress: Progress | None = None,
) -> Explanation:
    """Explain ``detector``'s score of ``video`` clean and under ``attack``.

    ``detector``: a built detector (moved to ``device``) or a registry name, then built with
    ``checkpoint`` (e.g. ``"mesonet:Meso4_DF"``). ``attack``: a registry name or ``None`` (clean
    only), built with ``attack_options`` (``{"eps": 4 / 255}``). ``faces``: face extraction
    settings (default :class:`FaceConfig`); ``frames`` overrides its ``num_frames``. The attack
    pushes each sample away from ``label`` when given, else from its clean prediction.
    ``progress(fraction, message)`` is called as the work advances. Raises
    :class:`harness.predict.NoFaceError` when no face is found.
    """
    from harness.detectors import create_detector
    from harness.fileio import jsonable
    from harness.predict import face_track
    from harness.scoring import VideoCrops, fake_probabilities, make_samples, resolve_device
    from harness.stream import clip_indices

    report = progress or (lambda fraction, message: None)
    source = Path(video).expanduser()
    faces = faces or FaceConfig()
    if frames is not None:
        faces = dataclasses.replace(faces, num_frames=int(frames))
    dev = resolve_device(device)

    report(0.0, "finding faces")
    track = face_track(source, faces, device)  # harness predict's path: the same crops and scores
    report(0.25, f"{len(track.crops)} face crops; loading the detector")
    if isinstance(detector, str):
        model = create_detector(detector, checkpoint=checkpoint)
    else:
        model = detector
        checkpoint = checkpoint or _checkpoint_name(model)
    model = model.to(dev).eval()
    spec = model.spec
    samples = make_samples(
        [VideoCrops(source.stem, label or 0, track.crops, track.frame_indices)],
        spec.kind,
        spec.input_size,
        spec.frames_per_clip,
    )
    x = samples.x
    if spec.kind == "clip":
        indices = [track.frame_indices[i] for i in clip_indices(len(track.crops), spec.frames_per_clip)]
    else:
        indices = list(track.frame_indices)

    report(0.3, "scoring the clean frames")
    p_clean = fake_probabilities(model, x, 16, dev)
    y = torch.full_like(samples.labels, label) if label is not None else (p_clean >= 0.5).long()

    x_adv, p_adv, settings, linf = None, None, {}, None
    if attack is not None:
        from harness.attacks import create_attack

        attacker = create_attack(attack, **(attack_options or {}))
        settings = attacker.resolved_config()  # as run, the same settings a result records
        report(0.4, f"attacking with {attack}")
        result = attacker(model, x.to(dev), y.to(dev), seed=seed, groups=[source.stem] * len(x))
        x_adv = result.x_adv.detach().cpu()
        p_adv = fake_probabilities(model, x_adv, 16, dev)
        linf = result.linf

    report(0.7, "computing Grad-CAM heat maps")
    cams = grad_cam(model, x, dev)
    cams_adv = grad_cam(model, x_adv, dev) if x_adv is not None else None

    frames_out = _frames(x, x_adv, cams, cams_adv, p_clean, p_adv, linf, y, indices, spec.kind)
    report(1.0, "done")
    return Explanation(
        video=source,
        detector=spec.name,
        checkpoint=None if checkpoint is None else str(checkpoint),
        kind=spec.kind,
        cam_layer=cam_layer_name(model),
        p_clean=float(p_clean.mean()),
        p_attacked=None if p_adv is None else float(p_adv.mean()),
        attack=attack,
        attack_options=jsonable(settings),
        label=label,
        frames=frames_out,
        frames_sampled=track.frames_sampled,
    )


def grad_cam(detector: Detector, x: Tensor, device: Any, batch_size: int = 8) -> np.ndarray:
    """Grad-CAM of the fake logit: ``(N, H, W)`` for frames, ``(N, T, H, W)`` for clips, in [0, 1]."""
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    clip = detector.spec.kind == "clip"
    model: nn.Module = _ClipAsFrames(detector) if clip else detector
    cam = GradCAM(model=model, target_layers=detector.cam_layers())
    out = []
    try:
        if clip:  # one clip at a time: the wrapper sees its T frames as the batch
            for sample in x:
                out.append(cam(input_tensor=sample.to(device), targets=[ClassifierOutputTarget(1)]))
            return np.stack(out).astype(np.float32)
        for start in range(0, len(x), batch_size):
            batch = x[start : start + batch_size].to(device)
            out.append(cam(input_tensor=batch, targets=[ClassifierOutputTarget(1)] * len(batch)))
        return np.concatenate(out).astype(np.float32)
    finally:
        cam.activations_and_grads.release()
        detector.zero_grad(set_to_none=True)


def cam_layer_name(detector: Detector) -> str:
    """The dotted path of ``detector``'s (first) Grad-CAM layer."""
    target = detector.cam_layers()[0]
    return next(name for name, module in detector.named_modules() if module is target)


class _ClipAsFrames(nn.Module):
    """A clip detector seen as a frame model: ``(T,3,H,W)`` -> the clip's ``(1, 2)`` logits."""

    def __init__(self, detector: nn.Module) -> None:
        super().__init__()
        self.detector = detector

    def forward(self, frames: Tensor) -> Tensor:
        return self.detector(frames.unsqueeze(0))


def _frames(
    x: Tensor,
    x_adv: Tensor | None,
    cams: np.ndarray,
    cams_adv: np.ndarray | None,
    p_clean: Tensor,
    p_adv: Tensor | None,
    linf: Tensor | None,
    y: Tensor,
    indices: list[int],
    kind: str,
) -> list[FrameExplanation]:
    """Split the batch into per-frame records; a clip's frames (a frame repeated to fill the
    clip is shown once, at its first place) have no probability of their own."""
    clip = kind == "clip"
    imgs = x[0] if clip else x
    adv = None if x_adv is None else (x_adv[0] if clip else x_adv)
    cam_c = cams[0] if clip else cams
    cam_a = None if cams_adv is None else (cams_adv[0] if clip else cams_adv)
    out = []
    for i, index in enumerate(indices):
        if clip and index in indices[:i]:
            continue
        s = 0 if clip else i  # the sample this frame belongs to
        delta = None if adv is None else (adv[i] - imgs[i]).permute(1, 2, 0).numpy().astype(np.float32)
        out.append(
            FrameExplanation(
                index=int(index),
                crop=_uint8(imgs[i]),
                cam_clean=cam_c[i],
                p_clean=None if clip else float(p_clean[s]),
                p_attacked=None if clip or p_adv is None else float(p_adv[s]),
                attacked_crop=None if adv is None else _uint8(adv[i]),
                perturbation=delta,
                cam_attacked=None if cam_a is None else cam_a[i],
                linf=None if delta is None else float(np.abs(delta).max()),
                attack_label=None if adv is None else int(y[s]),
            )
        )
    return out


def _uint8(img: Tensor) -> np.ndarray:
    """A ``(3, H, W)`` [0,1] image as the 8-bit ``(H, W, 3)`` one an attacker delivers."""
    from harness.codecs import quantize_uint8

    return quantize_uint8(img).permute(1, 2, 0).numpy()


def _checkpoint_name(detector: Detector) -> str | None:
    path = getattr(detector, "checkpoint_path", None)
    return None if path is None else str(path)


# -- pictures ------------------------------------------------------------------------------------


def overlay(crop: np.ndarray, cam: np.ndarray, weight: float = 0.5) -> np.ndarray:
    """``cam`` as a jet heat map over the uint8 ``crop`` (uint8 ``(H, W, 3)``)."""
    from pytorch_grad_cam.utils.image import show_cam_on_image

    return show_cam_on_image(crop.astype(np.float32) / 255.0, cam, use_rgb=True, image_weight=1 - weight)


def perturbation_image(delta: np.ndarray, scale: float | None = None) -> tuple[np.ndarray, float]:
    """``delta`` amplified to be visible: ``0.5 + delta * gain`` as uint8, and the gain.

    ``scale``: the largest ``|delta|`` to map to full range (default: this delta's own).
    """
    top = float(np.abs(delta).max()) if scale is None else scale
    gain = 0.5 / top if top > 0 else 1.0
    return (np.clip(0.5 + delta * gain, 0, 1) * 255).round().astype(np.uint8), gain


def render_figure(expl: Explanation, path: str | os.PathLike[str], dpi: int = 100) -> Path:
    """One PNG: a row per frame (crop, CAM clean, attacked crop, CAM attacked, perturbation)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    attacked = expl.attack is not None
    cols = 5 if attacked else 2
    rows = max(1, len(expl.frames))
    fig, axes = plt.subplots(rows, cols, figsize=(2.2 * cols, 2.3 * rows + 0.6), squeeze=False)
    scale = max((f.linf or 0.0) for f in expl.frames) if attacked else None
    for row, f in zip(axes, expl.frames, strict=False):
        p_c = "" if f.p_clean is None else f"  p={f.p_clean:.2f}"
        panels = [(f.crop, f"frame {f.index}"), (overlay(f.crop, f.cam_clean), f"CAM clean{p_c}")]
        if attacked and f.attacked_crop is not None and f.perturbation is not None:
            p_a = "" if f.p_attacked is None else f"  p={f.p_attacked:.2f}"
            image, gain = perturbation_image(f.perturbation, scale or None)
            panels += [
                (f.attacked_crop, "attacked"),
                (overlay(f.attacked_crop, f.cam_attacked), f"CAM attacked{p_a}"),  # type: ignore[arg-type]
                (image, f"perturbation x{gain:.0f}"),
            ]
        for ax, (image, title) in zip(row, panels, strict=False):
            ax.imshow(image)
            ax.set_title(title, fontsize=8)
        for ax in row:
            ax.axis("off")
    head = f"{expl.video.name}: {expl.detector}, p_fake clean {expl.p_clean:.3f}"
    if attacked and expl.p_attacked is not None:
        eps = expl.attack_options.get("eps")
        budget = f" eps={eps * 255:.3g}/255" if isinstance(eps, (int, float)) else ""
        head += f", attacked ({expl.attack}{budget}) {expl.p_attacked:.3f}"
    fig.suptitle(f"{head}\nGrad-CAM of the fake logit at {expl.cam_layer}", fontsize=9)
    fig.tight_layout()
    from harness.fileio import atomic_open

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    try:
        with atomic_open(path, "wb") as f:
            fig.savefig(f, dpi=dpi, format="png")
    finally:
        plt.close(fig)
    return Path(path)


def write_json(expl: Explanation, path: str | os.PathLike[str]) -> Path:
    """The numbers of ``expl`` (no pixels) as JSON, written atomically."""
    from harness.fileio import write_json_atomic

    return write_json_atomic(path, expl.summary())


__all__ = [
    "Explanation",
    "FrameExplanation",
    "cam_layer_name",
    "explain",
    "grad_cam",
    "overlay",
    "perturbation_image",
    "render_figure",
    "write_json",
]
