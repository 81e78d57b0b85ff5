"""The synthetic people: identity styles and the :class:`Person` built from each, on the canvas.

:func:`random_style` draws an :class:`IdentityStyle`; :func:`build_person` turns it into a
:class:`Person` (a photo or drawn head, optionally an LFW face blended in, then warp, recolouring
and skin grain); :func:`dress` gives it a video's clothing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from harness.datasets._face_canvas import (
    _PHOTO_LMS,
    ANCHOR,
    CANON_LMS,
    CANVAS_H,
    CANVAS_W,
    FACE_BOX,
    LFW_LANDMARKS,
    SKIN_GRAIN,
    TEXTURES,
    _astronaut,
    _grace,
    _lfw,
    _texture,
)
from harness.datasets._face_geometry import (
    _poly_mask,
    _skin_likelihood,
    _smooth_field,
    apply,
    compose,
    ellipse_mask,
    similarity,
)


# -- people ------------------------------------------------------------------------------------
@dataclass
class Person:
    """A person on the canvas: colour, coverage and region masks, landmarks (3x2)."""

    rgb: np.ndarray  # (H, W, 3) float32 in [0, 1]
    alpha: np.ndarray  # (H, W) coverage of the person
    skin: np.ndarray  # (H, W) face and neck skin
    hair: np.ndarray  # (H, W) head region that is not skin (hair, hat)
    clothes: np.ndarray  # (H, W) torso
    lms: np.ndarray  # (3, 2) left eye, right eye, mouth centre

    def face_box(self) -> np.ndarray:
        """(x0, y0, x1, y1) face box on the canvas, following the landmarks."""
        m = similarity(CANON_LMS, self.lms)
        corners = ANCHOR + np.array([[FACE_BOX[i], FACE_BOX[j]] for i in (0, 2) for j in (1, 3)])
        p = apply(m, corners)
        return np.array([p[:, 0].min(), p[:, 1].min(), p[:, 0].max(), p[:, 1].max()])


@dataclass(frozen=True)
class IdentityStyle:
    """Everything that makes one synthetic identity (drawn from the seed)."""

    head: str  # one of HEADS
    lfw: int | None  # LFW face blended in, or None to keep the photo's own face
    skin_shift: tuple[float, float, float]  # CIELAB dL, da, db on skin (at L = 65)
    hair_tint: tuple[float, float, float]  # RGB gain on hair
    aspect: tuple[float, float]  # face width and height scale
    shear: float
    elastic: float  # amplitude of the elastic warp, canvas pixels
    warp_seed: int
    hair_color: tuple[float, float, float]  # drawn heads only
    skin_color: tuple[float, float, float]  # drawn heads only


# Outlines on the canvas (hand-traced): head with hair or hat, neck, and torso.
# fmt: off
_OUTLINES = {
    "astronaut": {
        "head": [(128, 28), (158, 32), (182, 44), (196, 60), (204, 80), (205, 104), (202, 128), (194, 148),
                 (178, 158), (168, 185), (150, 202), (128, 208), (106, 202), (88, 185), (78, 158), (62, 148),
                 (54, 128), (52, 104), (56, 80), (66, 58), (82, 42), (102, 32)],
        "neck": [(100, 180), (156, 180), (160, 220), (96, 220)],
        "torso": [(34, 206), (64, 184), (128, 174), (190, 182), (218, 204), (232, 236), (248, 268), (256, 320),
                  (0, 320), (0, 268), (16, 236)],
    },
    "grace": {
        "head": [(128, 38), (150, 42), (168, 56), (178, 74), (178, 100), (176, 120), (172, 150), (160, 172),
                 (146, 188), (128, 194), (110, 188), (96, 172), (84, 150), (78, 120), (76, 100), (78, 74),
                 (88, 56), (106, 42)],
        "neck": [(104, 176), (152, 176), (156, 212), (100, 212)],
        "torso": [(64, 196), (96, 180), (160, 180), (194, 198), (222, 218), (238, 250), (246, 320), (4, 320),
                  (4, 250), (16, 214)],
    },
}
# fmt: on
# The inner face (brows to chin) on the canvas, where LFW faces are blended in.
_INNER = ((128.0, 139.0), (41.0, 57.0))


def _photo_person(kind: str) -> Person:
    src = _astronaut() if kind == "astronaut" else _grace()
    m = similarity(_PHOTO_LMS[kind], CANON_LMS)
    rgb = cv2.warpAffine(src, m, (CANVAS_W, CANVAS_H), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT101)
    shape = (CANVAS_H, CANVAS_W)
    head, neck, torso = (_poly_mask(shape, _OUTLINES[kind][part], 0) for part in ("head", "neck", "torso"))
    inner = ellipse_mask(shape, *_INNER, 0, 3.0)
    skin_like = _skin_likelihood(rgb)
    if kind == "astronaut":  # drop the pale studio backdrop caught between the hair's curls
        hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
        backdrop = ((hsv[..., 1] < 0.16) & (hsv[..., 2] > 0.62)).astype(np.float32)
        backdrop = cv2.GaussianBlur(
            cv2.morphologyEx(backdrop, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)), (0, 0), 1.0
        )
        head = head * (1 - backdrop * (1 - np.maximum(inner, skin_like)))
    alpha = cv2.GaussianBlur(np.maximum.reduce([head, neck, torso]), (0, 0), 1.2)
    skin = np.clip(np.maximum(skin_like, inner) * np.maximum(head, neck), 0, 1)
    hair = np.clip(head - skin, 0, 1)
    clothes = np.clip(torso - head - neck, 0, 1)
    return Person(rgb, alpha, skin, hair, clothes, CANON_LMS.copy())


def _drawn_person(style: IdentityStyle, rng: np.random.Generator) -> Person:
    """A painted head (skin ellipse, textured hair, ears, neck, shoulders) for an LFW face."""
    shape = (CANVAS_H, CANVAS_W)
    yy, xx = np.mgrid[0:CANVAS_H, 0:CANVAS_W].astype(np.float32)
    skin_rgb = np.array(style.skin_color, np.float32)
    hair_rgb = np.array(style.hair_color, np.float32)
    volume = rng.uniform(0.0, 1.0)  # 0: short hair, 1: full
    back_hair = ellipse_mask(shape, (128, 114), (60 + 10 * volume, 78 + 6 * volume), 0, 1.0)
    back_hair *= np.clip((130 + 40 * volume - yy) / 6.0, 0, 1)
    ears = np.maximum(
        ellipse_mask(shape, (78, 132), (8, 15), -10, 1.0), ellipse_mask(shape, (178, 132), (8, 15), 10, 1.0)
    )
    face = ellipse_mask(shape, (128, 134), (50, 68), 0, 1.0)
    neck = _poly_mask(shape, [(106, 180), (150, 180), (156, 226), (100, 226)], 1.0)
    hairline = 80 + rng.uniform(0, 12) + 26 * ((xx - 128) / 52) ** 2
    fringe = back_hair * np.clip((hairline - yy) / 3.0, 0, 1)
    torso = _poly_mask(shape, [(60, 216), (196, 216), (240, 266), (256, 320), (0, 320), (16, 266)], 1.5)

    tex = _texture(TEXTURES[int(rng.integers(len(TEXTURES)))])
    y0, x0 = (int(v) for v in rng.integers(0, 512 - 320, size=2))
    tex = tex[y0 : y0 + CANVAS_H, x0 : x0 + CANVAS_W]
    tex = (tex - tex.mean()) / (tex.std() + 1e-6)
    strands = cv2.GaussianBlur(rng.normal(0, 1, shape).astype(np.float32), (0, 0), sigmaX=0.8, sigmaY=5)
    strands /= strands.std() + 1e-6
    shade = 1.0 - 0.22 * np.clip(((xx - 128) / 56.0) ** 2 + ((yy - 134) / 90.0) ** 2, 0, 1)

    clothes_rgb = rng.uniform(0.1, 0.8, size=3).astype(np.float32)
    layers = [
        (torso, clothes_rgb * (1 + 0.1 * tex[..., None])),
        (neck, skin_rgb * 0.85),
        (back_hair, hair_rgb * (1 + 0.2 * strands[..., None])),
        (ears, skin_rgb * 0.92),
        (face, skin_rgb * shade[..., None]),
        (fringe, hair_rgb * (1 + 0.2 * strands[..., None])),
    ]
    rgb = np.zeros((CANVAS_H, CANVAS_W, 3), np.float32)
    alpha = np.zeros(shape, np.float32)
    for cover, colour in layers:  # "over" compositing, premultiplied
        rgb = cover[..., None] * colour + (1 - cover[..., None]) * rgb
        alpha = cover + (1 - cover) * alpha
    rgb = rgb / np.maximum(alpha[..., None], 1e-3)
    skin = np.clip(np.maximum.reduce([face, ears, neck]) - fringe, 0, 1)
    hair = np.clip(np.maximum(back_hair, fringe) - skin, 0, 1)
    clothes = np.clip(torso - neck - back_hair, 0, 1)
    return Person(np.clip(rgb, 0, 1).astype(np.float32), alpha, skin, hair, clothes, CANON_LMS.copy())


def _blend_lfw(person: Person, index: int) -> Person:
    """Blend LFW face ``index`` (grey, 25 px) into the head, seamlessly.

    The 25 px face is upsampled smoothly (no pixel grid), its lightness matched to the face it
    replaces (mean and spread), its colour taken from the head's own skin, and it is blended in
    two bands: coarse shading with a very wide feather, detail with a narrower one. So no seam,
    no colour step: only fakes show blending boundaries.
    """
    lfw = _lfw()[index]
    lm = np.asarray(LFW_LANDMARKS[index], dtype=np.float64).reshape(3, 2)
    # 4x cubic upsample, blurred over most of a source pixel: a smooth face without the 25 px grid.
    up = cv2.resize(lfw, None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC)
    up = cv2.GaussianBlur(up, (0, 0), 2.2)
    to_lfw = np.array([[0.25, 0.0, -0.375], [0.0, 0.25, -0.375]])  # upsampled -> LFW pixels
    m = compose(similarity(lm, person.lms), to_lfw)
    grey = cv2.warpAffine(
        up, m, (CANVAS_W, CANVAS_H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    grey = grey + 0.5 * (grey - cv2.GaussianBlur(grey, (0, 0), 5.0))  # crisper features

    shape = (CANVAS_H, CANVAS_W)
    # Erase the head's own face first (eyes, brows, glasses, wrinkles reaching past the swap
    # ellipse) with a smooth skin field: no second pair of features around the new face.
    erase = ellipse_mask(shape, (128.0, 136.0), (52.0, 66.0), 0, 5.0) * cv2.GaussianBlur(
        person.skin, (0, 0), 3.0
    )
    support = person.skin * ellipse_mask(shape, (128.0, 136.0), (70.0, 90.0), 0, 0)
    smooth = cv2.GaussianBlur(person.rgb * support[..., None], (0, 0), 14.0)
    smooth /= np.maximum(cv2.GaussianBlur(support, (0, 0), 14.0), 1e-3)[..., None]
    base = erase[..., None] * smooth + (1 - erase[..., None]) * person.rgb

    inner = ellipse_mask(shape, *_INNER, 0, 4.0)
    wide = ellipse_mask(shape, _INNER[0], (_INNER[1][0] * 1.05, _INNER[1][1] * 1.02), 0, 11.0)
    core = inner > 0.9
    lab = cv2.cvtColor(person.rgb, cv2.COLOR_RGB2LAB)
    skin_core = core & (person.skin > 0.5)
    ref = lab[skin_core] if skin_core.sum() > 50 else lab[core]
    l_ref, a_ref, b_ref = (float(np.median(ref[:, c])) for c in range(3))
    l_std = float(np.clip(lab[core][:, 0].std(), 9.0, 13.0))
    g_mean, g_std = float(grey[core].mean()), float(grey[core].std() + 1e-6)
    light = l_ref + (grey - g_mean) / g_std * l_std
    # Dark features (eyes, brows) and highlights carry less skin chroma than cheeks.
    chroma = np.clip(1.0 - np.abs(light - l_ref) / 60.0, 0.4, 1.0)

    def low(x: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(x, (0, 0), 6.0)

    lab = cv2.cvtColor(np.clip(base, 0, 1).astype(np.float32), cv2.COLOR_RGB2LAB)
    head_l = lab[..., 0]
    lo = wide * low(light) + (1 - wide) * low(head_l)
    hi = inner * (light - low(light)) + (1 - inner) * (head_l - low(head_l))
    new_l = np.clip(lo + hi, 0, 100)
    new_a = wide * (a_ref * chroma) + (1 - wide) * lab[..., 1]
    new_b = wide * (b_ref * chroma) + (1 - wide) * lab[..., 2]
    face_lab = np.stack([new_l, new_a, new_b], -1).astype(np.float32)
    rgb = np.clip(cv2.cvtColor(face_lab, cv2.COLOR_LAB2RGB), 0, 1)
    skin = np.maximum(person.skin, inner)
    hair = np.clip(person.hair - inner, 0, 1)
    return replace(person, rgb=rgb.astype(np.float32), skin=skin, hair=hair)


# Natural hair colours (drawn heads) and hair gains (photo heads: darker, redder, blonder, ...).
_HAIR_COLOURS = (
    (0.08, 0.07, 0.06),
    (0.2, 0.13, 0.08),
    (0.38, 0.25, 0.15),
    (0.5, 0.22, 0.1),
    (0.75, 0.6, 0.35),
    (0.6, 0.6, 0.6),
)
_HAIR_GAINS = (
    (0.3, 0.28, 0.27),
    (0.55, 0.5, 0.45),
    (1.0, 1.0, 1.0),
    (1.15, 0.8, 0.62),
    (1.35, 1.25, 1.0),
    (0.85, 0.85, 0.9),
)


def random_style(rng: np.random.Generator, head: str, lfw: int | None) -> IdentityStyle:
    """Draw the look of one identity: skin tone, hair colour, face geometry."""
    gain = np.array(_HAIR_GAINS[int(rng.integers(len(_HAIR_GAINS)))]) * rng.uniform(0.9, 1.1)
    hair = np.array(_HAIR_COLOURS[int(rng.integers(len(_HAIR_COLOURS)))]) * rng.uniform(0.85, 1.15)
    skin = np.array([0.86, 0.66, 0.54]) * rng.uniform(0.55, 1.05) + rng.uniform(-0.03, 0.03, size=3)
    return IdentityStyle(
        head=head,
        lfw=lfw,
        skin_shift=(float(rng.uniform(-22, 5)), float(rng.uniform(-3, 7)), float(rng.uniform(-5, 10))),
        hair_tint=(float(gain[0]), float(gain[1]), float(gain[2])),
        aspect=(float(rng.uniform(0.9, 1.1)), float(rng.uniform(0.93, 1.07))),
        shear=float(rng.uniform(-0.05, 0.05)),
        elastic=float(rng.uniform(0.5, 1.5)),
        warp_seed=int(rng.integers(2**31)),
        hair_color=(float(hair[0]), float(hair[1]), float(hair[2])),
        skin_color=(float(skin[0]), float(skin[1]), float(skin[2])),
    )


def build_person(style: IdentityStyle) -> Person:
    """The person of ``style`` on the canvas (deterministic from the style)."""
    rng = np.random.default_rng(style.warp_seed)
    person = _drawn_person(style, rng) if style.head == "drawn" else _photo_person(style.head)
    if style.lfw is not None:
        person = _blend_lfw(person, style.lfw)

    # Colour: skin tone in CIELAB, hair tint as an RGB gain.
    # Shifts scale with lightness (relative to mid-tone skin), so shadows stay in gamut.
    lab = cv2.cvtColor(person.rgb, cv2.COLOR_RGB2LAB)
    rel = lab[..., :1] / 65.0
    dl, da, db = style.skin_shift
    shift = np.concatenate([lab[..., :1] * (dl / 65.0), rel * da, rel * db], -1)
    lab = lab + person.skin[..., None] * shift.astype(np.float32)
    rgb = np.clip(cv2.cvtColor(lab, cv2.COLOR_LAB2RGB), 0, 1)
    rgb = rgb * (1 + person.hair[..., None] * (np.array(style.hair_tint, np.float32) - 1))
    rgb = np.clip(rgb, 0, 1).astype(np.float32)

    # Geometry: face aspect and shear about the eye midpoint, then a small elastic warp.
    ax, ay = style.aspect
    lin = np.array([[ax, style.shear], [0.0, ay]])
    geo = np.hstack([lin, (ANCHOR - lin @ ANCHOR)[:, None]])
    dx = _smooth_field(rng, (CANVAS_H, CANVAS_W), 4) * style.elastic
    dy = _smooth_field(rng, (CANVAS_H, CANVAS_W), 4) * style.elastic
    inv = cv2.invertAffineTransform(geo)
    yy, xx = np.mgrid[0:CANVAS_H, 0:CANVAS_W].astype(np.float32)
    mx = (inv[0, 0] * xx + inv[0, 1] * yy + inv[0, 2] + dx).astype(np.float32)
    my = (inv[1, 0] * xx + inv[1, 1] * yy + inv[1, 2] + dy).astype(np.float32)
    out = np.dstack(
        [
            cv2.remap(np.ascontiguousarray(part), mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
            for part in (
                np.dstack([rgb, person.alpha]),
                np.dstack([person.skin, person.hair, person.clothes]),
            )
        ]
    )
    lms = apply(geo, person.lms)
    # The output at p samples the input at inv(p) + d(p): landmarks move by about -d.
    ij = np.clip(np.round(lms).astype(int), 0, [CANVAS_W - 1, CANVAS_H - 1])
    lms = lms - np.stack([dx[ij[:, 1], ij[:, 0]], dy[ij[:, 1], ij[:, 0]]], -1) @ lin.T
    # Fine skin texture (pores, the photos' grain) over all skin, inner face included, added after
    # the warp so that it stays sharp: a real face is as detailed as its forehead and neck.
    grain = rng.normal(0, 1, (CANVAS_H, CANVAS_W)).astype(np.float32)
    grain = cv2.GaussianBlur(grain, (0, 0), 0.7) - cv2.GaussianBlur(grain, (0, 0), 2.0)
    grain *= SKIN_GRAIN / (grain.std() + 1e-6)
    rgb = np.clip(out[..., :3] * (1 + out[..., 4] * grain)[..., None], 0, 1).astype(np.float32)
    return Person(
        rgb=rgb,
        alpha=out[..., 3].copy(),
        skin=out[..., 4].copy(),
        hair=out[..., 5].copy(),
        clothes=out[..., 6].copy(),
        lms=lms,
    )


def dress(person: Person, rng: np.random.Generator) -> np.ndarray:
    """Person colours with this video's clothing (hue rotation and brightness of the torso)."""
    hsv = cv2.cvtColor(person.rgb, cv2.COLOR_RGB2HSV)  # H in degrees for float input
    recol = hsv.copy()
    recol[..., 0] = (recol[..., 0] + rng.uniform(0, 360)) % 360
    recol[..., 1] = np.clip(recol[..., 1] * rng.uniform(0.5, 1.2), 0, 1)
    recol[..., 2] = np.clip(recol[..., 2] * rng.uniform(0.6, 1.1), 0, 1)
    out = cv2.cvtColor(recol, cv2.COLOR_HSV2RGB)
    c = person.clothes[..., None]
    return (c * out + (1 - c) * person.rgb).astype(np.float32)
