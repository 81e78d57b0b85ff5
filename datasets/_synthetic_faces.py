"""Image synthesis for the embedded ``synthetic`` benchmark: people, backgrounds, face swaps.

Faces come from real face imagery shipped inside installed dependencies (no download):
scikit-image's ``astronaut()`` (Eileen Collins) and ``lfw_subset()`` (100 tiny Labeled Faces
in the Wild crops), and matplotlib's ``grace_hopper.jpg``. Every person is built on a common
*canvas* (``CANVAS_W`` x ``CANVAS_H``) where the eyes sit at fixed points, so any two people can
be aligned with a similarity transform of three landmarks (eyes and mouth).

* :func:`build_person` turns an :class:`IdentityStyle` into a :class:`Person`: a head (the
  astronaut's, Grace Hopper's, or a drawn one) with optionally an LFW face blended in
  seamlessly (the head's own face erased first; lightness from the LFW face, colour from the
  head's skin, two-band blend with a very wide feather), then an identity-specific warp (face
  aspect, shear, a gentle elastic warp), recolouring (skin tone in CIELAB, hair and clothing
  tint) and a fine skin grain over all skin, inner face included.
* :func:`render_real` renders a clip of a person over a background with smooth head motion,
  lighting and sensor noise over the whole frame, and returns the per-frame canvas-to-frame
  transforms. A real face is as sharp, noisy and coloured as the rest of its head: no seam.
* :func:`render_fake` imitates a face-swap pipeline on a rendered real clip: the donor's inner
  face is aligned to the target's landmarks in every frame, rendered at low resolution and
  upsampled (blurrier than the frame, without its grain and sensor noise), colour-corrected
  poorly (washed-out, flatter, with a brightness and colour step towards the surrounding skin),
  and pasted with a narrow-feathered, slightly misaligned elliptical mask that leaves a darker
  rim along the seam and jitters from frame to frame (flicker). :data:`SWAP` sets how strong.

Everything is a function of the ``numpy.random.Generator`` passed in: same seed, same pixels.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cache

import cv2
import numpy as np

# -- canonical canvas ------------------------------------------------------------------------
CANVAS_W, CANVAS_H = 256, 320
IOD = 44.0  # inter-ocular distance on the canvas, pixels
ANCHOR = np.array([128.0, 120.0])  # midpoint between the eyes
# left eye, right eye (image left/right), mouth centre
CANON_LMS = np.array([[128.0 - IOD / 2, 120.0], [128.0 + IOD / 2, 120.0], [128.0, 162.0]])
# Face box (x0, y0, x1, y1) relative to the eye midpoint, in canvas pixels: what a face
# detector (MTCNN) reports for these faces, measured on the astronaut.
FACE_BOX = np.array([-47.0, -43.0, 47.0, 72.0])

# Landmarks (left eye x, y, right eye x, y, mouth centre x, y) of ``skimage.data.lfw_subset()``
# faces, in their 25x25 pixel coordinates: MTCNN on a 4x bicubic upsample. Kept: faces found by
# both MTCNN (p >= 0.99) and the Haar cascade, near-frontal and level, and (dropping two more)
# found by the Haar cascade in every rendered test clip, real or swapped in as a donor.
LFW_LANDMARKS: dict[int, tuple[float, ...]] = {
    0: (8.3, 9.0, 16.6, 8.8, 12.7, 19.2),
    1: (4.9, 8.5, 13.9, 8.6, 9.7, 18.3),
    3: (6.7, 9.3, 15.5, 9.2, 11.4, 18.7),
    6: (5.3, 10.0, 14.7, 9.8, 10.2, 19.6),
    7: (6.5, 9.0, 15.5, 8.7, 11.9, 19.4),
    8: (7.0, 9.5, 15.4, 9.3, 11.4, 17.6),
    10: (6.5, 8.6, 16.1, 8.2, 12.6, 19.3),
    11: (8.7, 9.8, 17.3, 9.9, 13.0, 18.6),
    12: (7.1, 10.0, 15.2, 10.1, 10.9, 18.8),
    14: (4.6, 9.2, 14.2, 8.2, 10.0, 19.9),
    15: (8.1, 9.3, 16.1, 8.7, 12.7, 17.4),
    16: (7.1, 5.6, 16.0, 6.0, 10.9, 15.2),
    18: (6.1, 9.0, 15.8, 8.9, 10.6, 17.7),
    19: (6.6, 7.4, 15.9, 7.2, 11.6, 17.0),
    20: (5.2, 8.9, 14.3, 8.4, 10.3, 17.9),
    21: (5.0, 9.2, 12.8, 8.5, 9.8, 18.2),
    22: (6.7, 9.7, 15.4, 8.9, 12.2, 18.8),
    23: (7.8, 8.8, 17.1, 8.6, 12.3, 17.4),
    24: (7.5, 9.0, 15.8, 9.0, 11.5, 18.2),
    25: (8.2, 8.5, 17.2, 9.0, 12.4, 18.0),
    26: (5.7, 9.5, 14.7, 8.4, 11.2, 18.6),
    27: (6.0, 9.9, 15.0, 9.0, 11.4, 17.5),
    29: (7.2, 9.2, 16.6, 9.1, 12.5, 20.7),
    33: (5.9, 9.1, 14.3, 9.3, 10.5, 18.6),
    34: (6.7, 9.0, 14.8, 9.0, 11.1, 18.4),
    35: (5.5, 8.2, 14.4, 8.1, 9.5, 18.9),
    36: (7.4, 9.1, 15.9, 9.7, 10.8, 17.7),
    37: (7.4, 10.3, 15.5, 9.5, 12.1, 17.2),
    38: (8.2, 8.8, 16.6, 8.6, 12.5, 17.6),
    41: (6.4, 8.5, 15.0, 8.3, 11.1, 17.9),
    43: (6.5, 9.6, 14.3, 9.5, 10.7, 17.4),
    44: (7.5, 7.9, 16.3, 8.1, 12.9, 18.7),
    45: (6.5, 8.8, 15.2, 8.3, 11.2, 17.8),
    46: (6.5, 9.7, 15.2, 8.9, 11.4, 18.6),
    49: (6.7, 9.1, 15.4, 8.1, 11.6, 19.6),
    50: (6.4, 8.7, 15.2, 8.4, 11.0, 17.3),
    51: (5.9, 8.9, 14.8, 8.3, 10.7, 19.1),
    52: (5.9, 9.1, 15.4, 8.6, 11.0, 17.4),
    54: (6.1, 8.7, 15.2, 7.9, 11.6, 19.2),
    55: (6.8, 7.9, 16.2, 8.0, 11.3, 18.6),
    56: (5.8, 8.8, 14.8, 8.4, 10.9, 19.0),
    58: (9.6, 9.2, 18.1, 8.9, 14.0, 18.6),
    60: (6.0, 8.8, 15.7, 8.6, 10.9, 19.3),
    61: (6.6, 9.4, 15.4, 8.6, 11.9, 18.3),
    62: (6.6, 9.5, 14.9, 9.3, 10.9, 18.7),
    63: (4.7, 8.2, 13.8, 7.2, 10.2, 17.6),
    64: (7.0, 8.5, 15.3, 8.1, 11.5, 17.3),
    65: (5.0, 9.3, 13.7, 8.6, 9.8, 18.8),
    66: (6.4, 9.1, 15.1, 8.7, 10.9, 18.7),
    69: (7.5, 8.7, 16.3, 8.7, 11.6, 17.3),
    71: (6.1, 9.5, 15.1, 9.1, 11.3, 19.6),
    72: (6.6, 8.6, 15.9, 8.3, 11.4, 18.4),
    73: (6.2, 8.9, 14.6, 8.8, 10.8, 18.7),
    76: (7.7, 8.9, 17.3, 7.9, 13.8, 19.2),
    77: (8.1, 9.3, 17.0, 8.9, 13.1, 19.1),
    79: (6.8, 10.6, 15.1, 10.1, 11.6, 19.1),
    80: (6.5, 9.6, 15.6, 9.1, 11.4, 18.8),
    81: (8.2, 9.0, 16.5, 9.0, 12.3, 16.9),
    83: (8.0, 8.3, 19.9, 9.2, 13.7, 21.7),
    85: (6.3, 8.7, 15.1, 8.3, 11.3, 17.6),
    86: (7.1, 8.6, 15.9, 8.7, 11.4, 18.0),
    88: (7.4, 9.1, 16.3, 8.7, 12.4, 18.1),
    90: (8.0, 9.0, 16.2, 8.6, 12.5, 18.7),
    92: (6.8, 9.5, 15.4, 8.6, 11.9, 18.5),
    93: (6.8, 9.1, 16.3, 8.6, 11.7, 17.9),
    94: (6.8, 7.8, 16.6, 7.8, 11.9, 17.0),
    95: (6.9, 8.4, 16.1, 8.5, 11.4, 18.3),
    97: (6.4, 8.7, 14.3, 8.8, 10.4, 17.7),
    98: (7.9, 8.9, 17.1, 8.7, 12.3, 18.8),
}

HEADS = ("astronaut", "grace", "drawn")
SKIN_GRAIN = 0.02  # relative amplitude of the fine skin texture of every person
TEXTURES = ("brick", "grass", "gravel")


# -- source imagery (cached) -----------------------------------------------------------------
@cache
def _astronaut() -> np.ndarray:
    from skimage import data

    return data.astronaut().astype(np.float32) / 255.0


@cache
def _grace() -> np.ndarray:
    from matplotlib import cbook
    from PIL import Image

    with cbook.get_sample_data("grace_hopper.jpg") as f:
        return np.asarray(Image.open(f).convert("RGB"), dtype=np.float32) / 255.0


@cache
def _lfw() -> np.ndarray:
    from skimage import data

    return data.lfw_subset()[:100].astype(np.float32)  # (100, 25, 25) in [0, 1]; faces only


@cache
def _texture(name: str) -> np.ndarray:
    from skimage import data

    return getattr(data, name)().astype(np.float32) / 255.0


# Landmarks (left eye, right eye, mouth centre) in the source photos: MTCNN, rounded.
_PHOTO_LMS = {
    "astronaut": np.array([[205.0, 101.7], [246.8, 103.7], [223.5, 140.5]]),
    "grace": np.array([[221.7, 192.2], [309.8, 186.1], [269.6, 277.9]]),
}


# -- small geometry helpers -------------------------------------------------------------------
def similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity transform (2x3) mapping points ``src`` onto ``dst``."""
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    ms, md = src.mean(0), dst.mean(0)
    s, d = src - ms, dst - md
    denom = (s**2).sum()
    a = (s * d).sum() / denom
    b = (s[:, 0] * d[:, 1] - s[:, 1] * d[:, 0]).sum() / denom
    rot = np.array([[a, -b], [b, a]])
    return np.hstack([rot, (md - rot @ ms)[:, None]])


def compose(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """2x3 affine ``outer`` after ``inner``."""
    o = np.vstack([outer, [0.0, 0.0, 1.0]])
    i = np.vstack([inner, [0.0, 0.0, 1.0]])
    return (o @ i)[:2]


def apply(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    pts = np.asarray(pts, dtype=np.float64)
    return pts @ m[:, :2].T + m[:, 2]


def ellipse_mask(
    shape: tuple[int, int],
    center: tuple[float, float],
    axes: tuple[float, float],
    angle_deg: float = 0.0,
    feather: float = 0.0,
) -> np.ndarray:
    """Float32 mask in [0, 1] of an ellipse, edges blurred by a Gaussian of sigma ``feather``."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    t = np.deg2rad(angle_deg)
    dx, dy = xx - center[0], yy - center[1]
    u = (dx * np.cos(t) + dy * np.sin(t)) / max(axes[0], 1e-3)
    v = (-dx * np.sin(t) + dy * np.cos(t)) / max(axes[1], 1e-3)
    mask = ((u * u + v * v) <= 1.0).astype(np.float32)
    if feather > 0:
        mask = cv2.GaussianBlur(mask, (0, 0), feather)
    return mask


def _poly_mask(shape: tuple[int, int], pts: list[tuple[float, float]], feather: float) -> np.ndarray:
    mask = np.zeros(shape, np.float32)
    cv2.fillPoly(mask, [np.round(np.asarray(pts) * 4).astype(np.int32)], 1.0, cv2.LINE_AA, shift=2)
    return cv2.GaussianBlur(mask, (0, 0), feather) if feather > 0 else mask


def _skin_likelihood(rgb: np.ndarray) -> np.ndarray:
    """Soft skin mask from the YCrCb chroma (classic Cr/Cb box, smoothed)."""
    ycc = cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb)
    cr, cb = ycc[..., 1] * 255, ycc[..., 2] * 255
    m = ((cr > 135) & (cr < 180) & (cb > 80) & (cb < 130)).astype(np.float32)
    return cv2.GaussianBlur(m, (0, 0), 2.0)


def _smooth_field(rng: np.random.Generator, shape: tuple[int, int], cells: int) -> np.ndarray:
    """Low-frequency noise in about [-1, 1] (random grid upsampled bicubically)."""
    grid = rng.uniform(-1, 1, size=(cells + 1, cells + 1)).astype(np.float32)
    return cv2.resize(grid, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC)


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
