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

The code lives in private modules next to this one, and every public name is importable from
here: :mod:`~harness.datasets._face_canvas` (canvas, landmarks, source imagery),
:mod:`~harness.datasets._face_geometry` (transforms and masks), :mod:`~harness.datasets._face_people`
(styles and people), :mod:`~harness.datasets._face_render` (backgrounds and real clips) and
:mod:`~harness.datasets._face_swap` (fakes).
"""

from __future__ import annotations

from harness.datasets._face_canvas import (
    ANCHOR,
    CANON_LMS,
    CANVAS_H,
    CANVAS_W,
    FACE_BOX,
    HEADS,
    IOD,
    LFW_LANDMARKS,
    SKIN_GRAIN,
    TEXTURES,
)
from harness.datasets._face_geometry import apply, compose, ellipse_mask, similarity
from harness.datasets._face_people import IdentityStyle, Person, build_person, dress, random_style
from harness.datasets._face_render import Clip, make_background, render_real
from harness.datasets._face_swap import SWAP, render_fake

__all__ = [
    "ANCHOR",
    "CANON_LMS",
    "CANVAS_H",
    "CANVAS_W",
    "FACE_BOX",
    "HEADS",
    "IOD",
    "LFW_LANDMARKS",
    "SKIN_GRAIN",
    "SWAP",
    "TEXTURES",
    "Clip",
    "IdentityStyle",
    "Person",
    "apply",
    "build_person",
    "compose",
    "dress",
    "ellipse_mask",
    "make_background",
    "random_style",
    "render_fake",
    "render_real",
    "similarity",
]
