"""The attack contract: one base class does the common work, each attack implements :meth:`run`.

Modelled on foolbox: :meth:`Attack.__call__` does, once for every attack,

* input checks: ``x`` float in ``[0, 1]`` in the detector's layout (the detector's own
  ``validate_input``), ``y`` an integer tensor of 0 (real) / 1 (fake) labels;
* sample selection by ``target``: ``"fake"`` attacks only fakes (pushed toward "real": missed
  detections), ``"real"`` only reals (pushed toward "fake": false alarms), ``"both"`` every
  sample toward its wrong class (the worst case for AUROC);
* the model state: eval mode on (every submodule's previous mode restored afterwards, also on
  errors), parameters frozen (``requires_grad`` restored afterwards, so no parameter ever gets a
  ``.grad``), the detector's per-call range check off (the input was validated once). The
  detector is never changed by an attack, whatever the wrapped library does: :class:`AttackModel`
  keeps it out of the library's reach (its ``train()`` does not reach the detector), every
  parameter and buffer is snapshotted before :meth:`Attack.run` and compared bit for bit
  afterwards, and a change (or a submodule left in train mode) restores the snapshot and raises
  :class:`AttackError`: a result made on a changed model is never returned;
* reproducible randomness: the global torch (CPU, and CUDA for CUDA input), NumPy and Python RNGs
  are forked, seeded from ``config.seed`` and restored, so a seed gives identical output and the
  caller's RNG state is untouched (torchattacks and ART draw from the global RNGs);
* output checks: same shape, finite, in ``[0, 1]``, and ``|x_adv - x|`` within ``eps`` in the
  attack's norm (L-inf: ``<= eps + 1e-6`` per sample, L2: ``<= eps + 1e-4`` per sample), else an
  :class:`AttackError`;
* delivery: with ``quantize`` (the default) the attacked samples are rounded to the 8-bit grid
  (``k/255``) inside the budget (:func:`quantize_8bit`), because an attacker delivers images or
  video, not floats; ``quantize=False`` keeps the float output for studies of that case;
* self-checks: per sample, whether the delivered output equals the input exactly
  (``unperturbed``) and, for gradient attacks, whether the loss gradient at the clean input is
  exactly zero (``zero_grad``: the attack has nothing to follow; one extra forward/backward
  pass, not counted as queries);
* the result: the batch with untouched samples bit-identical to the input, the number of
  per-sample forward passes through the detector (``queries``) and the wall time.

What :meth:`Attack.run` sees: ``model`` (an :class:`AttackModel`) and the selected samples as a
4-D batch ``(n, C, H, W)``: frames have ``C = 3``; clips ``(n, T, 3, H, W)`` are flattened to
``C = 3T`` (``model`` unflattens them), so torchattacks and ART, which assume 4-D images, attack
whole clips with the budget applying per clip. ``model.frames(x)`` gives the
``(n, T, 3, H, W)`` view for perturbations that need frames. ``run`` returns ``x_adv`` of the
same shape on the same device.

**Scope** (``config.scope``): ``"sample"`` (the default) attacks every sample (frame or clip) on
its own, as above. ``"video"`` gives every video one perturbation, shared by all its samples and
every frame of every clip (what a cheap attacker does; the budget is per video), for every
budgeted attack without attack-specific code: :meth:`Attack.__call__` needs ``groups`` (the video
of every sample) and hands :meth:`Attack.run`, one video at a time, a *virtual* batch of one
image ``z`` ``(1, 3, H, W)`` that starts at mid-grey 0.5, and a :class:`VideoModel` that maps
``z`` to the video's samples (``clamp(x + (z - 0.5))`` on every frame) and returns the mean of
their logits. The attack's own projection of ``z`` onto its ``eps`` ball around 0.5 is then
exactly a shared perturbation within the budget (L2: the one shared image has norm ``<= eps``).
See :meth:`Attack._run_video`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import torch
from torch import Tensor, nn

if TYPE_CHECKING:
    from harness.detectors import Detector

TARGETS = ("fake", "real", "both")
SCOPES = ("sample", "video")
GREY = 0.5  # where a video-scope attack's virtual image starts: z = GREY + the shared perturbation
LINF_TOL = 1e-6
L2_TOL = 1e-4


class AttackError(RuntimeError):
    """An attack produced output that breaks the contract (range, shape, budget)."""


def require(condition: bool, message: str) -> None:
    """Config validation helper: raise ``ValueError(message)`` unless ``condition``."""
    if not condition:
        raise ValueError(message)


@dataclass(frozen=True)
class AttackConfig:
    """Settings every attack has. Subclasses add theirs (``eps``, steps, query budgets, ...).

    ``target``: which samples are attacked (``"fake"``, ``"real"`` or ``"both"``);
    ``seed``: seeds all randomness of the attack (same seed, same output);
    ``quantize``: round the attacked samples to the 8-bit grid inside the budget (what an
    attacker can deliver as an image or video); off only for studies of float perturbations;
    ``scope``: ``"sample"`` optimizes one perturbation per sample (frame or clip), ``"video"``
    one per video, shared by all its samples and frames (the budget is per video; see
    :meth:`Attack._run_video`).
    """

    target: Literal["fake", "real", "both"] = "both"
    seed: int = 0
    quantize: bool = True
    scope: Literal["sample", "video"] = "sample"

    def __post_init__(self) -> None:
        require(self.target in TARGETS, f"target must be one of {TARGETS}, got {self.target!r}")
        require(
            self.scope in SCOPES,
            f"scope must be one of {SCOPES} (one perturbation per sample, or one per video), got {self.scope!r}",
        )
        require(isinstance(self.quantize, bool), f"quantize must be true or false, got {self.quantize!r}")
        require(isinstance(self.seed, int) and self.seed >= 0, f"seed must be an int >= 0, got {self.seed!r}")
        eps = getattr(self, "eps", None)
        if eps is not None:
            require(
                isinstance(eps, (int, float)) and math.isfinite(eps) and eps >= 0,
                f"eps must be a finite number >= 0 (pixel units of [0,1] input), got {eps!r}",
            )


@dataclass
class AttackResult:
    """What an attack returns.

    ``x_adv``: the batch (the input's shape, device and dtype), samples that were not attacked
    bit-identical to the input; ``attacked``: bool ``(N,)`` mask of the samples the attack was run
    on; ``queries``: per-sample forward passes through the detector (a gradient step counts one
    per sample, a black-box query one per sample; 0 for perturbations); ``seconds``: wall time;
    ``linf`` / ``l2``: per-sample ``|x_adv - x|`` norms (CPU float tensors); ``unperturbed``:
    bool ``(N,)``, attacked samples delivered exactly unchanged; ``zero_grad``: bool ``(N,)``,
    attacked samples whose input gradient of the loss was exactly zero (``None`` for attacks
    without gradients); ``quantized``: whether ``x_adv`` was rounded to 8 bits.
    """

    x_adv: Tensor
    attacked: Tensor
    queries: int
    seconds: float
    linf: Tensor
    l2: Tensor
    unperturbed: Tensor
    zero_grad: Tensor | None
    quantized: bool


class AttackModel(nn.Module):
    """What :meth:`Attack.run` calls: the detector on 4-D input, counting per-sample forwards.

    Clips arrive flattened as ``(n, T*3, H, W)`` and are unflattened before the detector sees
    them. ``queries`` is the number of samples passed through the detector so far.

    Logits come back in float64: in float32 a softmax saturates to exactly 1 once the logit
    margin exceeds about 17, so the cross-entropy gradient of a confidently classified sample
    is exactly zero and gradient attacks stall on it (gradient masking by rounding). In float64
    that happens only beyond a margin of about 37. The cast costs nothing: logits are ``(n, 2)``.

    The detector is not a registered submodule: a library that calls ``model.train()`` (as
    torchattacks does to restore what it takes for the previous mode) or ``model.to()`` cannot
    reach it; the :class:`Attack` base owns the detector's mode.
    """

    def __init__(self, detector: Detector, frames: int | None) -> None:
        super().__init__()
        self.__dict__["detector"] = detector  # not in _modules: .train()/.to() do not reach it
        self.num_frames = frames
        self.queries = 0
        self.train(False)

    def forward(self, x: Tensor, transform: Callable[[Tensor], Tensor] | None = None) -> Tensor:
        """Logits of the 4-D batch ``x``; ``transform`` (e.g. EOT's random re-encoding) is applied
        to exactly what the detector sees (in video scope: to the video's perturbed frames, not to
        the virtual image; see :class:`VideoModel`)."""
        if transform is not None:
            x = transform(x)
        self.queries += int(x.shape[0])
        if self.num_frames is not None:
            x = x.unflatten(1, (self.num_frames, 3))
        return self.detector(x).double()

    def frames(self, x: Tensor) -> Tensor:
        """The ``(n, T, 3, H, W)`` view of a 4-D attack batch (``T = 1`` for frame detectors)."""
        return x.unflatten(1, (-1, 3))


class VideoModel(AttackModel):
    """What :meth:`Attack.run` calls in video scope: a virtual image ``z`` -> one video's samples.

    ``z`` is ``(k, 3, H, W)``: ``k`` candidate images of the one video this model stands for (an
    attack may evaluate several candidates at once: random starts, black-box candidate pools).
    Row ``i`` is the shared perturbation ``delta_i = z_i - 0.5`` (:data:`GREY`): it is added to
    every frame of every sample of the video, ``clamp(x + delta_i, 0, 1)``, and that goes through
    the detector (``inner``, an :class:`AttackModel`, counts it: queries stay per-sample forwards
    through the detector, ``k`` times the video's samples per call). Row ``i``'s logits are the
    **mean of the video's per-sample logits** (float64): a video-level score (the runner's
    ``aggregate=mean_logit``), so the attack's loss pushes the video as a whole, every frame
    weighted alike, instead of whichever frame is easiest.

    ``transform`` (see :meth:`AttackModel.forward`) acts on the composed frames, so EOT's
    re-encoding sees what a platform would re-encode. Not a submodule tree: the detector stays out
    of reach as in :class:`AttackModel`.
    """

    def __init__(self, inner: AttackModel, x: Tensor) -> None:
        nn.Module.__init__(self)
        self.__dict__["detector"] = inner.detector
        self.__dict__["inner"] = inner
        self.__dict__["x"] = x  # (n, T, 3, H, W): the video's clean samples (T = 1: frames)
        self.num_frames = None  # z is one image, whatever the detector's kind
        self.train(False)

    @property
    def queries(self) -> int:  # type: ignore[override]
        return self.inner.queries

    @queries.setter
    def queries(self, value: int) -> None:
        self.inner.queries = value

    def forward(self, z: Tensor, transform: Callable[[Tensor], Tensor] | None = None) -> Tensor:
        k, n = z.shape[0], self.x.shape[0]
        delta = (z - GREY).view(k, 1, 1, *z.shape[1:])
        seen = (self.x.unsqueeze(0) + delta).clamp(0.0, 1.0)  # (k, n, T, 3, H, W)
        logits = self.inner(seen.flatten(0, 1).flatten(1, 2), transform)  # (k * n, 2)
        return logits.view(k, n, -1).mean(dim=1)


class Attack:
    """Base class of every attack; subclasses set the class attributes and implement :meth:`run`.

    Build with keyword settings (``PGD(eps="8/255", steps=20)``; fractions accepted, unknown keys
    are errors) or a ready ``Config`` instance. Call with ``attack(detector, x, y)``.
    """

    name: ClassVar[str] = ""  # the registry key, set by the registry (``@register_attack``)
    Config: ClassVar[type[AttackConfig]] = AttackConfig
    norm: ClassVar[Literal["linf", "l2"] | None] = None  # None: a perturbation without a budget
    uses_gradients: ClassVar[bool] = False
    black_box: ClassVar[bool] = False
    # The setting that sets how strong the attack is: ``eps`` for budgeted attacks, e.g.
    # ``quality`` for JPEG. A list of it in ``harness run`` gives a robustness curve.
    strength: ClassVar[str | None] = None
    # Why ``scope="video"`` makes no sense for this attack (None: it runs through the generic
    # virtual batch of :meth:`_run_video`; attacks without a norm are refused anyway).
    no_video_scope: ClassVar[str | None] = None

    def __init__(self, config: AttackConfig | None = None, /, **settings: Any) -> None:
        from harness.config import from_dict

        if config is None:
            config = from_dict(self.Config, settings, where=f"attack {self.name!r}")
        else:
            if not isinstance(config, self.Config):
                raise TypeError(f"{type(self).__name__} takes a {self.Config.__name__}, got {type(config)}")
            if settings:
                fields = dataclasses.asdict(config)
                config = from_dict(self.Config, {**fields, **settings}, where=f"attack {self.name!r}")
        if self.norm is not None:
            eps = getattr(config, "eps", None)
            require(eps is not None, f"{type(self).__name__}: a {self.norm} attack needs an eps budget")
            if self.norm == "linf":
                require(eps <= 1.0, f"{self.name}: an L-inf eps is in [0,1] pixel units, got {eps}")
        if config.scope == "video":
            why = self.no_video_scope
            if why is None and self.norm is None:
                why = (
                    "it is a perturbation without a budget (no norm): it already treats every frame "
                    "alike and has no optimized perturbation to share"
                )
            require(why is None, f"{self.name}: attack.scope=video is not supported: {why}")
        self.config = config
        self.seed = config.seed  # the seed of the current call (``__call__(..., seed=)``)

    # -- what subclasses implement -------------------------------------------------------------
    def run(self, model: AttackModel, x: Tensor, y: Tensor) -> Tensor:  # pragma: no cover
        """Return adversarial/perturbed ``x`` (4-D, same shape and device) for labels ``y``."""
        raise NotImplementedError

    @property
    def randomized(self) -> bool:
        """Whether the output depends on ``seed`` (overridden by attacks that draw randomness)."""
        return False

    @property
    def eps(self) -> float | None:
        return getattr(self.config, "eps", None) if self.norm is not None else None

    @classmethod
    def strength_param(cls) -> str | None:
        """Name of the strength setting: ``eps`` for a budgeted attack, else :attr:`strength`."""
        return "eps" if cls.norm is not None else cls.strength

    @property
    def strength_value(self) -> float | None:
        """This attack's value of its strength setting (``None`` when it has none)."""
        param = self.strength_param()
        return None if param is None else getattr(self.config, param)

    def __repr__(self) -> str:
        settings = ", ".join(f"{k}={v!r}" for k, v in dataclasses.asdict(self.config).items())
        return f"{type(self).__name__}({settings})"

    # -- the common work -----------------------------------------------------------------------
    def __call__(
        self,
        detector: Detector,
        x: Tensor,
        y: Tensor,
        seed: int | None = None,
        zero_grad: Tensor | None = None,
        groups: Sequence[Any] | Tensor | None = None,
    ) -> AttackResult:
        """Attack the batch ``x`` (labels ``y``); ``seed`` overrides ``config.seed`` for this call.

        The runner passes a seed derived from ``config.seed`` and the batch's place in the run's
        work plan, so a batch's output does not depend on which process or attempt computed it.
        ``zero_grad``: the batch's :func:`zero_gradient_mask`, when the caller already has it
        (the runner computes it once in its clean pass for every gradient attack of a run),
        instead of one more forward and backward pass here.
        ``groups``: the video of every sample (video ids, or an integer tensor), one per sample;
        needed with ``scope="video"`` (one perturbation per video of the batch, see
        :meth:`_run_video`), ignored with ``scope="sample"``. A video must come whole in one
        call: its samples in other calls would get other perturbations.
        """
        start = time.perf_counter()
        self.seed = self.config.seed if seed is None else int(seed)
        y = self._check_inputs(detector, x, y)
        video = self.config.scope == "video"
        codes = self._group_codes(groups, y) if video else None
        x = x.detach()
        if self.config.target == "fake":
            mask = y == 1
        elif self.config.target == "real":
            mask = y == 0
        else:
            mask = torch.ones_like(y, dtype=torch.bool)
        idx = mask.nonzero().squeeze(1)
        out = x.clone()
        queries = 0
        known = zero_grad
        zero_grad = torch.zeros_like(mask) if self.uses_gradients else None
        if idx.numel():
            xs, ys = x[idx], y[idx]
            clip = detector.spec.kind == "clip"
            flat = (xs.flatten(1, 2) if clip else xs).contiguous()  # attacks may .view() it
            model = AttackModel(detector, xs.shape[1] if clip else None)
            grad_mode = torch.enable_grad() if self.uses_gradients else torch.no_grad()
            with _model_state(detector), _unchanged(detector, self.name), _seeded(self.seed, x.device):
                with grad_mode:
                    if codes is not None:
                        adv = self._run_video(model, xs, ys, codes[idx])
                    else:
                        adv = self.run(model, flat, ys)
                queries = model.queries
                if zero_grad is not None and known is not None:
                    zero_grad[idx] = known.to(zero_grad.device)[idx]
                elif zero_grad is not None:
                    zero_grad[idx] = _zero_gradients(model, flat, ys)
            if codes is not None:
                adv = self._deliver_video(adv, xs)
            else:
                self._check_output(adv, flat)
                adv = adv.detach()
                if self.config.quantize:
                    adv = quantize_8bit(adv, flat, self.norm, self.eps)
            out[idx] = adv.reshape(xs.shape).to(x.dtype)
        delta = (out - x).flatten(1).float()
        linf = delta.abs().amax(dim=1).cpu()
        return AttackResult(
            x_adv=out,
            attacked=mask,
            queries=queries,
            seconds=time.perf_counter() - start,
            linf=linf,
            l2=delta.norm(dim=1).cpu(),
            unperturbed=mask.cpu() & (linf == 0),
            zero_grad=None if zero_grad is None else zero_grad.cpu(),
            quantized=bool(self.config.quantize),
        )

    def _run_video(self, model: AttackModel, x: Tensor, y: Tensor, codes: Tensor) -> Tensor:
        """Video scope: one perturbation per video, shared by all its samples and frames.

        ``x``: the attacked samples in the detector's layout (frames ``(n, 3, H, W)`` or clips
        ``(n, T, 3, H, W)``), ``codes``: their videos. For each video in turn, :meth:`run` gets the
        virtual batch ``z`` ``(1, 3, H, W)`` = 0.5 everywhere (the zero perturbation), the video's
        label and a :class:`VideoModel` (``z`` -> ``clamp(x_v + z - 0.5)`` on every frame of the
        video -> the mean of their logits). Whatever the attack does, its own projection of ``z``
        onto its ball around 0.5 (checked like any output) makes ``delta = z - 0.5`` a shared
        perturbation within its budget: L-inf ``|delta| <= eps`` per pixel; L2 ``||delta|| <= eps``
        for the one image, i.e. the budget is per video, not per frame. (Since ``z`` must stay in
        [0,1], ``|delta| <= 0.5``: no limit at any usual budget.) One video at a time, so that any
        attack works unchanged, also those that evaluate subsets or candidate pools of their
        batch (APGD, HopSkipJump); the cost is a Python loop over the videos of a batch, each
        forward pass being a whole video. The global RNGs run on from one video to the next;
        attacks with their own generator (seeded with ``self.seed``) draw the same start for
        every video. Returns the delivered frames before rounding, ``(n, T, 3, H, W)``.
        """
        frames = x if x.ndim == 5 else x.unsqueeze(1)
        adv = frames.clone()
        for code in torch.unique(codes).tolist():  # codes number videos in order of appearance
            members = (codes == code).nonzero().squeeze(1)
            clean = frames[members]
            z = torch.full((1, *frames.shape[2:]), GREY, dtype=x.dtype, device=x.device)
            z_adv = self.run(VideoModel(model, clean), z, y[members[:1]])
            self._check_output(z_adv, z)
            delta = (z_adv.detach() - GREY).view(1, 1, *frames.shape[2:])
            adv[members] = (clean + delta).clamp(0.0, 1.0)  # clamping only shrinks |x_adv - x|
        return adv

    def _deliver_video(self, adv: Tensor, x: Tensor) -> Tensor:
        """Check the video-scope output frame by frame (each frame's ``|x_adv - x|`` within the
        budget in the attack's norm: clamping to [0,1] only shrinks the shared delta) and round it
        to 8 bits per frame with :func:`quantize_8bit`. On the 8-bit grid, with ``x`` on it, every
        frame then carries the same rounded delta except where [0,1] clipped it; off the grid, or
        L2 frames rounded toward ``x`` to stay in the budget, may differ by one 8-bit step."""
        shape = x.shape
        x_f = x.reshape(-1, *shape[-3:])
        adv_f = adv.detach().reshape(-1, *shape[-3:]).to(x.dtype)
        self._check_output(adv_f, x_f)
        if self.config.quantize:
            adv_f = quantize_8bit(adv_f, x_f, self.norm, self.eps)
        return adv_f.reshape(shape)

    def _group_codes(self, groups: Sequence[Any] | Tensor | None, y: Tensor) -> Tensor:
        """Video scope: ``groups`` (one video per sample) as codes 0, 1, ... in order of first
        appearance, after checking there is one per sample and one label per video."""
        if groups is None:
            raise ValueError(
                f"{self.name}: scope='video' (--set attack.scope=video) needs groups=, the video id "
                "of every sample, so that the samples of a video share one perturbation"
            )
        if isinstance(groups, Tensor):
            if groups.dtype.is_floating_point or groups.is_complex() or groups.ndim != 1:
                raise TypeError(
                    f"{self.name}: groups must be video ids or a 1-D integer tensor, got {groups.dtype} "
                    f"of shape {tuple(groups.shape)}"
                )
            values = groups.tolist()
        else:
            values = list(groups)
        if len(values) != len(y):
            raise ValueError(
                f"{self.name}: groups must name the video of each of the {len(y)} samples, got {len(values)}"
            )
        index: dict[Any, int] = {}
        label: dict[Any, int] = {}
        for v, lab in zip(values, y.tolist(), strict=True):
            index.setdefault(v, len(index))
            if label.setdefault(v, lab) != lab:
                raise ValueError(
                    f"{self.name}: video {v!r} has samples labelled real and fake; all samples of a "
                    "video share its label (scope='video' attacks a video as a whole)"
                )
        return torch.tensor([index[v] for v in values], dtype=torch.long, device=y.device)

    def default_alpha(self) -> float | None:
        """The step size when ``config.alpha`` is unset (``None``): attacks with steps derive it
        from the budget (PGD ``eps/4``, MI-FGSM ``eps/steps``), so it follows ``eps``."""
        return None

    @property
    def alpha(self) -> float | None:
        """The step size as run: ``config.alpha`` when set, else :meth:`default_alpha`."""
        alpha = getattr(self.config, "alpha", None)
        return alpha if alpha is not None else self.default_alpha()

    def resolved_config(self) -> dict[str, Any]:
        """The settings as run: ``config`` with the derived step size filled in."""
        out = dataclasses.asdict(self.config)
        if "alpha" in out:
            out["alpha"] = self.alpha
        if out.get("scope") == "sample":  # the default: recorded as result["scope"]; left out here
            del out["scope"]  # so that results and baselines from before scope existed compare equal
        return out

    def _check_inputs(self, detector: Detector, x: Tensor, y: Tensor) -> Tensor:
        validate = getattr(detector, "validate_input", None)
        if validate is None or not hasattr(detector, "spec"):
            raise TypeError(
                f"{self.name}: expected a harness Detector (see harness.detectors.wrap_model), "
                f"got {type(detector).__name__}"
            )
        validate(x, check_range=True)  # dtype, layout, size, [0,1] and NaN: clear errors
        if not isinstance(y, Tensor) or y.dtype.is_floating_point or y.is_complex():
            kind = y.dtype if isinstance(y, Tensor) else type(y).__name__
            raise TypeError(
                f"{self.name}: labels y must be an integer tensor of 0 (real) / 1 (fake), got {kind}"
            )
        if y.shape != (x.shape[0],):
            raise ValueError(
                f"{self.name}: labels y must have shape ({x.shape[0]},) for {x.shape[0]} samples, "
                f"got {tuple(y.shape)}"
            )
        y = y.to(device=x.device, dtype=torch.long)
        if y.numel() and not bool(((y == 0) | (y == 1)).all()):
            raise ValueError(
                f"{self.name}: labels must be 0 (real) or 1 (fake), got values {y.unique().tolist()}"
            )
        return y

    def _check_output(self, adv: Tensor, x: Tensor) -> None:
        name = type(self).__name__
        if not isinstance(adv, Tensor) or adv.shape != x.shape:
            shape = tuple(adv.shape) if isinstance(adv, Tensor) else type(adv).__name__
            raise AttackError(f"{name}.run returned {shape}, expected shape {tuple(x.shape)}")
        if adv.device != x.device or not adv.is_floating_point():
            raise AttackError(
                f"{name}.run returned {adv.dtype} on {adv.device}, expected float on {x.device}"
            )
        lo, hi = torch.aminmax(adv.detach())
        if not (float(lo) >= 0.0 and float(hi) <= 1.0):  # also catches NaN
            raise AttackError(
                f"{name}.run returned values in [{float(lo):.4g}, {float(hi):.4g}], outside [0,1]"
            )
        if not bool(torch.isfinite(adv).all()):
            raise AttackError(f"{name}.run returned non-finite values")
        if self.norm is None:
            return
        eps = float(self.config.eps)  # type: ignore[attr-defined]
        delta = (adv.detach() - x).flatten(1).float()
        if self.norm == "linf":
            size, tol = delta.abs().amax(dim=1).max(), LINF_TOL
        else:
            size, tol = delta.norm(dim=1).max(), L2_TOL
        if float(size) > eps + tol:
            raise AttackError(
                f"{name}.run broke its {self.norm} budget: |x_adv - x| = {float(size):.6g} > eps = {eps:.6g}"
            )


# -- helpers for attacks -------------------------------------------------------------------------
def project_linf(x_adv: Tensor, x: Tensor, eps: float) -> Tensor:
    """Project ``x_adv`` into the L-inf ball of radius ``eps`` around ``x`` and into ``[0, 1]``."""
    return (x + (x_adv - x).clamp(-eps, eps)).clamp(0.0, 1.0)


def project_l2(x_adv: Tensor, x: Tensor, eps: float) -> Tensor:
    """Project ``x_adv`` into the per-sample L2 ball of radius ``eps`` around ``x`` and into ``[0, 1]``.

    Clamping to ``[0, 1]`` after the projection only shrinks each ``|delta|`` (``x`` is in range).
    """
    delta = x_adv - x
    norms = delta.flatten(1).norm(dim=1).clamp_min(1e-12)
    factor = (eps / norms).clamp(max=1.0).view(-1, *([1] * (x.ndim - 1)))
    return (x + delta * factor).clamp(0.0, 1.0)


def quantize_8bit(x_adv: Tensor, x: Tensor, norm: str | None, eps: float | None) -> Tensor:
    """Round ``x_adv`` to the 8-bit grid (``k/255``) without leaving the budget around ``x``.

    What an attacker delivers is an image or a video: 8-bit values. Nearest rounding, then:

    * L-inf: each value is clamped to the grid points inside ``[x - eps, x + eps]`` (for ``x`` on
      the grid, as the harness's crops are, that is ``x +- floor(255 eps)/255``); a value whose
      interval holds no grid point (``x`` off the grid and ``eps < 1/255``) stays at ``x``;
    * L2: a sample whose rounded perturbation breaks the budget is rounded toward ``x`` instead
      (``|q - x| <= |x_adv - x|`` per value, so the norm can only shrink);
    * no budget (perturbations): nearest rounding, clamped to ``[0, 1]``.
    """
    scale = 255.0
    q = (x_adv * scale).round() / scale
    if norm == "linf" and eps is not None:
        lo = torch.ceil(((x - eps) * scale - 1e-4).clamp(0.0, scale)) / scale
        hi = torch.floor(((x + eps) * scale + 1e-4).clamp(0.0, scale)) / scale
        inside = lo <= hi
        lo = torch.where(inside, lo.clamp(min=x - eps - LINF_TOL), x)
        hi = torch.where(inside, hi.clamp(max=x + eps + LINF_TOL), x)
        q = torch.minimum(torch.maximum(q, lo), hi)
    elif norm == "l2" and eps is not None:
        up = x_adv > x
        toward = torch.where(up, torch.floor(x_adv * scale), torch.ceil(x_adv * scale)) / scale
        crossed = torch.where(up, toward < x, toward > x)  # no grid point between x and x_adv
        toward = torch.where(crossed | (x_adv == x), x, toward)
        too_big = (q - x).flatten(1).norm(dim=1) > eps
        q = torch.where(too_big.view(-1, *[1] * (x.ndim - 1)), toward, q)
    return q.clamp(0.0, 1.0)


def generator(seed: int, device: torch.device) -> torch.Generator:
    """A local RNG on ``device`` seeded with ``seed`` (for attacks that draw their own noise)."""
    return torch.Generator(device=device).manual_seed(seed)


def zero_gradient_mask(detector: Detector, x: Tensor, y: Tensor) -> Tensor:
    """Per sample of ``x`` (frames or clips, the detector's layout): is the cross-entropy
    gradient of the true label at ``x`` exactly zero? Exactly what :meth:`Attack.__call__`
    records as ``zero_grad`` (same wrapper, same fp64 loss), for callers that compute it once."""
    clip = detector.spec.kind == "clip"
    flat = (x.flatten(1, 2) if clip else x).contiguous()
    model = AttackModel(detector, x.shape[1] if clip else None)
    with _model_state(detector):
        return _zero_gradients(model, flat.detach(), y)


def _zero_gradients(model: AttackModel, x: Tensor, y: Tensor) -> Tensor:
    """Per sample: is the cross-entropy gradient at ``x`` exactly zero? (Queries not counted.)"""
    queries = model.queries
    with torch.enable_grad():
        xg = x.detach().clone().requires_grad_(True)
        loss = torch.nn.functional.cross_entropy(model(xg), y, reduction="sum")
        (grad,) = torch.autograd.grad(loss, xg)
    model.queries = queries
    return grad.flatten(1).abs().amax(dim=1) == 0


@contextlib.contextmanager
def _unchanged(detector: nn.Module, name: str) -> Iterator[None]:
    """Guarantee that the block changes no parameter or buffer of ``detector``, nor its modes.

    Everything is snapshotted (a copy on the detector's device, cheap next to any attack) and
    compared bit for bit afterwards; on a difference the snapshot is restored and an
    :class:`AttackError` names what changed, so no score is ever made on a changed model.
    """
    tensors = dict(detector.named_parameters())
    tensors.update(detector.named_buffers())
    snapshot = {k: t.detach().clone() for k, t in tensors.items()}
    modes = [(m, m.training) for m in detector.modules()]
    try:
        yield
    finally:
        changed = [
            k
            for k, t in tensors.items()
            if t.shape != snapshot[k].shape or not torch.equal(t.detach(), snapshot[k])
        ]
        with torch.no_grad():
            for k in changed:
                tensors[k].data = snapshot[k]
        flipped = [m for m, training in modes if m.training != training]
    if changed:
        raise AttackError(
            f"{name} changed the detector's {', '.join(changed[:5])}"
            f"{' ...' if len(changed) > 5 else ''} (restored): an attack must never change a "
            "parameter or buffer; this batch's result is discarded"
        )
    if flipped:
        raise AttackError(f"{name} left {len(flipped)} detector submodules in another train/eval mode")


@contextlib.contextmanager
def _model_state(detector: nn.Module) -> Iterator[None]:
    """Eval mode, frozen parameters and no range check; everything restored afterwards."""
    modes = [(m, m.training) for m in detector.modules()]
    params = [(p, p.requires_grad) for p in detector.parameters()]
    range_check = getattr(detector, "range_check", None)
    try:
        detector.eval()
        for p, _ in params:
            p.requires_grad_(False)
        with range_check(False) if range_check is not None else contextlib.nullcontext():
            yield
    finally:
        for m, training in modes:
            m.training = training
        for p, flag in params:
            p.requires_grad_(flag)


@contextlib.contextmanager
def _seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Seed torch (CPU; CUDA too for CUDA input), NumPy and ``random``; restore them afterwards."""
    np_state = np.random.get_state()
    py_state = random.getstate()
    cuda = device.type == "cuda"
    devices = list(range(torch.cuda.device_count())) if cuda else []
    try:
        with torch.random.fork_rng(devices=devices):
            if cuda:
                torch.manual_seed(seed)  # CPU and every CUDA device (all forked above)
            else:
                torch.random.default_generator.manual_seed(seed)  # leaves CUDA untouched
            np.random.seed(seed)
            random.seed(seed)
            yield
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
