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

This module holds :class:`Attack`; the parts of the contract it uses live in private modules next
to it, and every name stays importable from here: :mod:`~harness.attacks._config` (settings,
result and error types), :mod:`~harness.attacks._budget` (projection and 8-bit rounding),
:mod:`~harness.attacks._model` (:class:`AttackModel`, :class:`VideoModel`, the zero-gradient
check), :mod:`~harness.attacks._state` (model state, the unchanged-model guard, seeded RNGs) and
:mod:`~harness.attacks._checks` (input and output checks).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import torch
from torch import Tensor

# The contract's parts live in private modules; every name stays importable from here.
from harness.attacks._budget import L2_TOL, LINF_TOL, project_l2, project_linf, quantize_8bit
from harness.attacks._checks import check_inputs, check_output, group_codes
from harness.attacks._config import SCOPES, TARGETS, AttackConfig, AttackError, AttackResult, require
from harness.attacks._model import GREY, AttackModel, VideoModel, _zero_gradients, zero_gradient_mask
from harness.attacks._state import _model_state, _seeded, _unchanged, generator

if TYPE_CHECKING:
    from harness.detectors import Detector

__all__ = [
    "GREY",
    "L2_TOL",
    "LINF_TOL",
    "SCOPES",
    "TARGETS",
    "Attack",
    "AttackConfig",
    "AttackError",
    "AttackModel",
    "AttackResult",
    "VideoModel",
    "_model_state",
    "_seeded",
    "_unchanged",
    "_zero_gradients",
    "generator",
    "project_l2",
    "project_linf",
    "quantize_8bit",
    "require",
    "zero_gradient_mask",
]


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
        return group_codes(self.name, groups, y)

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
        return check_inputs(self.name, detector, x, y)

    def _check_output(self, adv: Tensor, x: Tensor) -> None:
        check_output(type(self).__name__, adv, x, self.norm, self.config)
