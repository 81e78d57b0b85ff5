"""The harness's own L-inf PGD loop: shared by the PGD attack and adversarial training.

One loop, so that the attack a result is measured with and the attack a model is trained against
are the same code. Bit for bit torchattacks' ``PGD`` for the cross-entropy loss (same random start
from the global RNG, same operations in the same order), so results made through torchattacks
are reproduced exactly; plus TRADES' KL inner maximization (Zhang et al., 2019) and caller-given
starts. What it leaves to the caller: the model's mode (eval, or frozen BatchNorm statistics),
the seed, and any checks. Nothing in the loop waits for the device (no ``.item()``, no
data-dependent Python branch), and gradients are taken with respect to the input only, so no
parameter ever gets a ``.grad``.

FGSM with a random start (Wong et al., 2020, "fast is better than free") is
``linf_pgd(model, x, y, eps=eps, alpha=1.25 * eps, steps=1)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

LOSSES = ("ce", "kl")


def linf_pgd(
    model: Callable[[Tensor], Tensor],
    x: Tensor,
    y: Tensor,
    *,
    eps: float,
    alpha: float,
    steps: int,
    random_start: bool = True,
    loss: Literal["ce", "kl"] = "ce",
    clean_logits: Tensor | None = None,
    start_noise: Tensor | None = None,
) -> Tensor:
    """``steps`` signed-gradient ascent steps of size ``alpha`` on ``loss``, each projected onto the
    L-inf ball of radius ``eps`` around ``x`` and onto ``[0, 1]``; returns ``x_adv`` (detached, in
    ``x``'s dtype, ``|x_adv - x| <= eps``, in ``[0, 1]``).

    ``loss="ce"``: mean cross-entropy of ``model(x_adv)`` at labels ``y`` (untargeted PGD, Madry
    et al. 2018; exactly torchattacks' ``PGD``). ``loss="kl"``: TRADES' inner maximization,
    ``KL(softmax(clean_logits) || softmax(model(x_adv)))`` summed over the batch as in the TRADES
    code; ``clean_logits`` (the caller's ``model(x)``, detached) required, ``y`` unused.

    Start: ``x + start_noise`` when given (e.g. TRADES' ``0.001 * randn``, or per-sample noise
    drawn by the caller for reproducibility across processes), else with ``random_start``
    ``x + U(-eps, eps)`` drawn from the global torch RNG (``torch.empty_like(x).uniform_``, as
    torchattacks draws it), else ``x``; clamped to ``[0, 1]``. Works inside ``torch.no_grad()``.
    """
    if loss not in LOSSES:
        raise ValueError(f"linf_pgd: loss must be one of {LOSSES}, got {loss!r}")
    if steps < 0:
        raise ValueError(f"linf_pgd: steps must be >= 0, got {steps}")
    x = x.detach()
    target = None
    if loss == "kl":
        if clean_logits is None:
            raise ValueError("linf_pgd: loss='kl' (TRADES) needs clean_logits, the model's logits at x")
        target = F.softmax(clean_logits.detach(), dim=1)
    if start_noise is not None:
        if start_noise.shape != x.shape:
            raise ValueError(
                f"linf_pgd: start_noise has shape {tuple(start_noise.shape)}, expected {tuple(x.shape)}"
            )
        x_adv = torch.clamp(x + start_noise.detach().to(x.dtype), min=0, max=1)
    elif random_start:
        x_adv = torch.clamp(x + torch.empty_like(x).uniform_(-eps, eps), min=0, max=1)
    else:
        x_adv = x.clone()
    if steps == 0:
        return torch.clamp(x + torch.clamp(x_adv - x, min=-eps, max=eps), min=0, max=1)
    with torch.enable_grad():
        for _ in range(steps):
            x_adv.requires_grad_(True)
            logits = model(x_adv)
            if target is None:
                cost = F.cross_entropy(logits, y)
            else:
                cost = F.kl_div(
                    F.log_softmax(logits, dim=1), target.to(logits.dtype), reduction="sum"
                )
            (grad,) = torch.autograd.grad(cost, x_adv)
            x_adv = x_adv.detach() + alpha * grad.sign()
            delta = torch.clamp(x_adv - x, min=-eps, max=eps)
            x_adv = torch.clamp(x + delta, min=0, max=1).detach()
    return x_adv
