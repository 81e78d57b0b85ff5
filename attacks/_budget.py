"""The budget: projection onto the ``eps`` ball and the 8-bit rounding of delivered samples.

Shared by :meth:`harness.attacks._base.Attack.__call__` (output checks and delivery) and the
attacks' own steps (``project_linf``, ``project_l2``).
"""

from __future__ import annotations

import torch
from torch import Tensor

LINF_TOL = 1e-6
L2_TOL = 1e-4


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
