"""What :meth:`harness.attacks._base.Attack.run` calls: the detector behind
:class:`AttackModel` (4-D input, per-sample query count, float64 logits) and, in video scope, the
virtual batch of :class:`VideoModel`; and the zero-gradient self-check."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from harness.attacks._state import _model_state

if TYPE_CHECKING:
    from harness.detectors import Detector

GREY = 0.5  # where a video-scope attack's virtual image starts: z = GREY + the shared perturbation


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
