"""Fakes of the synthetic benchmark: a face swap with the artifacts of a crude pipeline."""

from __future__ import annotations

import cv2
import numpy as np

from harness.datasets._face_canvas import CANON_LMS, CANVAS_H, CANVAS_W
from harness.datasets._face_geometry import apply, compose, ellipse_mask, similarity
from harness.datasets._face_people import _INNER, Person
from harness.datasets._face_render import Clip


def _skin_tone(person: Person) -> np.ndarray:
    """Median CIELAB colour of the person's inner-face skin, on the canvas."""
    m = similarity(CANON_LMS, person.lms)
    centre = apply(m, np.array([_INNER[0]]))[0]
    inner = ellipse_mask((CANVAS_H, CANVAS_W), (float(centre[0]), float(centre[1])), _INNER[1], 0, 0)
    sel = (inner > 0.5) & (person.skin > 0.5)
    lab = cv2.cvtColor(person.rgb, cv2.COLOR_RGB2LAB)
    return np.median(lab[sel], axis=0) if sel.sum() > 50 else np.array([65.0, 12.0, 15.0])


# Strength of the face-swap artifacts of fakes: (low, high) ranges, one value drawn per video.
SWAP = {
    "res": (0.28, 0.36),  # low-res render side / swapped square side (default size: 32-42 px)
    "flatten": (0.8, 0.92),  # lightness contrast of the swapped face / the target's
    "desat": (0.5, 0.7),  # chroma the swapped face loses (washed-out colours)
    "rim": (0.12, 0.2),  # darkening along the blending boundary
    "halo": (0.6, 0.9),  # width of that rim, low-res pixels
    "step_l": (4.0, 8.0),  # CIELAB lightness step between swapped face and skin
    "step_ab": (2.0, 4.0),  # CIELAB colour step
    "feather": (0.5, 1.0),  # mask feather, low-res pixels
}


def render_fake(clip: Clip, target: Person, donor: Person, rng: np.random.Generator) -> np.ndarray:
    """Swap ``donor``'s inner face into ``clip`` (of ``target``), with face-swap artifacts.

    Like an autoencoder face swap with a crude blend: the donor's face is rendered at low
    resolution (about 32-42 px for the swapped square at the default frame size) and upsampled,
    so it is blurrier than the rest of the frame and carries none of its sensor noise or skin
    grain; its colour correction is poor: the render is washed out (desaturated) and flatter
    than the target's face, with a brightness and colour step towards the surrounding skin (in
    the direction of the donor's own skin tone); it is pasted with a narrow-feathered, slightly
    misaligned elliptical mask that leaves a darker rim along the seam (a visible blending
    boundary); and mask, alignment and colour jitter from frame to frame (flicker). Strengths are
    drawn per video from the ranges in :data:`SWAP`; they are chosen so that a small CNN learns
    the artifacts at 64 px input in about a hundred optimizer steps.
    """
    frames, size = clip.frames.shape[0], clip.frames.shape[1]
    align = similarity(donor.lms, target.lms)  # donor canvas -> target canvas
    # The swap region, on the target canvas: inner face from the brows to above the chin.
    mid = target.lms[:2].mean(0)
    iod = float(np.linalg.norm(target.lms[1] - target.lms[0]))
    centre = mid + np.array([0.0, 0.5 * iod])
    axes = np.array([0.88, 1.12]) * iod * rng.uniform(0.95, 1.05, size=2)

    res_frac = rng.uniform(*SWAP["res"])  # low-res render side / swapped square side
    colour_match = rng.uniform(0.3, 0.7)  # 0: donor's colours, 1: fully matched to the target
    flatten = rng.uniform(*SWAP["flatten"])  # the render's contrast / the target's (smoothing)
    rim = rng.uniform(*SWAP["rim"])  # darkening along the blending boundary
    halo_width = rng.uniform(*SWAP["halo"])  # rim width in low-res pixels
    desat = rng.uniform(*SWAP["desat"])  # chroma lost by the render
    # The tone step left by the imperfect colour correction, towards the donor's own skin tone.
    diff = _skin_tone(donor) - _skin_tone(target)
    sign = np.sign(diff[0]) if abs(diff[0]) > 2 else rng.choice([-1.0, 1.0])
    step_l = sign * rng.uniform(*SWAP["step_l"])
    chroma = diff[1:] if np.linalg.norm(diff[1:]) > 1.5 else rng.normal(0, 1, 2)
    step_ab = chroma / (np.linalg.norm(chroma) + 1e-6) * rng.uniform(*SWAP["step_ab"])
    offset = rng.uniform(-0.06, 0.06, size=2) * iod  # mask misalignment, fixed for the clip
    feather = rng.uniform(*SWAP["feather"])  # boundary sharpness in low-res pixels
    out = clip.frames.copy()
    for f in range(frames):
        m = clip.transforms[f]
        s = float(np.sqrt(abs(np.linalg.det(m[:, :2]))))
        # Per-frame jitter of the donor's alignment (position, scale, rotation): flicker.
        jit_a = np.deg2rad(rng.normal(0, 1.5))
        jit_s = 1 + rng.normal(0, 0.02)
        jit_t = rng.normal(0, 0.03 * iod, size=2)
        lin = jit_s * np.array([[np.cos(jit_a), -np.sin(jit_a)], [np.sin(jit_a), np.cos(jit_a)]])
        jit = np.hstack([lin, (centre + jit_t - lin @ centre)[:, None]])
        to_frame = compose(m, compose(jit, align))

        box_c = apply(m, centre[None])[0]
        half = float(max(axes) * s * 1.25)
        x0, y0 = int(np.floor(box_c[0] - half)), int(np.floor(box_c[1] - half))
        side = int(np.ceil(2 * half))
        lo = max(8, int(round(side * res_frac)))
        k = lo / side
        # The donor's face in the swapped square, then downsampled: the low-resolution render.
        shift = np.float64([[1, 0, -x0], [0, 1, -y0]])
        patch = cv2.warpAffine(
            donor.rgb,
            compose(shift, to_frame),
            (side, side),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REFLECT101,
        )
        patch = cv2.resize(patch, (lo, lo), interpolation=cv2.INTER_AREA)
        crop = np.float64([[k, 0, -x0 * k], [0, k, -y0 * k]])  # frame -> low-res square

        # Low-res mask: target's inner-face ellipse, misaligned and jittering.
        mc = apply(compose(crop, m), (centre + offset)[None])[0] + rng.normal(0, 0.025 * iod * s * k, size=2)
        ax = axes * s * k * (1 + rng.normal(0, 0.03, size=2))
        ang = float(np.rad2deg(np.arctan2(m[1, 0], m[0, 0]))) + rng.normal(0, 2.0)
        ell = ((lo, lo), (float(mc[0]), float(mc[1])), (float(ax[0]), float(ax[1])), ang)
        mask = ellipse_mask(*ell, feather)
        halo = ellipse_mask(*ell, halo_width)

        # Poor colour correction in CIELAB: mean and colour spread partly matched (the strength
        # flickering), lightness spread flattened, the tone step added (flickering too), and
        # the colours washed out.
        tgt = clip.frames[f].astype(np.float32) / 255.0
        fx0, fy0 = max(0, x0), max(0, y0)
        fx1, fy1 = min(size, x0 + side), min(size, y0 + side)
        if fx1 <= fx0 or fy1 <= fy0:
            continue
        sub = (slice(fy0 - y0, fy1 - y0), slice(fx0 - x0, fx1 - x0))
        tgt_lo = cv2.resize(
            cv2.warpAffine(
                tgt, shift, (side, side), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_REFLECT101
            ),
            (lo, lo),
            interpolation=cv2.INTER_AREA,
        )
        plab = cv2.cvtColor(patch, cv2.COLOR_RGB2LAB)
        tlab = cv2.cvtColor(tgt_lo, cv2.COLOR_RGB2LAB)
        core = mask > 0.5
        if core.sum() > 4:
            a = float(np.clip(colour_match + rng.normal(0, 0.08), 0, 1))
            pm, ps = plab[core].mean(0), plab[core].std(0) + 1e-3
            tm, ts = tlab[core].mean(0), tlab[core].std(0) + 1e-3
            spread = ps + a * (ts - ps)
            spread[0] = ts[0] * flatten
            plab = (plab - pm) * (spread / ps) + pm + a * (tm - pm)
            plab[..., 0] += step_l * rng.uniform(0.85, 1.15) + rng.normal(0, 1.5)
            plab[..., 1:] += step_ab * rng.uniform(0.85, 1.15) + rng.normal(0, 0.7, size=2)
            plab[..., 1:] *= 1 - desat * rng.uniform(0.85, 1.15)
        patch = np.clip(cv2.cvtColor(plab.astype(np.float32), cv2.COLOR_LAB2RGB), 0, 1)

        # Upsample (the resolution mismatch) and paste with the mask; the seam gets a darker rim.
        big = cv2.resize(patch, (side, side), interpolation=cv2.INTER_LINEAR)
        bmask = cv2.resize(mask, (side, side), interpolation=cv2.INTER_LINEAR)
        bhalo = cv2.resize(4 * halo * (1 - halo), (side, side), interpolation=cv2.INTER_LINEAR)
        region = tgt[fy0:fy1, fx0:fx1]
        w = bmask[sub][..., None]
        blended = (w * big[sub] + (1 - w) * region) * (1 - rim * bhalo[sub][..., None])
        out[f, fy0:fy1, fx0:fx1] = np.clip(np.round(blended * 255), 0, 255).astype(np.uint8)
    return out
