"""The common canvas of the synthetic people, landmark tables, and the source face imagery.

Every person is built on a canvas of ``CANVAS_W`` x ``CANVAS_H`` pixels with the eyes at fixed
points (:data:`CANON_LMS`). The imagery ships inside installed dependencies (scikit-image,
matplotlib) and is loaded once (cached).
"""

from __future__ import annotations

from functools import cache

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
