"""Real clips of the synthetic people: backgrounds, smooth head motion, lighting, sensor noise."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from harness.datasets._face_canvas import ANCHOR, IOD, TEXTURES, _texture
from harness.datasets._face_geometry import _smooth_field, apply
from harness.datasets._face_people import Person, dress


# -- backgrounds -------------------------------------------------------------------------------
def make_background(rng: np.random.Generator, size: int, margin: int) -> np.ndarray:
    """A (size + 2 margin)^2 float32 RGB background: gradient, tinted texture or colour noise."""
    n = size + 2 * margin
    kind = int(rng.integers(4))
    c0, c1 = rng.uniform(0.1, 0.9, size=(2, 3)).astype(np.float32)
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float32) / n
    if kind == 0:  # linear gradient
        t = rng.uniform(0, 2 * np.pi)
        g = (np.cos(t) * (xx - 0.5) + np.sin(t) * (yy - 0.5)) + 0.5
        bg = c0 + np.clip(g, 0, 1)[..., None] * (c1 - c0)
    elif kind == 1:  # radial gradient
        cx, cy = rng.uniform(0.2, 0.8, size=2)
        r = np.sqrt((xx - cx) ** 2 + (yy - cy) ** 2) / 0.8
        bg = c0 + np.clip(r, 0, 1)[..., None] * (c1 - c0)
    elif kind == 2:  # tinted, defocused texture
        tex = _texture(TEXTURES[int(rng.integers(len(TEXTURES)))])
        zoom = rng.uniform(0.5, 1.5)
        crop = max(16, min(512, int(n / zoom)))
        y0, x0 = (int(v) for v in rng.integers(0, 512 - crop + 1, size=2))
        tex = cv2.resize(tex[y0 : y0 + crop, x0 : x0 + crop], (n, n), interpolation=cv2.INTER_LINEAR)
        tex = cv2.GaussianBlur(tex, (0, 0), rng.uniform(0.8, 2.5))
        tex = (tex - tex.min()) / (np.ptp(tex) + 1e-6)
        bg = c0 + tex[..., None] * (c1 - c0) * rng.uniform(0.4, 1.0)
    else:  # smooth colour noise
        bg = np.stack([_smooth_field(rng, (n, n), int(rng.integers(2, 6))) for _ in range(3)], -1)
        bg = 0.5 * (c0 + c1) + 0.25 * bg
    return np.clip(bg, 0, 1).astype(np.float32)


# -- clips -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Clip:
    """A rendered real clip: frames (uint8 RGB) and, per frame, the canvas-to-frame transform."""

    frames: np.ndarray  # (T, S, S, 3) uint8
    transforms: np.ndarray  # (T, 2, 3)
    face_boxes: np.ndarray  # (T, 4) x0, y0, x1, y1 in frame pixels


def _motion(rng: np.random.Generator, frames: int, amp: float) -> np.ndarray:
    """Smooth 1-D trajectory in [-amp, amp]: two sinusoids of random phase and frequency."""
    t = np.arange(frames) / max(frames, 1)
    out = np.zeros(frames)
    for _ in range(2):
        out += np.sin(2 * np.pi * (rng.uniform(0.2, 1.0) * t + rng.uniform(0, 1)))
    return amp * out / 2


def render_real(person: Person, rng: np.random.Generator, frames: int, size: int) -> Clip:
    """A clip of ``person`` moving smoothly over a background, with lighting and sensor noise."""
    margin = max(4, size // 16)
    bg = make_background(rng, size, margin)
    rgb = dress(person, rng)
    premult = np.dstack([rgb * person.alpha[..., None], person.alpha]).astype(np.float32)

    iod = size * rng.uniform(0.17, 0.20)
    scale0 = iod / IOD
    cx0 = size * (0.5 + rng.uniform(-0.07, 0.07))
    cy0 = size * (0.40 + rng.uniform(-0.04, 0.04))
    tx = _motion(rng, frames, size * 0.035)
    ty = _motion(rng, frames, size * 0.025)
    sc = 1 + _motion(rng, frames, 0.05)
    rot = _motion(rng, frames, 5.0) + rng.uniform(-3, 3)
    pan = np.stack([_motion(rng, frames, margin * 0.6), _motion(rng, frames, margin * 0.6)], -1)

    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    t = rng.uniform(0, 2 * np.pi)
    light = 1 + rng.uniform(0.05, 0.18) * (np.cos(t) * (xx - 0.5) + np.sin(t) * (yy - 0.5)) * 2
    light = light[..., None] * (1 + rng.uniform(-0.04, 0.04, size=3)).astype(np.float32)
    light *= rng.uniform(0.9, 1.08)
    noise_sigma = rng.uniform(1.5, 3.5) / 255.0

    out = np.empty((frames, size, size, 3), np.uint8)
    transforms = np.empty((frames, 2, 3))
    boxes = np.empty((frames, 4))
    canvas_box = person.face_box()
    corners = np.array([[canvas_box[i], canvas_box[j]] for i in (0, 2) for j in (1, 3)])
    for f in range(frames):
        s = scale0 * sc[f]
        a = np.deg2rad(rot[f])
        lin = s * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        centre = np.array([cx0 + tx[f], cy0 + ty[f]])
        m = np.hstack([lin, (centre - lin @ ANCHOR)[:, None]])
        shift = np.float64([[1, 0, -margin + pan[f, 0]], [0, 1, -margin + pan[f, 1]]])
        back = cv2.warpAffine(
            bg, shift, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101
        )
        fg = cv2.warpAffine(premult, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        img = fg[..., :3] + (1 - fg[..., 3:4]) * back
        img = img * light + rng.normal(0, noise_sigma, img.shape).astype(np.float32)
        out[f] = np.clip(np.round(img * 255), 0, 255).astype(np.uint8)
        transforms[f] = m
        p = apply(m, corners)
        boxes[f] = [p[:, 0].min(), p[:, 1].min(), p[:, 0].max(), p[:, 1].max()]
    return Clip(out, transforms, boxes)
