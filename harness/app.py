"""``harness app``: a local web page (Gradio) for one video.

Upload a video or pick one of the embedded benchmark, choose a detector, its weights, an attack
and a budget; the page shows the video's fake probability clean and attacked, the per-frame scores
as a plot, Grad-CAM heat maps clean vs attacked, and offers the attacked face crops as a video to
download. The work itself is :func:`harness.explain.explain`; this module only composes the page,
so ``harness --help`` never imports gradio (it is imported inside the functions below).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from harness.data import DataConfig

DEFAULT_DETECTOR = "meso4"
DEFAULT_CHECKPOINT = "mesonet:Meso4_DF"  # the published MesoNet weights: no training needed
NO_ATTACK = "none"
CROP_FPS = Fraction(4)  # the attacked-crops video: one sampled frame every quarter second

Progress = Callable[[float, str], None]


class AppError(ValueError):
    """Something the user can fix (no face, no weights, ...): shown on the page as it is."""


@dataclass
class FrameView:
    """One sampled frame as the page shows it (uint8 RGB images; a CAM is already a heat-map overlay)."""

    index: int
    p_clean: float | None  # None: a clip detector scores the clip only
    p_attacked: float | None = None
    crop: np.ndarray | None = None
    attacked_crop: np.ndarray | None = None
    perturbation: np.ndarray | None = None
    cam_clean: np.ndarray | None = None
    cam_attacked: np.ndarray | None = None


@dataclass
class Analysis:
    """What one run of the page computed: video-level and per-frame fake probabilities and images."""

    p_clean: float
    p_attacked: float | None
    frames: list[FrameView]
    notes: list[str] = field(default_factory=list)


# -- inputs -------------------------------------------------------------------------------------


def benchmark_videos(data: DataConfig | None = None) -> dict[str, str]:
    """``"video_id (real|fake)" -> path`` for every video of the embedded benchmark (generated on first use)."""
    from harness.data import open_dataset

    data = data or DataConfig()
    index = open_dataset(data.dataset, data.root, data.cache_dir, progress=False, **data.options)
    return {
        f"{v.video_id} ({'fake' if v.label else 'real'})": str(index.abspath(v))
        for v in sorted(index.videos, key=lambda v: v.video_id)
    }


def resolve_checkpoint(detector: str, checkpoint: str | None, data: DataConfig | None = None) -> str:
    """``checkpoint`` as given, or (empty) the detector's cached demo model on the embedded benchmark.

    Never trains: a missing demo model is an :class:`AppError` that says how to make one.
    """
    if checkpoint and checkpoint.strip():
        return checkpoint.strip()
    from harness.data import open_dataset
    from harness.splits import make_manifest
    from harness.train import default_checkpoint_path, demo_config

    data = data or DataConfig()
    config = demo_config(detector, data)
    index = open_dataset(data.dataset, data.root, data.cache_dir, progress=False, **data.options)
    manifest = make_manifest(index, data.protocol, data.seed, data.ratios)
    path = default_checkpoint_path(config, manifest)
    if not path.is_file():
        raise AppError(
            f"no demo model of {detector!r} in the cache yet (looked for {path}). Give a checkpoint "
            f"(a path, or {DEFAULT_CHECKPOINT} with meso4), or train the demo model once: "
            f"`harness train --detector {detector}` (minutes on a CPU)."
        )
    return str(path)


def attack_settings(attack: str, eps255: float) -> dict[str, Any]:
    """The attack's settings from the page: the budget slider is ``eps`` in /255 for L-inf attacks."""
    from harness.attacks import ATTACKS

    if attack == NO_ATTACK:
        return {}
    return {"eps": eps255 / 255} if ATTACKS.get(attack).norm == "linf" else {}


# -- the work: one adapter over harness.explain -------------------------------------------------


def analyse(
    video: str | os.PathLike[str],
    detector: str,
    checkpoint: str,
    attack: str | None,
    attack_options: dict[str, Any],
    faces: Any,
    device: str = "auto",
    progress: Progress | None = None,
) -> Analysis:
    """Score ``video`` clean and under ``attack`` (None: clean only), with Grad-CAM heat maps.

    The one place that knows :func:`harness.explain.explain`'s API: its crops, heat maps and
    perturbations become the images the page shows (CAMs as overlays, perturbations amplified).
    """
    from harness.explain import explain, overlay, perturbation_image
    from harness.predict import NoFaceError

    try:
        e = explain(
            video,
            detector,
            checkpoint=checkpoint,
            attack=attack,
            attack_options=attack_options,
            faces=faces,
            device=device,
            progress=progress,
        )
    except NoFaceError as exc:
        raise AppError(f"no face found: {exc}") from exc
    linfs = [f.linf for f in e.frames if f.linf]
    scale = max(linfs) if linfs else None  # one gain for every frame: sizes stay comparable
    frames = []
    for f in e.frames:
        pert = None if f.perturbation is None else perturbation_image(f.perturbation, scale)[0]
        cam_adv = None if f.cam_attacked is None else overlay(f.attacked_crop, f.cam_attacked)
        frames.append(
            FrameView(
                f.index,
                f.p_clean,
                f.p_attacked,
                f.crop,
                f.attacked_crop,
                pert,
                overlay(f.crop, f.cam_clean),
                cam_adv,
            )
        )
    notes = [f"Grad-CAM of the fake logit at {e.cam_layer}"]
    if e.kind == "clip":
        notes.append(f"{e.detector} scores the clip as a whole: no per-frame probabilities")
    return Analysis(e.p_clean, e.p_attacked, frames, notes)


# -- outputs ------------------------------------------------------------------------------------


def summary(a: Analysis, attack: str, attack_options: dict[str, Any]) -> str:
    """The scores as Markdown (the line ``clean fake probability: 0.123`` is what tests read)."""

    def verdict(p: float) -> str:
        return "FAKE" if p >= 0.5 else "REAL"

    lines = [f"**clean fake probability: {a.p_clean:.3f}** ({verdict(a.p_clean)} at 0.5)"]
    if a.p_attacked is not None:
        eps = attack_options.get("eps")
        budget = f", eps {eps * 255:g}/255" if eps is not None else ""
        lines.append(
            f"**attacked fake probability: {a.p_attacked:.3f}** ({verdict(a.p_attacked)} at 0.5; "
            f"{attack}{budget})"
        )
    how = "one clip" if a.frames and a.frames[0].p_clean is None else "the mean of the frames' scores"
    lines.append(f"{len(a.frames)} sampled frame(s) with a face; the video's score is {how}.")
    lines += [f"_{n}_" for n in a.notes]
    return "\n\n".join(lines)


def frame_plot(a: Analysis) -> Any:
    """A matplotlib figure of p_fake per sampled frame, clean and attacked."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 3), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    xs = [f.index for f in a.frames]
    ax.plot(
        xs,
        [np.nan if f.p_clean is None else f.p_clean for f in a.frames],
        "o-",
        color="tab:blue",
        label="clean",
    )
    if any(f.p_attacked is not None for f in a.frames):
        ys = [np.nan if f.p_attacked is None else f.p_attacked for f in a.frames]
        ax.plot(xs, ys, "s--", color="tab:red", label="attacked")
    ax.axhline(0.5, color="grey", lw=0.8, ls=":")
    ax.set(ylim=(-0.02, 1.02), xlabel="frame index", ylabel="fake probability", title="per sampled frame")
    ax.legend(loc="best")
    ax.grid(alpha=0.3)
    return fig


COLUMNS = ("face crop", "attacked", "perturbation", "Grad-CAM clean", "Grad-CAM attacked")


def heat_maps(a: Analysis, limit: int = 4, size: int = 128) -> np.ndarray | None:
    """One image: a row per frame (at most ``limit``, evenly spaced) of crop, attacked crop,
    amplified perturbation, Grad-CAM clean and attacked, each row under a caption with its scores."""
    import cv2

    if not a.frames:
        return None
    picks = np.unique(np.linspace(0, len(a.frames) - 1, min(limit, len(a.frames))).round().astype(int))
    gap, strip = 4, 22
    width = len(COLUMNS) * (size + gap) - gap
    white = (255, 255, 255)

    def text(line: str) -> np.ndarray:
        canvas = np.full((strip, width, 3), 255, dtype=np.uint8)
        cv2.putText(canvas, line, (2, strip - 7), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
        return canvas

    head = np.full((strip, width, 3), 255, dtype=np.uint8)
    for c, name in enumerate(COLUMNS):
        cv2.putText(
            head,
            name,
            (c * (size + gap) + 2, strip - 7),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.4,
            (0, 0, 0),
            1,
            cv2.LINE_AA,
        )
    rows = [head]
    for i in picks:
        f = a.frames[int(i)]
        clean = "" if f.p_clean is None else f": clean {f.p_clean:.3f}"
        adv = "" if f.p_attacked is None else f" -> attacked {f.p_attacked:.3f}"
        rows.append(text(f"frame {f.index}{clean}{adv}"))
        row = np.full((size, width, 3), white, dtype=np.uint8)
        images = (f.crop, f.attacked_crop, f.perturbation, f.cam_clean, f.cam_attacked)
        for c, im in enumerate(images):
            if im is not None:
                tile = cv2.resize(
                    np.asarray(im, dtype=np.uint8), (size, size), interpolation=cv2.INTER_NEAREST
                )
                row[:, c * (size + gap) : c * (size + gap) + size] = tile
        rows.append(row)
    return np.concatenate(rows, axis=0)


def attacked_video(a: Analysis, folder: Path) -> Path | None:
    """The attacked face crops, as scored (8-bit), one per sampled frame, as a lossless H.264 mp4."""
    from harness.video import encode_video

    crops = [f.attacked_crop for f in a.frames if f.attacked_crop is not None]
    if not crops:
        return None
    path = folder / "attacked_faces.mp4"
    encode_video(path, (np.asarray(c, dtype=np.uint8) for c in crops), CROP_FPS, "lossless", "medium")
    return path


@dataclass
class Outputs:
    summary: str
    plot: Any
    heat_maps: np.ndarray | None
    video: str | None


def run_once(
    video: str | None,
    detector: str,
    checkpoint: str | None,
    attack: str,
    eps255: float,
    face_detector: str,
    frames: int,
    data: DataConfig | None = None,
    device: str = "auto",
    progress: Progress | None = None,
) -> Outputs:
    """The page's one handler, without gradio: inputs as the widgets give them -> everything shown."""
    from harness.faces import FaceConfig

    if not video:
        raise AppError("upload a video or pick one of the embedded benchmark first")
    ckpt = resolve_checkpoint(detector, checkpoint, data)
    options = attack_settings(attack, eps255)
    faces = FaceConfig(detector=face_detector, num_frames=int(frames))  # type: ignore[arg-type]
    chosen = None if attack == NO_ATTACK else attack
    a = analyse(video, detector, ckpt, chosen, options, faces, device, progress)
    folder = Path(tempfile.mkdtemp(prefix="harness-app-"))
    out = attacked_video(a, folder)
    return Outputs(
        summary(a, attack, options), frame_plot(a), heat_maps(a), None if out is None else str(out)
    )


# -- the page -----------------------------------------------------------------------------------

INTRO = """# Deepfake detector: one video
Upload a video (or pick one of the embedded benchmark), choose a detector and its weights, and an
attack. The attack perturbs the **face crops the detector sees** (8-bit, within the budget), not the
full frames: the download is those attacked crops, one per sampled frame, as a lossless video."""


def build_app(data: DataConfig | None = None, device: str = "auto") -> Any:
    """The Gradio page (``gr.Blocks``); ``data`` names the embedded benchmark listed in the picker."""
    import gradio as gr

    from harness.attacks import ATTACKS
    from harness.detectors import DETECTORS

    def list_videos() -> Any:
        try:
            choices = list(benchmark_videos(data).items())
        except Exception as exc:  # the page works without the benchmark
            gr.Warning(f"could not list the embedded benchmark: {exc}")
            choices = []
        return gr.update(choices=choices, value=None)

    def handle(video, detector, checkpoint, attack, eps255, face_detector, frames, progress=gr.Progress()):  # noqa: B008
        def report(fraction: float, message: str) -> None:
            progress(fraction, desc=message)

        progress(0.0, desc="starting")
        try:
            o = run_once(
                video, detector, checkpoint, attack, eps255, face_detector, frames, data, device, report
            )
        except (AppError, ValueError, KeyError) as exc:
            raise gr.Error(str(exc)) from exc
        return o.summary, o.plot, o.heat_maps, o.video

    with gr.Blocks(title="harness app", analytics_enabled=False) as demo:
        gr.Markdown(INTRO)
        with gr.Row():
            with gr.Column(scale=1):
                video = gr.Video(label="video", sources=["upload"], elem_id="video")
                bench = gr.Dropdown(label="or an embedded-benchmark video", choices=[], elem_id="bench")
                listing = gr.Button("list benchmark videos", size="sm")
                detector = gr.Dropdown(DETECTORS.names(), value=DEFAULT_DETECTOR, label="detector")
                checkpoint = gr.Textbox(
                    DEFAULT_CHECKPOINT,
                    label="checkpoint",
                    info="a path, mesonet:Meso4_DF (meso4), or empty: the detector's cached demo model",
                )
                attack = gr.Dropdown([NO_ATTACK, *ATTACKS.names()], value="pgd", label="attack")
                eps = gr.Slider(0, 16, value=4, step=1, label="budget eps (/255, L-inf attacks)")
                faces = gr.Radio(["mtcnn", "haar", "none"], value="mtcnn", label="face detector")
                frames = gr.Slider(1, 64, value=16, step=1, label="frames sampled")
                run = gr.Button("score the video", variant="primary", elem_id="run")
            with gr.Column(scale=2):
                result = gr.Markdown("no video scored yet", elem_id="result")
                plot = gr.Plot(show_label=False)
                cams = gr.Image(label="heat maps", show_label=False, type="numpy", interactive=False)
                download = gr.File(label="attacked face crops (lossless mp4)", elem_id="download")
        listing.click(list_videos, outputs=bench)
        demo.load(list_videos, outputs=bench)
        # `.input`, not `.change`: listing the benchmark (on page load) resets the picker, and
        # that must not wipe a video the user has uploaded meanwhile
        bench.input(lambda path: path if path else gr.update(), bench, video)
        detector.change(lambda d: DEFAULT_CHECKPOINT if d == DEFAULT_DETECTOR else "", detector, checkpoint)
        run.click(
            handle,
            [video, detector, checkpoint, attack, eps, faces, frames],
            [result, plot, cams, download],
        )
    return demo


def launch(
    host: str = "127.0.0.1",
    port: int = 7860,
    share: bool = False,
    data: DataConfig | None = None,
    device: str = "auto",
    block: bool = True,
) -> Any:
    """Serve the page on ``host:port`` (localhost by default); ``block=False`` returns the running app."""
    import gradio as gr

    from harness.datasets import cache_root

    demo = build_app(data, device)
    theme = gr.themes.Default(font=["system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])
    demo.queue().launch(
        server_name=host,
        server_port=port,
        share=share,
        prevent_thread_lock=not block,
        allowed_paths=[str(cache_root(data.cache_dir if data else None))],  # the benchmark videos
        theme=theme,  # system fonts: the page fetches nothing from the internet
        quiet=not block,
    )
    return demo
