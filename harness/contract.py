"""The detector contract, checked on a model before it is evaluated (``harness submit``).

:func:`check_contract` runs a detector on random ``[0,1]`` input and reports every hard failure at
once (shape, finite logits, determinism, input gradients) and every trust flag, as AutoAttack's
checks do (probability outputs, zero or non-finite gradients, randomness, batch-dependent scores).
Each call into the submitted code is time-boxed (:func:`call_with_time_limit`): a model that never
returns fails with :class:`CallTimeout` naming the call, instead of stalling with no output.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")
DEFAULT_CALL_TIMEOUT = 60.0  # seconds per call into submitted code (SubmitConfig.contract_timeout)


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


class CallTimeout(RuntimeError):
    """A call into submitted code did not return within its time limit (``call``: which one)."""

    def __init__(self, call: str, timeout: float) -> None:
        super().__init__(f"{call} did not return within {timeout:g} s")
        self.call = call
        self.timeout = timeout


def call_with_time_limit(
    fn: Callable[[], T],
    call: str,
    timeout: float | None,
    progress: bool = False,
    stage: str = "checking contract",
) -> T:
    """``fn()`` (submitted code), or :class:`CallTimeout` once ``timeout`` seconds have passed.

    The call runs in a daemon thread and the caller waits at most ``timeout`` for it. Why a
    thread and not ``signal.alarm``: an alarm works only in the main thread, only on Unix, and
    cannot interrupt C code (a native op or lock that never returns), whereas waiting on a thread
    always gives control back. A Python thread cannot be stopped, so on timeout it is abandoned:
    it keeps running (daemon: it never holds up the process's exit) and the model it uses must
    not be touched again, so the caller gives up on the submission; the CLI then reports one line
    and returns. Exceptions raised by ``fn`` are re-raised here. Grad mode is per thread: ``fn``
    sets its own (``torch.no_grad()`` around this call would not reach it). ``progress``: print
    ``<stage>: <call> ... ok (0.1 s)`` to stderr.
    """
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # handed to the caller's thread
            box["error"] = exc

    if progress:
        print(f"{stage}: {call} ... ", end="", file=sys.stderr, flush=True)
    start = time.perf_counter()
    worker = threading.Thread(target=target, name=f"submitted-call: {call}", daemon=True)
    worker.start()
    worker.join(timeout)
    seconds = time.perf_counter() - start
    if worker.is_alive():
        if progress:
            print(f"no answer after {seconds:.0f} s", file=sys.stderr, flush=True)
        raise CallTimeout(call, timeout if timeout is not None else seconds)
    if progress:
        print(f"{'failed' if 'error' in box else 'ok'} ({seconds:.1f} s)", file=sys.stderr, flush=True)
    if "error" in box:
        raise box["error"]
    return box["value"]


def check_contract(
    detector: Any,
    gradient_free: bool = False,
    seed: int = 0,
    *,
    timeout: float | None = DEFAULT_CALL_TIMEOUT,
    progress: bool = False,
) -> ContractReport:
    """Run the detector on random ``[0,1]`` input and collect failures and trust flags.

    Failures stop the submission; flags are stored with the entry and shown on the leaderboard.
    ``timeout``: seconds each call into the model may take (None: no limit); a call that takes
    longer raises :class:`CallTimeout` naming it. ``progress``: one stderr line per call.
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

    def forward(batch: torch.Tensor, call: str) -> Any:
        def fn() -> Any:
            with torch.no_grad():  # in the calling thread: grad mode is per thread
                return detector(batch)

        return call_with_time_limit(fn, call, timeout, progress)

    try:
        out = forward(x, f"forward on {tuple(shape)}")
    except CallTimeout:
        raise
    except Exception as exc:
        return ContractReport(
            (f"forward on a {tuple(shape)} batch in [0,1] raised {type(exc).__name__}: {exc}",)
        )
    if not isinstance(out, torch.Tensor) or out.shape != (shape[0], 2):
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        return ContractReport((f"output must be (N, 2) [real, fake] logits, got {got} for N={shape[0]}",))
    if not bool(torch.isfinite(out).all()):
        failures.append("output has NaN or inf logits on [0,1] input")
    again = forward(x, f"forward on {tuple(shape)} again (determinism)")
    if not torch.allclose(out, again, atol=1e-5, rtol=1e-4):
        diff = float((out - again).abs().max())
        failures.append(f"not deterministic in eval mode: two identical calls differ by {diff:.3g}")
        flags.append(Flag("randomness", f"outputs change between identical calls (max diff {diff:.3g})"))
    single = forward(x[2:3], f"forward on {tuple(x[2:3].shape)} (batch dependence)")
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

        def input_gradient() -> torch.Tensor:
            try:
                with torch.enable_grad():
                    logits = detector(xg)
                    if logits.requires_grad:
                        (logits[:, 1] - logits[:, 0]).sum().backward()
                        if xg.grad is not None:
                            return xg.grad
                return torch.zeros_like(xg)  # nothing differentiable links output and input
            finally:
                detector.zero_grad(set_to_none=True)

        grad: torch.Tensor | None = None
        try:
            grad = call_with_time_limit(
                input_gradient, f"forward+backward on {tuple(shape)} (input gradients)", timeout, progress
            )
        except CallTimeout:
            raise
        except Exception as exc:
            failures.append(
                f"backward through the model failed ({type(exc).__name__}: {exc}); if it is not "
                "differentiable, submit with --gradient-free (only black-box and perturbation attacks run)"
            )
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


__all__ = [
    "DEFAULT_CALL_TIMEOUT",
    "CallTimeout",
    "ContractReport",
    "Flag",
    "call_with_time_limit",
    "check_contract",
]
