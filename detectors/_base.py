"""The detector contract: ``[0,1]`` RGB face crops in, ``(N, 2)`` logits ``[real, fake]`` out.

Every detector in the zoo (and every model a researcher brings) is a :class:`Detector`:

* input ``(N, 3, H, W)`` for ``kind="frame"``, ``(N, T, 3, H, W)`` for ``kind="clip"``, float in
  ``[0, 1]``, ``(H, W) == spec.input_size``;
* mean/std normalization happens inside, from non-persistent buffers, so attacks work in pixel
  space and an ``eps`` means the same thing for every detector;
* a head with one output ``z`` (the fake logit) is returned as ``[0, z]``: softmax then equals
  ``sigmoid(z)`` and cross-entropy attacks get a real gradient (with a single logit,
  cross-entropy over one class has an exactly zero gradient).

Input range: ``forward`` rejects values outside ``[0, 1]`` (and NaN) with a ``ValueError`` while
``check_range`` is true (the default). That check costs one device-to-host sync per call, so an
attack that has already validated its input may switch it off for its inner loop with
``with detector.range_check(False): ...``.

Randomized smoothing: with ``smoothing`` set (``create_detector``'s ``smoothing_*`` options, see
:mod:`harness.smoothing`), ``forward`` checks the input once and returns ``[0, logit(g)]``, ``g``
the mean fake probability of noisy copies scored by :meth:`Detector.base_logits` (the unchecked,
unsmoothed path: the copies leave ``[0, 1]``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import torch
from torch import Tensor, nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
NO_NORM_MEAN = (0.0, 0.0, 0.0)
NO_NORM_STD = (1.0, 1.0, 1.0)
PRECISIONS = ("fp32", "bf16", "fp16")
_AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class DetectorSpec:
    """What a detector expects; travels with every checkpoint and result.

    ``name``: the registry key for a zoo detector (set by the registry, so builders leave it
    out); :func:`wrap_model` takes it from its caller.
    """

    name: str = field(default="", kw_only=True)
    kind: Literal["frame", "clip"]
    input_size: tuple[int, int]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    reference: str
    frames_per_clip: int | None = None

    def __post_init__(self) -> None:
        # Normalize sequences (YAML/JSON give lists) to tuples so specs compare and hash.
        object.__setattr__(self, "input_size", tuple(int(v) for v in self.input_size))
        object.__setattr__(self, "mean", tuple(float(v) for v in self.mean))
        object.__setattr__(self, "std", tuple(float(v) for v in self.std))
        if self.kind not in ("frame", "clip"):
            raise ValueError(f"spec.kind must be 'frame' or 'clip', got {self.kind!r}")
        if len(self.input_size) != 2 or min(self.input_size) < 1:
            raise ValueError(f"spec.input_size must be (H, W) > 0, got {self.input_size}")
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise ValueError(f"spec.mean/std must be 3 values with std > 0: {self.mean} {self.std}")
        if self.kind == "clip" and not (self.frames_per_clip and self.frames_per_clip > 0):
            raise ValueError("a clip detector's spec needs frames_per_clip > 0")
        if self.kind == "frame" and self.frames_per_clip is not None:
            raise ValueError("a frame detector's spec has frames_per_clip=None")
        if not self.reference:
            raise ValueError("spec.reference (paper or seed) must not be empty")

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict (tuples become lists)."""
        d = asdict(self)
        for key in ("input_size", "mean", "std"):
            d[key] = list(d[key])
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DetectorSpec:
        return cls(**data)

    def describe(self) -> str:
        h, w = self.input_size
        clip = f", {self.frames_per_clip} frames/clip" if self.kind == "clip" else ""
        return f"{self.name} ({self.kind}, {h}x{w}{clip}, mean={self.mean}, std={self.std})"


class Detector(nn.Module):
    """Base class: validates input, normalizes, calls :meth:`logits`, pads a single logit.

    Subclasses implement :meth:`logits` on normalized input and return ``(N, 1)`` (fake logit)
    or ``(N, 2)`` (``[real, fake]``).
    """

    def __init__(self, spec: DetectorSpec) -> None:
        super().__init__()
        self.spec = spec
        self.check_range = True
        # Set by create_detector so that a checkpoint can rebuild the same architecture.
        self.build_overrides: dict[str, Any] = {}
        self.checkpoint_path: Any = None  # set by create_detector when weights were loaded
        self.checkpoint_meta: dict[str, Any] = {}
        self.precision = "fp32"  # see accelerate()
        self.channels_last = False
        self._compiled: Any = None
        # A forensic front end on the [0,1] input, before normalization (create_detector's
        # ``front=`` option, see _frontends.py); None: the pixels go straight to the network.
        self.front: nn.Module | None = None
        # Randomized smoothing of the whole detector (create_detector's ``smoothing_*`` options, see
        # harness/smoothing.py); None: the detector scores its input as it is.
        self.smoothing: nn.Module | None = None
        self.register_buffer("mean", torch.tensor(spec.mean).view(3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(spec.std).view(3, 1, 1), persistent=False)

    # -- contract -----------------------------------------------------------------------------
    def forward(self, x: Tensor) -> Tensor:
        """``x`` in [0,1] RGB, ``(N,3,H,W)`` or ``(N,T,3,H,W)`` -> ``(N,2)`` logits [real, fake]."""
        self.validate_input(x, check_range=self.check_range)
        if self.smoothing is not None:
            return self.smoothing(self.base_logits, x)
        return self.base_logits(x)

    def base_logits(self, x: Tensor) -> Tensor:
        """The logits of ``x`` with no input checks and no smoothing: front end, normalization,
        network (what randomized smoothing evaluates on noisy copies, which leave [0, 1])."""
        if self.front is not None:
            x = self.front(x)
        x = (x - self.mean) / self.std
        if self.channels_last and x.ndim == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        logits = self._compiled or self.logits
        if self.precision == "fp32":
            z = logits(x)
        else:
            with torch.autocast(device_type=x.device.type, dtype=_AUTOCAST_DTYPES[self.precision]):
                z = logits(x)
            z = z.float()  # the loss and the attack's update stay in full precision
        if z.ndim != 2 or z.shape[0] != x.shape[0] or z.shape[1] not in (1, 2):
            raise RuntimeError(f"{self.spec.name}: logits() returned {tuple(z.shape)}, not (N,1|2)")
        if z.shape[1] == 1:
            z = torch.cat([torch.zeros_like(z), z], dim=1)
        return z

    def logits(self, x: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- speed -----------------------------------------------------------------------------------
    def accelerate(
        self, precision: str = "fp32", channels_last: bool = False, compile: bool = False
    ) -> Detector:
        """Set how the forward pass runs; returns ``self``. Numbers may move: results record it.

        ``precision``: ``fp32`` (default), ``bf16`` or ``fp16`` autocast for the network's forward
        (and so its backward) pass; normalization before it and the logits after it stay in
        fp32, so losses and attack updates are computed in full precision (the attack wrapper
        lifts logits to fp64). ``channels_last``: NHWC weights and activations (faster
        convolutions on GPUs and oneDNN). ``compile``: ``torch.compile`` the network (first
        call compiles). All three work on the CPU as on CUDA.
        """
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        self.precision = precision
        self.channels_last = bool(channels_last)
        if self.channels_last:
            self.to(memory_format=torch.channels_last)
        self._compiled = torch.compile(self.logits) if compile else None
        return self

    # -- input checks -------------------------------------------------------------------------
    def validate_input(self, x: Tensor, check_range: bool = True) -> None:
        """Raise a clear error for a wrong dtype, layout, size or (optionally) value range."""
        spec = self.spec
        layout = "(N,3,H,W)" if spec.kind == "frame" else "(N,T,3,H,W)"
        if not isinstance(x, Tensor) or not x.is_floating_point():
            kind = x.dtype if isinstance(x, Tensor) else type(x).__name__
            raise TypeError(f"{spec.name} expects a float tensor {layout} in [0,1], got {kind}")
        ndim = 4 if spec.kind == "frame" else 5
        if x.ndim != ndim or x.shape[-3] != 3:
            raise ValueError(
                f"{spec.name} is a {spec.kind} detector and expects {layout} RGB input, "
                f"got shape {tuple(x.shape)}"
            )
        if tuple(x.shape[-2:]) != spec.input_size:
            h, w = spec.input_size
            raise ValueError(
                f"{spec.name} expects {h}x{w} crops, got {x.shape[-2]}x{x.shape[-1]}: resize "
                f"to detector.spec.input_size (or build it with input_size=...)"
            )
        if check_range and x.numel():
            lo, hi = torch.aminmax(x.detach())
            lo_v, hi_v = float(lo), float(hi)
            if not (lo_v >= 0.0 and hi_v <= 1.0):  # also catches NaN
                raise ValueError(
                    f"{spec.name} expects pixel values in [0,1], got range [{lo_v:.4g}, "
                    f"{hi_v:.4g}]: divide uint8 images by 255 and do not normalize them yourself "
                    "(normalization is inside the detector)"
                )

    @contextlib.contextmanager
    def range_check(self, enabled: bool) -> Iterator[None]:
        """Temporarily switch the per-call [0,1] check (one host sync per call) on or off."""
        previous = self.check_range
        self.check_range = enabled
        try:
            yield
        finally:
            self.check_range = previous

    # -- explanations ---------------------------------------------------------------------------
    #: Dotted path (``get_submodule``) of the layer Grad-CAM explains (``harness explain``): set by
    #: each zoo builder to the last spatial feature map before pooling (a module whose output no
    #: later layer modifies in place). ``None``: the last ``nn.Conv2d`` outside the front end.
    #: Not part of the spec: it names no input property, and old checkpoints stay loadable.
    cam_layer: str | None = None

    def cam_layers(self) -> list[nn.Module]:
        """The target layers for Grad-CAM (their outputs are ``(N, C, h, w)`` per frame)."""
        if self.cam_layer is not None:
            return [self.get_submodule(self.cam_layer)]
        convs = [
            m
            for name, child in self.named_children()
            if name != "front"
            for m in child.modules()
            if isinstance(m, nn.Conv2d)
        ]
        if not convs:
            raise ValueError(f"{self.spec.name}: no Conv2d layer for Grad-CAM; set detector.cam_layer")
        return [convs[-1]]


class FrameDetector(Detector):
    """A frame detector made of a ``trunk`` (image -> ``(N, F)`` features) and a ``head``.

    The split lets a clip detector (CNN-LSTM) reuse any frame detector's trunk as its backbone.
    """

    def __init__(self, spec: DetectorSpec, trunk: nn.Module, head: nn.Module, num_features: int):
        super().__init__(spec)
        self.trunk = trunk
        self.head = head
        self.num_features = num_features

    def features(self, x: Tensor) -> Tensor:
        """Normalized ``(N,3,H,W)`` -> ``(N, num_features)``."""
        return self.trunk(x)

    def logits(self, x: Tensor) -> Tensor:
        return self.head(self.trunk(x))


def dense_head(num_features: int, hidden: tuple[int, ...], num_logits: int, dropout: float) -> nn.Sequential:
    """``num_features -> hidden... -> num_logits`` with ReLU, dropout after the first dense layer."""
    layers: list[nn.Module] = []
    width = num_features
    for i, h in enumerate(hidden):
        layers += [nn.Linear(width, h), nn.ReLU(inplace=True)]
        if i == 0 and dropout > 0:
            layers.append(nn.Dropout(dropout))
        width = h
    if not hidden and dropout > 0:
        layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(width, num_logits))
    return nn.Sequential(*layers)


def check_num_logits(num_logits: int) -> int:
    if num_logits not in (1, 2):
        raise ValueError(f"num_logits must be 1 (fake logit, padded to [0, z]) or 2, got {num_logits}")
    return num_logits


def as_size(input_size: int | tuple[int, int] | list[int]) -> tuple[int, int]:
    """Accept ``224`` or ``(224, 224)``."""
    if isinstance(input_size, int):
        return (input_size, input_size)
    size = tuple(int(v) for v in input_size)
    if len(size) != 2:
        raise ValueError(f"input_size must be an int or (H, W), got {input_size!r}")
    return size  # type: ignore[return-value]


class WrappedDetector(Detector):
    """Any ``nn.Module`` mapping normalized input to ``(N, 1)`` or ``(N, 2)`` logits."""

    def __init__(self, spec: DetectorSpec, model: nn.Module) -> None:
        super().__init__(spec)
        self.model = model

    def logits(self, x: Tensor) -> Tensor:
        return self.model(x)


def wrap_model(
    model: nn.Module,
    *,
    name: str,
    input_size: int | tuple[int, int],
    mean: tuple[float, float, float] = NO_NORM_MEAN,
    std: tuple[float, float, float] = NO_NORM_STD,
    kind: Literal["frame", "clip"] = "frame",
    frames_per_clip: int | None = None,
    reference: str = "user-supplied model",
) -> Detector:
    """Put a researcher's own model behind the detector contract.

    ``model`` receives input already normalized with ``mean``/``std`` (``(N,3,H,W)``, or
    ``(N,T,3,H,W)`` for ``kind="clip"``) and returns ``(N, 1)`` fake logits or ``(N, 2)``
    ``[real, fake]`` logits. Return logits, not probabilities: attacks need them.
    """
    spec = DetectorSpec(
        name=name,
        kind=kind,
        input_size=as_size(input_size),
        mean=mean,
        std=std,
        frames_per_clip=frames_per_clip,
        reference=reference,
    )
    return WrappedDetector(spec, model)
