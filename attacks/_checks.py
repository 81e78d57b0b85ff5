"""Input and output checks of the attack contract, run by :meth:`harness.attacks._base.Attack.__call__`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from harness.attacks._budget import L2_TOL, LINF_TOL
from harness.attacks._config import AttackConfig, AttackError

if TYPE_CHECKING:
    from harness.detectors import Detector


def group_codes(name: str, groups: Sequence[Any] | Tensor | None, y: Tensor) -> Tensor:
    """Video scope: ``groups`` (one video per sample) as codes 0, 1, ... in order of first
    appearance, after checking there is one per sample and one label per video."""
    if groups is None:
        raise ValueError(
            f"{name}: scope='video' (--set attack.scope=video) needs groups=, the video id "
            "of every sample, so that the samples of a video share one perturbation"
        )
    if isinstance(groups, Tensor):
        if groups.dtype.is_floating_point or groups.is_complex() or groups.ndim != 1:
            raise TypeError(
                f"{name}: groups must be video ids or a 1-D integer tensor, got {groups.dtype} "
                f"of shape {tuple(groups.shape)}"
            )
        values = groups.tolist()
    else:
        values = list(groups)
    if len(values) != len(y):
        raise ValueError(
            f"{name}: groups must name the video of each of the {len(y)} samples, got {len(values)}"
        )
    index: dict[Any, int] = {}
    label: dict[Any, int] = {}
    for v, lab in zip(values, y.tolist(), strict=True):
        index.setdefault(v, len(index))
        if label.setdefault(v, lab) != lab:
            raise ValueError(
                f"{name}: video {v!r} has samples labelled real and fake; all samples of a "
                "video share its label (scope='video' attacks a video as a whole)"
            )
    return torch.tensor([index[v] for v in values], dtype=torch.long, device=y.device)


def check_inputs(name: str, detector: Detector, x: Tensor, y: Tensor) -> Tensor:
    """Check ``x`` with the detector's own ``validate_input`` and ``y`` (0/1 integer labels, one
    per sample); return ``y`` as ``long`` on ``x``'s device. ``name``: the attack, for messages."""
    validate = getattr(detector, "validate_input", None)
    if validate is None or not hasattr(detector, "spec"):
        raise TypeError(
            f"{name}: expected a harness Detector (see harness.detectors.wrap_model), "
            f"got {type(detector).__name__}"
        )
    validate(x, check_range=True)  # dtype, layout, size, [0,1] and NaN: clear errors
    if not isinstance(y, Tensor) or y.dtype.is_floating_point or y.is_complex():
        kind = y.dtype if isinstance(y, Tensor) else type(y).__name__
        raise TypeError(f"{name}: labels y must be an integer tensor of 0 (real) / 1 (fake), got {kind}")
    if y.shape != (x.shape[0],):
        raise ValueError(
            f"{name}: labels y must have shape ({x.shape[0]},) for {x.shape[0]} samples, got {tuple(y.shape)}"
        )
    y = y.to(device=x.device, dtype=torch.long)
    if y.numel() and not bool(((y == 0) | (y == 1)).all()):
        raise ValueError(f"{name}: labels must be 0 (real) or 1 (fake), got values {y.unique().tolist()}")
    return y


def check_output(name: str, adv: Tensor, x: Tensor, norm: str | None, config: AttackConfig) -> None:
    """Raise :class:`AttackError` unless ``adv`` (what attack ``name``'s ``run`` returned for ``x``)
    has ``x``'s shape and device, is float, finite, in ``[0, 1]`` and within ``config.eps`` in ``norm``."""
    if not isinstance(adv, Tensor) or adv.shape != x.shape:
        shape = tuple(adv.shape) if isinstance(adv, Tensor) else type(adv).__name__
        raise AttackError(f"{name}.run returned {shape}, expected shape {tuple(x.shape)}")
    if adv.device != x.device or not adv.is_floating_point():
        raise AttackError(f"{name}.run returned {adv.dtype} on {adv.device}, expected float on {x.device}")
    lo, hi = torch.aminmax(adv.detach())
    if not (float(lo) >= 0.0 and float(hi) <= 1.0):  # also catches NaN
        raise AttackError(f"{name}.run returned values in [{float(lo):.4g}, {float(hi):.4g}], outside [0,1]")
    if not bool(torch.isfinite(adv).all()):
        raise AttackError(f"{name}.run returned non-finite values")
    if norm is None:
        return
    eps = float(config.eps)  # type: ignore[attr-defined]
    delta = (adv.detach() - x).flatten(1).float()
    if norm == "linf":
        size, tol = delta.abs().amax(dim=1).max(), LINF_TOL
    else:
        size, tol = delta.norm(dim=1).max(), L2_TOL
    if float(size) > eps + tol:
        raise AttackError(
            f"{name}.run broke its {norm} budget: |x_adv - x| = {float(size):.6g} > eps = {eps:.6g}"
        )
