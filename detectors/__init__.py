"""The detector zoo: one registry, one factory, one contract (see :mod:`harness.detectors._base`).

Adding a detector: write ``detectors/<key>.py`` with a builder decorated by ``@register_detector``
(no name: the key is the file name) and add one ``DETECTORS.register_lazy("<key>", "<description>")``
line below (the description is what ``harness ls detectors`` prints without importing torch or
timm). The registry names the detector: ``spec.name`` is set to the key. The conformance tests pick
it up from the registry; ``configs/demo/<key>.yaml`` (optional) is its demo training recipe.

This ``__init__`` must stay import-light: torch is imported only when a detector is built.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.registry import Registry, RegistryError

if TYPE_CHECKING:
    from harness.detectors._base import Detector


def _named(name: str, builder: Callable[..., Detector]) -> Callable[..., Detector]:
    """The registered builder: ``builder`` whose detectors carry the registry key as ``spec.name``."""

    @functools.wraps(builder)
    def build(*args: Any, **kwargs: Any) -> Detector:
        model = builder(*args, **kwargs)
        if model.spec.name != name:
            model.spec = dataclasses.replace(model.spec, name=name)
        return model

    return build


DETECTORS: Registry[Callable[..., Detector]] = Registry(
    "detector", entry_point_group="harness.detectors", package=__name__, bind=_named
)
register_detector = DETECTORS.register

DETECTORS.register_lazy(
    "cnn", "The seeds' custom CNN: 3x(conv3x3+ReLU+maxpool), dense 256, dropout, one logit"
)
DETECTORS.register_lazy("meso4", "Meso-4 (Afchar et al., WIFS 2018); imports the authors' Keras weights")
DETECTORS.register_lazy(
    "mesoinception4", "MesoInception-4 (Afchar et al., WIFS 2018): dilated inception blocks + Meso-4 tail"
)
DETECTORS.register_lazy(
    "xception", "Xception (timm legacy_xception), the FaceForensics++ baseline (Rossler et al., 2019)"
)
DETECTORS.register_lazy("resnet50", "ResNet-50 (He et al., 2016; timm) with a linear real/fake head")
DETECTORS.register_lazy("efficientnet_b1", "EfficientNet-B1 (Tan & Le, 2019; timm), 240x240")
DETECTORS.register_lazy("efficientnet_b3", "EfficientNet-B3 (Tan & Le, 2019; timm), 300x300")
DETECTORS.register_lazy(
    "efficientnet_b4", "EfficientNet-B4 (Tan & Le, 2019; timm), 380x380, as in the DFDC top entries"
)
DETECTORS.register_lazy("vgg16", "VGG16 features + the seed's dense head (GAP -> 256 -> 128 -> 64 -> 1)")
DETECTORS.register_lazy(
    "cnn_lstm", "Clip detector: per-frame CNN features -> LSTM (default ResNeXt50-32x4d + 1 LSTM layer)"
)

# Options every detector takes (handled by create_detector, not the builders): the forensic front
# ends of detectors/_frontends.py. Plain text, so `harness ls detectors` stays import-light.
FRONT_OPTIONS = ("front", "bpda", "ela_quality", "ela_scale")
FRONT_OPTIONS_HELP = (
    "options of every detector: front=none|srm|srm30|ela (forensic front end; with front=ela: "
    "ela_quality=90, ela_scale=15, bpda=true for white-box attacks); smoothing_sigma=0.25 "
    "(randomized smoothing, harness/smoothing.py; smoothing_n=32, smoothing_seed=0, smoothing_batch=256)"
)
# Randomized smoothing (harness/smoothing.py), also handled by create_detector: an evaluation-time
# wrapper of the whole detector, recorded in results but never in a checkpoint.
SMOOTHING_OPTIONS = ("smoothing_sigma", "smoothing_n", "smoothing_seed", "smoothing_batch")

MESONET_WEIGHTS_DIR = Path(__file__).resolve().parent / "weights" / "mesonet"
MESONET_WEIGHTS = {
    "Meso4_DF": "meso4",
    "Meso4_F2F": "meso4",
    "MesoInception_DF": "mesoinception4",
    "MesoInception_F2F": "mesoinception4",
}


def resolve_checkpoint(checkpoint: str | os.PathLike[str]) -> Path:
    """Turn ``mesonet:Meso4_DF`` into the shipped file; other values are paths."""
    text = os.fspath(checkpoint)
    if text.startswith("mesonet:"):
        key = text.split(":", 1)[1].removesuffix(".h5")
        if key not in MESONET_WEIGHTS:
            raise RegistryError(
                f"unknown shipped MesoNet weights {text!r}; available: "
                + ", ".join(f"mesonet:{k}" for k in MESONET_WEIGHTS)
            )
        return MESONET_WEIGHTS_DIR / f"{key}.h5"
    return Path(text).expanduser()


def _check_overrides(name: str, builder: Callable[..., Any], overrides: dict[str, Any]) -> None:
    import difflib

    params = inspect.signature(builder).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    known = sorted([*params, *FRONT_OPTIONS, *SMOOTHING_OPTIONS])
    for key in overrides:
        if key not in params and key not in FRONT_OPTIONS and key not in SMOOTHING_OPTIONS:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise TypeError(f"detector {name!r} has no option {key!r}.{hint} Options: {', '.join(known)}")


def create_detector(
    name: str,
    checkpoint: str | os.PathLike[str] | None = None,
    **overrides: Any,
) -> Detector:
    """Build detector ``name`` (in eval mode) and, given a checkpoint, load its weights.

    ``overrides`` are the builder's options (``input_size``, ``backbone``, ``hidden_size``, ...)
    and the options of every detector, :data:`FRONT_OPTIONS` (``front=srm|srm30|ela``, see
    :mod:`harness.detectors._frontends`), which are recorded with the others in a checkpoint, and
    :data:`SMOOTHING_OPTIONS` (randomized smoothing, :mod:`harness.smoothing`), which are not.
    ``checkpoint`` is a harness checkpoint file, a Keras MesoNet ``.h5`` file, or a shipped alias
    such as ``mesonet:Meso4_DF``. A checkpoint of another architecture or input spec is refused
    with an error naming both. Nothing is ever downloaded.
    """
    from harness.checkpoint import CheckpointError, load_checkpoint

    builder = DETECTORS.get(name)
    _check_overrides(name, builder, overrides)
    if checkpoint is None:
        model = _build(builder, overrides)
        return model.eval()

    path = resolve_checkpoint(checkpoint)
    if path.suffix.lower() in (".h5", ".hdf5", ".keras"):
        model = _build(builder, overrides)
        loader = getattr(model, "load_keras_h5", None)
        if loader is None:
            raise CheckpointError(
                f"{path} is a Keras HDF5 file; only the MesoNet family (meso4, mesoinception4) "
                f"imports Keras weights, not {name!r}"
            )
        loader(path)
        model.checkpoint_path = path
        return model.eval()

    ckpt = load_checkpoint(path)
    if ckpt.detector != name:
        raise CheckpointError(
            f"checkpoint {path} holds a {ckpt.detector!r} detector "
            f"({_spec_text(ckpt.spec)}), but {name!r} was requested: "
            f"use --detector {ckpt.detector} or another checkpoint"
        )
    model = _build(builder, {**ckpt.overrides, **overrides})
    _check_front(path, name, ckpt.overrides, model.build_overrides)
    built = model.spec.to_dict()
    if built != ckpt.spec:
        diff = ", ".join(
            f"{k}: checkpoint {ckpt.spec.get(k)!r} vs requested {built.get(k)!r}"
            for k in sorted(set(built) | set(ckpt.spec))
            if built.get(k) != ckpt.spec.get(k)
        )
        raise CheckpointError(f"checkpoint {path} does not match the requested {name!r}: {diff}")
    try:
        model.load_state_dict(ckpt.state_dict, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(
            f"checkpoint {path} ({_spec_text(ckpt.spec)}, options {ckpt.overrides}) does not fit "
            f"{name!r} built with options {model.build_overrides}: "
            f"{str(exc).splitlines()[0]}"
        ) from exc
    model.checkpoint_path = path
    model.checkpoint_meta = ckpt.meta
    return model.eval()


def _build(builder: Callable[..., Detector], overrides: dict[str, Any]) -> Detector:
    from harness.detectors._frontends import build_front
    from harness.smoothing import build_smoothing

    front = build_front(overrides)
    smoothing = build_smoothing(overrides)
    model = builder(
        **{k: v for k, v in overrides.items() if k not in FRONT_OPTIONS and k not in SMOOTHING_OPTIONS}
    )
    if front is not None:
        model.front = front
    if smoothing is not None:
        model.smoothing = smoothing
    model.build_overrides = {k: v for k, v in overrides.items() if k not in SMOOTHING_OPTIONS}
    model.checkpoint_path = None
    model.checkpoint_meta = {}
    return model


def _check_front(path: Path, name: str, saved: dict[str, Any], requested: dict[str, Any]) -> None:
    """A checkpoint is refused under another front end (its weights were trained on that input)."""
    from harness.checkpoint import CheckpointError
    from harness.detectors._frontends import architecture

    have, want = architecture(saved), architecture(requested)
    if have != want:
        raise CheckpointError(
            f"checkpoint {path} holds a {name!r} trained with front end {have}, but {want} was requested"
        )


def detector_options(model: Any) -> dict[str, Any]:
    """The options ``model`` was built with (its checkpoint's and the caller's), front end and
    randomized smoothing included with their defaults filled in: what a result records, so an SRM
    or ELA variant, BPDA, or smoothing (sigma, n, seed) is visible in the numbers' provenance and
    not only in a checkpoint's bytes."""
    from harness.detectors._frontends import front_options
    from harness.fileio import jsonable

    overrides = dict(getattr(model, "build_overrides", {}) or {})
    plain = {k: v for k, v in overrides.items() if k not in FRONT_OPTIONS and k != "backbone_weights"}
    smoothing = getattr(model, "smoothing", None)
    smoothed = smoothing.options() if smoothing is not None else {}
    return jsonable({**plain, **front_options(overrides), **smoothed})


def _spec_text(spec: dict[str, Any]) -> str:
    size = "x".join(str(v) for v in spec.get("input_size", []))
    return f"{spec.get('name')}, {spec.get('kind')}, {size}"


def __getattr__(attr: str) -> Any:
    # Lazy re-exports of the contract types, so `from harness.detectors import Detector` works
    # without making `import harness.detectors` pay for torch.
    if attr in ("Detector", "FrameDetector", "DetectorSpec", "wrap_model"):
        from harness.detectors import _base

        return getattr(_base, attr)
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")


__all__ = [
    "DETECTORS",
    "FRONT_OPTIONS",
    "FRONT_OPTIONS_HELP",
    "MESONET_WEIGHTS",
    "SMOOTHING_OPTIONS",
    "create_detector",
    "detector_options",
    "register_detector",
    "resolve_checkpoint",
]
