"""The detector contract, checked on a model before it is evaluated (``harness submit``).

:func:`check_contract` runs a detector on random ``[0,1]`` input and reports every hard failure at
once (shape, finite logits, determinism, input gradients) and every trust flag, as AutoAttack's
checks do (probability outputs, zero or non-finite gradients, randomness, batch-dependent scores).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Flag:
    """Something that makes robustness numbers hard to trust; stored in the entry."""

    code: str
    message: str


@dataclass(frozen=True)
class ContractReport:
    """Outcome of :func:`check_contract`: hard failures and trust flags."""

    failures: tuple[str, ...] = ()
    flags: tuple[Flag, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.failures


def check_contract(detector: Any, gradient_free: bool = False, seed: int = 0) -> ContractReport:
    """Run the detector on random ``[0,1]`` input and collect failures and trust flags.

    Failures stop the submission; flags are stored with the entry and shown on the leaderboard.
    """
    import torch

    failures: list[str] = []
    flags: list[Flag] = []
    spec = detector.spec
    gen = torch.Generator().manual_seed(seed)
    shape: tuple[int, ...] = (4, 3, *spec.input_size)
    if spec.kind == "clip":
        shape = (4, spec.frames_per_clip or 1, 3, *spec.input_size)
    x = torch.rand(shape, generator=gen)
    x[0] = 0.0  # the edges of the valid range must be accepted too
    x[1] = 1.0
    detector.eval()
    try:
        with torch.no_grad():
            out = detector(x)
    except Exception as exc:
        return ContractReport(
            (f"forward on a {tuple(shape)} batch in [0,1] raised {type(exc).__name__}: {exc}",)
        )
    if not isinstance(out, torch.Tensor) or out.shape != (shape[0], 2):
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        return ContractReport((f"output must be (N, 2) [real, fake] logits, got {got} for N={shape[0]}",))
    if not bool(torch.isfinite(out).all()):
        failures.append("output has NaN or inf logits on [0,1] input")
    with torch.no_grad():
        again = detector(x)
    if not torch.allclose(out, again, atol=1e-5, rtol=1e-4):
        diff = float((out - again).abs().max())
        failures.append(f"not deterministic in eval mode: two identical calls differ by {diff:.3g}")
        flags.append(Flag("randomness", f"outputs change between identical calls (max diff {diff:.3g})"))
    with torch.no_grad():
        single = detector(x[2:3])
    if torch.isfinite(single).all() and not torch.allclose(single, out[2:3], atol=1e-4, rtol=1e-3):
        flags.append(
            Flag(
                "batch-dependent",
                "a sample's score depends on the rest of its batch (BatchNorm in train mode?)",
            )
        )
    if torch.isfinite(out).all():
        probs_like = bool(((out >= 0) & (out <= 1)).all()) and torch.allclose(
            out.sum(1), torch.ones(shape[0]), atol=1e-3
        )
        if probs_like:
            flags.append(
                Flag(
                    "probability-outputs",
                    "outputs look like probabilities (in [0,1], rows sum to 1): return logits, or "
                    "gradient attacks may be weakened by a saturated softmax",
                )
            )
    if not gradient_free:
        xg = x.clone().requires_grad_(True)
        grad: torch.Tensor | None = None
        try:
            with torch.enable_grad():
                logits = detector(xg)
                if logits.requires_grad:
                    (logits[:, 1] - logits[:, 0]).sum().backward()
                    grad = xg.grad
            if grad is None:
                grad = torch.zeros_like(xg)  # nothing differentiable links output and input
        except Exception as exc:
            failures.append(
                f"backward through the model failed ({type(exc).__name__}: {exc}); if it is not "
                "differentiable, submit with --gradient-free (only black-box and perturbation attacks run)"
            )
        finally:
            detector.zero_grad(set_to_none=True)
        if grad is not None:
            if not bool(torch.isfinite(grad).all()):
                failures.append("input gradients contain NaN or inf")
                flags.append(Flag("nonfinite-gradients", "input gradients contain NaN or inf"))
            elif float(grad.abs().max()) == 0.0:
                failures.append(
                    "input gradients are all zero (gradient masking: a non-differentiable step, "
                    "argmax, detach or quantization?); fix it or submit with --gradient-free"
                )
                flags.append(Flag("zero-gradients", "input gradients are exactly zero"))
    return ContractReport(tuple(failures), tuple(flags))


__all__ = ["ContractReport", "Flag", "check_contract"]
