"""A toy detector whose smoothed scores are known in closed form (tests of randomized smoothing).

The probit detector scores ``f(x) = Phi(a . x + b)`` (returned as the fake logit
``log Phi(z) - log Phi(-z)``, so softmax gives ``f`` exactly). Under Gaussian noise of level
``sigma``:

* soft smoothing: ``g(x) = E f(x + e) = Phi((a . x + b) / sqrt(1 + sigma^2 |a|^2))``;
* hard smoothing (the decision ``f > 0.5``, i.e. ``a . x + b > 0``):
  ``g(x) = Phi((a . x + b) / (sigma |a|))``, for which the certificate of Cohen et al. is tight:
  the worst L2 perturbation of norm ``r`` is ``-r a / |a|``.

With ``sigma |a|`` large the soft case is nearly tight too, so an attack that follows ``-a``
comes within a hair of the certified bound: a test that can catch a wrong certificate.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from harness.detectors._base import Detector, wrap_model


class _Probit(nn.Module):
    def __init__(self, a: Tensor, b: float) -> None:
        super().__init__()
        self.register_buffer("a", a.reshape(-1).double())
        self.b = float(b)

    def forward(self, x: Tensor) -> Tensor:
        z = x.flatten(1).double() @ self.a + self.b
        return (torch.special.log_ndtr(z) - torch.special.log_ndtr(-z)).float().unsqueeze(1)


def direction(size: int) -> Tensor:
    """A unit vector ``(3*size*size,)`` of balanced +-1 entries (a colour checkerboard): adding a
    multiple of it to mid-grey moves the probit score, and ``u . 0.5 = 0``."""
    i = torch.arange(3 * size * size)
    u = (i % 2 * 2 - 1).double()
    return u / u.norm()


def probit_detector(a: Tensor, b: float = 0.0, size: int = 8) -> Detector:
    return wrap_model(_Probit(a, b), name="probit", input_size=size, reference="test").eval()


def soft_g(a: Tensor, b: float, sigma: float, x: Tensor) -> Tensor:
    """The exact soft smoothed score of every sample of ``x`` (float64)."""
    z = x.flatten(1).double() @ a.reshape(-1).double() + b
    return torch.special.ndtr(z / math.sqrt(1 + sigma**2 * float(a.norm()) ** 2))


def hard_g(a: Tensor, b: float, sigma: float, x: Tensor) -> Tensor:
    """The exact hard smoothed score (probability of the decision "fake") of every sample."""
    z = x.flatten(1).double() @ a.reshape(-1).double() + b
    return torch.special.ndtr(z / (sigma * float(a.norm())))


def frames_at(u: Tensor, t: Tensor, size: int, jitter: float = 0.0, seed: int = 0) -> Tensor:
    """Frames ``0.5 + t_i u`` (plus, optionally, small noise orthogonal to ``u``) in ``[0, 1]``."""
    gen = torch.Generator().manual_seed(seed)
    x = 0.5 + t.double().view(-1, 1) * u.view(1, -1)
    if jitter:
        e = jitter * (torch.rand(x.shape, generator=gen, dtype=torch.float64) * 2 - 1)
        e -= (e @ u).view(-1, 1) * u.view(1, -1)  # orthogonal to u: the score does not move
        x = x + e
    return x.clamp(0, 1).float().view(-1, 3, size, size)
