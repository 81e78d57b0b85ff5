"""H.264 re-encoding: libx264 at a constant rate factor, then decoded back (through PyAV).

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

Defaults: ``crf = 23`` and ``preset = "medium"`` (x264's defaults; platforms re-encode around
CRF 23-28). Runs on the CPU (frames go to the host once per call and come back to the input's
device). Deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import torch
from torch import Tensor

from harness.attacks import register_attack
from harness.attacks._base import Attack, AttackConfig, AttackModel, require
from harness.attacks.jpeg import to_uint8

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


@dataclass(frozen=True)
class H264Config(AttackConfig):
    crf: int = 23
    preset: str = "medium"

    def __post_init__(self) -> None:
        super().__post_init__()
        require(0 <= self.crf <= 51, f"crf must be in 0..51, got {self.crf}")
        require(self.preset in PRESETS, f"preset must be one of {PRESETS}, got {self.preset!r}")


def h264_roundtrip(frames: np.ndarray, crf: int, preset: str) -> np.ndarray:
    """Encode ``(T, H, W, 3)`` uint8 RGB frames as one H.264 stream and decode them back."""
    import av

    t, h, w, _ = frames.shape
    ph, pw = h + h % 2, w + w % 2
    if (ph, pw) != (h, w):
        frames = np.pad(frames, ((0, 0), (0, ph - h), (0, pw - w), (0, 0)), mode="edge")
    enc = av.CodecContext.create("libx264", "w")
    enc.width, enc.height, enc.pix_fmt = pw, ph, "yuv420p"
    enc.time_base = Fraction(1, 25)
    enc.framerate = Fraction(25, 1)
    enc.options = {"crf": str(crf), "preset": preset}
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


@register_attack("h264")
class H264(Attack):
    """H.264 (libx264) re-encoding at a CRF: per clip, or per frame as one intra frame (perturbation)."""

    name = "h264"
    Config = H264Config
    strength = "crf"

    def run(self, model: AttackModel, x: Tensor, y: Tensor) -> Tensor:
        clips = to_uint8(model.frames(x)).permute(0, 1, 3, 4, 2).numpy()  # (n, T, H, W, 3)
        if model.num_frames is None:  # frame detector: every frame its own one-frame video
            clips = clips.reshape(-1, 1, *clips.shape[2:])
        c = self.config
        out = np.stack([h264_roundtrip(clip, c.crf, c.preset) for clip in clips])
        out_t = torch.from_numpy(out).permute(0, 1, 4, 2, 3)  # (., T, 3, H, W)
        return out_t.to(device=x.device, dtype=x.dtype).div_(255).reshape(x.shape)
