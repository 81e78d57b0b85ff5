"""H.264 re-encoding: each clip (or frame) encoded at a constant rate factor and decoded back (PyAV).

A perturbation (no gradients, no budget): the compression every shared deepfake video goes
through, which smooths the blending and up-sampling traces detectors look for.

* Clip detectors: each clip ``(T, 3, H, W)`` is encoded as its own video (inter-frame coding
  across its T frames, as a re-uploaded video would be). A clip sampled sparsely from a longer
  video is coded as if its frames were consecutive: an approximation of re-encoding the source.
* Frame detectors: each frame is encoded as its own one-frame video (a single intra-coded
  frame at the same CRF), so the result for a frame never depends on the rest of the batch (x264's
  rate control would otherwise let frames of one batch influence each other's quantizers).
* ``yuv420p`` needs even sides: odd-sized frames are edge-padded to even size and cropped back.
  Colour conversion RGB <-> YUV is swscale's BT.601 both ways.
* The videos of a batch are independent, so they are coded concurrently in a thread pool
  (``threads``: ``0`` = one per video up to ``os.cpu_count()``, ``1`` = one after the other);
  PyAV releases the GIL while FFmpeg codes. Each video is coded exactly as in the serial loop
  (its own encoder and decoder, results in batch order), so the output does not depend on
  ``threads`` (beyond x264's own run-to-run variation on clips: see Reproducibility).

Encoders (``encoder``):

* ``libx264`` (the default): x264 at ``crf`` and ``preset`` on the CPU; the numbers of the
  committed results.
* ``h264_nvenc``: NVIDIA's hardware encoder (NVENC) through PyAV, where the FFmpeg build has it
  and the GPU has an NVENC unit (GeForce / RTX / L4 / L40 ... do; A100 / H100 / H200 do not).
  NVENC has no CRF: it codes at the constant quantizer ``qp = crf`` (``rc=constqp``), and x264
  presets map to NVENC's ``p1`` (fastest) .. ``p7`` (slowest; ``medium`` -> ``p4``, NVENC's
  default). Its output differs from x264's at the same setting (and between GPU generations), so
  results are not comparable with ``libx264`` ones. NVENC has a minimum frame size
  (GPU-dependent: tiny frames may be refused) and consumer cards limit concurrent sessions
  (lower ``threads`` if opening fails). Frames still go through host memory (PyAV takes host frames); decoding is
  FFmpeg's software decoder in both cases.

Reproducibility (libx264): x264's output depends on its own thread count, which x264 would
otherwise pick from the machine's CPU count (1, 2 and 3+ threads give three different results
for the same 224-px frame), so it is pinned to ``X264_THREADS = 2``: the count x264 chose on the
2-CPU machines the committed results come from, now the same on every machine (the ``threads``
pool runs whole videos side by side on top of it). Frame detectors' one-frame videos are then
bit-reproducible. Multi-frame clips at presets with x264's MB-tree rate control (``veryfast``
and slower, the default ``medium`` included) are not: a few clips in a batch come out different
from run to run (measured: up to ~25 grey levels on some frames of a 224-px 8-frame clip), in a
single process without any pool as well; ``ultrafast`` / ``superfast`` (no MB-tree) are
reproducible.

Defaults: ``crf = 23`` and ``preset = "medium"`` (x264's defaults; platforms re-encode around
CRF 23-28), ``encoder = "libx264"``, ``threads = 0``. Frames go to the host once per call and
come back to the input's device.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import torch
from torch import Tensor

from harness.attacks import register_attack
from harness.attacks._base import Attack, AttackConfig, AttackModel, require
from harness.codecs import to_uint8

PRESETS = (
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
    "placebo",
)
ENCODERS = ("libx264", "h264_nvenc")
# x264 preset -> NVENC preset (p1 fastest .. p7 slowest best quality; p4 is NVENC's default).
NVENC_PRESETS = {
    "ultrafast": "p1",
    "superfast": "p1",
    "veryfast": "p2",
    "faster": "p3",
    "fast": "p3",
    "medium": "p4",
    "slow": "p5",
    "slower": "p6",
    "veryslow": "p7",
    "placebo": "p7",
}
FIX = "use the CPU encoder with --set attack.encoder=libx264"
# x264's output depends on its thread count; "auto" would follow the machine's CPU count. 2 is what
# auto chose on the 2-CPU machines that made the committed results (see the module docstring).
X264_THREADS = 2


@dataclass(frozen=True)
class H264Config(AttackConfig):
    crf: int = 23  # 0..51, higher is stronger compression
    preset: str = "medium"  # x264 preset
    encoder: str = "libx264"  # libx264 (CPU) | h264_nvenc (NVIDIA NVENC, where the GPU and FFmpeg have it)
    threads: int = 0  # videos coded concurrently: 0 = min(videos, cpu count), 1 = serial

    def __post_init__(self) -> None:
        super().__post_init__()
        require(0 <= self.crf <= 51, f"crf must be in 0..51, got {self.crf}")
        require(self.preset in PRESETS, f"preset must be one of {PRESETS}, got {self.preset!r}")
        require(self.encoder in ENCODERS, f"encoder must be one of {ENCODERS}, got {self.encoder!r}")
        require(
            isinstance(self.threads, int) and not isinstance(self.threads, bool) and self.threads >= 0,
            f"threads must be an int >= 0 (0: one per video up to the CPU count, 1: serial), got {self.threads!r}",
        )


def _encoder(width: int, height: int, crf: int, preset: str, encoder: str):  # -> av.CodecContext
    """An opened H.264 encoder for ``width x height`` yuv420p frames at 25 fps."""
    import av

    if encoder not in av.codecs_available:
        raise RuntimeError(
            f"h264: this FFmpeg build (PyAV {av.__version__}) has no {encoder!r} encoder: {FIX}"
        )
    enc = av.CodecContext.create(encoder, "w")
    enc.width, enc.height, enc.pix_fmt = width, height, "yuv420p"
    enc.time_base = Fraction(1, 25)
    enc.framerate = Fraction(25, 1)
    if encoder == "h264_nvenc":
        enc.options = {"rc": "constqp", "qp": str(crf), "preset": NVENC_PRESETS[preset]}
    else:
        enc.options = {"crf": str(crf), "preset": preset, "threads": str(X264_THREADS)}
    try:
        enc.open()
    except av.FFmpegError as exc:
        if encoder == "libx264":
            raise
        raise RuntimeError(
            f"h264: could not open the {encoder} encoder for {width}x{height} frames ({exc}); it needs "
            "an NVIDIA GPU with an NVENC unit and its driver, frames above NVENC's minimum size, and "
            f"no more concurrent sessions than the card allows (try threads=1): {FIX}"
        ) from exc
    return enc


def h264_roundtrip(frames: np.ndarray, crf: int, preset: str, encoder: str = "libx264") -> np.ndarray:
    """Encode ``(T, H, W, 3)`` uint8 RGB frames as one H.264 stream and decode them back."""
    import av

    t, h, w, _ = frames.shape
    ph, pw = h + h % 2, w + w % 2
    if (ph, pw) != (h, w):
        frames = np.pad(frames, ((0, 0), (0, ph - h), (0, pw - w), (0, 0)), mode="edge")
    enc = _encoder(pw, ph, crf, preset, encoder)
    packets = []
    for i, frame in enumerate(frames):
        vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24").reformat(
            format="yuv420p"
        )
        vf.pts = i
        vf.time_base = enc.time_base
        packets += enc.encode(vf)
    packets += enc.encode(None)
    dec = av.CodecContext.create("h264", "r")
    out = [f.to_ndarray(format="rgb24") for p in [*packets, None] for f in dec.decode(p)]
    if len(out) != t:
        raise RuntimeError(f"h264: encoded {t} frames but decoded {len(out)}")
    return np.stack(out)[:, :h, :w]


def nvenc_available() -> bool:
    """Whether ``h264_nvenc`` can be opened here (an FFmpeg build with it, and a GPU with NVENC)."""
    try:
        _encoder(256, 256, 23, "medium", "h264_nvenc")
    except (RuntimeError, ValueError, OSError):
        return False
    return True


def pool_size(threads: int, videos: int) -> int:
    """Worker threads for ``videos`` videos: ``threads``, or ``min(videos, cpu count)`` for 0."""
    return max(1, min(videos, threads or os.cpu_count() or 1))


@register_attack
class H264(Attack):
    """H.264 re-encoding (libx264, or NVENC) at a CRF: per clip, or per frame as one intra frame (perturbation)."""

    Config = H264Config
    strength = "crf"

    def run(self, model: AttackModel, x: Tensor, y: Tensor) -> Tensor:
        clips = to_uint8(model.frames(x)).permute(0, 1, 3, 4, 2).numpy()  # (n, T, H, W, 3)
        if model.num_frames is None:  # frame detector: every frame its own one-frame video
            clips = clips.reshape(-1, 1, *clips.shape[2:])
        c = self.config

        def code(clip: np.ndarray) -> np.ndarray:
            return h264_roundtrip(clip, c.crf, c.preset, c.encoder)

        workers = pool_size(c.threads, len(clips))
        if workers == 1:
            out = np.stack([code(clip) for clip in clips])
        else:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="h264") as pool:
                out = np.stack(list(pool.map(code, clips)))  # batch order, first error re-raised
        out_t = torch.from_numpy(out).permute(0, 1, 4, 2, 3)  # (., T, 3, H, W)
        return out_t.to(device=x.device, dtype=x.dtype).div_(255).reshape(x.shape)
