"""Randomized smoothing of any detector (Cohen et al., ICML 2019; Salman et al., NeurIPS 2019).

The smoothed detector scores a frame ``x`` with ``g(x) = E[f(x + N(0, sigma^2 I))]``, ``f`` the
base detector's fake probability, estimated with ``n`` Monte Carlo samples. Because
``Phi^-1(g)`` is ``1/sigma``-Lipschitz in ``x`` (Salman et al. 2019, Lemma 2), ``g`` moves by a
bounded amount under any L2 perturbation of the input: what ``harness certify``
(:mod:`harness.certify`) turns into a certified AUROC.

Every detector takes the options (``--set detector.smoothing_sigma=0.25``; handled by
:func:`harness.detectors.create_detector` like the front ends, never stored in a checkpoint):

* ``smoothing_sigma``: the noise level in ``[0, 1]`` pixel units (0 or absent: no smoothing);
* ``smoothing_n``: Monte Carlo samples per forward pass (default 32);
* ``smoothing_seed``: the noise seed (default 0);
* ``smoothing_batch``: noisy copies per pass through the base detector (default 256, rounded to
  whole blocks of :data:`NOISE_BLOCK`; speed and memory only, the numbers do not depend on it).

The noise is not clamped to ``[0, 1]`` (Cohen et al.; ``harness train --noise-sigma`` trains the
base detector on the same unclamped noise).

**Seeding, and what an attacker sees.** The noise of a sample is drawn from local generators
(never the global RNGs) seeded by ``smoothing_seed`` and a hash of the sample's *content* (its
pixels on a 2^-20 grid): the same input gives the same output in any batch, on any torchrun
rank, in any call (the harness's determinism check holds), while *any* change of the input
draws fresh, independent noise. An attack step changes the input, so a white-box attacker sees
fresh noise at every step: the gradient it follows is the average over ``n`` noisy copies of a
new draw each time, i.e. expectation over transformation (EOT) over the smoothing noise by
construction (more EOT: a larger ``smoothing_n``, or ``pgd_eot``'s own samples, each of which is
a different input). Gradients flow through the base detector (``g`` is differentiable in ``x``);
the logits ``[0, logit(g)]`` (computed from both ``g`` and ``1 - g`` in float64, so a confident
detector keeps its gradient) give ``softmax = g``. The
attacked output is scored with yet another draw (its own content), so the attacker cannot fit
the particular noise the evaluation uses; the certificate of ``harness certify`` does not rely on
any of this (it draws its own noise, seeded by video and frame).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

SMOOTHING_DEFAULTS: dict[str, Any] = {"smoothing_n": 32, "smoothing_seed": 0, "smoothing_batch": 256}
NOISE_BLOCK = 32  # noisy copies drawn from one generator seed: copy j of a sample is in block j // 32
G_CLAMP = 1e-300  # g and 1 - g are kept above this before the logit (|logit| < 690)

_HASH_GRID = 2.0**20  # inputs are hashed on this grid (values in [0, 1] -> integers)
_HASH_MOD = 2**31 - 1  # two 31-bit modular hashes make a sample's content key
_HASH_CHUNK = 1 << 16  # elements summed before each reduction mod _HASH_MOD (no int64 overflow)
_weights_cache: dict[tuple[int, str], Tensor] = {}


def mix_seed(*parts: Any) -> int:
    """A 63-bit seed from any parts (ints, strings): stable across processes and platforms."""
    text = "\x1f".join(str(p) for p in parts)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") & (2**63 - 1)


def smoothing_options(options: Mapping[str, Any]) -> dict[str, Any] | None:
    """The smoothing options of a detector's options, checked and with defaults filled in;
    ``None`` when smoothing is off (no ``smoothing_sigma``, or 0)."""
    given = {k: v for k, v in options.items() if k.startswith("smoothing_")}
    unknown = sorted(set(given) - {"smoothing_sigma", *SMOOTHING_DEFAULTS})
    if unknown:
        raise ValueError(
            f"unknown smoothing option(s) {', '.join(unknown)}; the options are smoothing_sigma, "
            + ", ".join(SMOOTHING_DEFAULTS)
        )
    sigma = float(given.get("smoothing_sigma") or 0.0)
    if not math.isfinite(sigma) or sigma < 0:
        raise ValueError(f"smoothing_sigma must be >= 0 (0: no smoothing), got {sigma}")
    if sigma == 0:
        extra = sorted(set(given) - {"smoothing_sigma"})
        if extra:
            raise ValueError(f"{', '.join(extra)} need smoothing_sigma > 0 (e.g. smoothing_sigma=0.25)")
        return None
    out = {"smoothing_sigma": sigma, **{k: int(given.get(k, v)) for k, v in SMOOTHING_DEFAULTS.items()}}
    if out["smoothing_n"] < 1:
        raise ValueError(f"smoothing_n must be >= 1, got {out['smoothing_n']}")
    if out["smoothing_batch"] < 1:
        raise ValueError(f"smoothing_batch must be >= 1, got {out['smoothing_batch']}")
    return out


def sigma_tag(sigma: float) -> str:
    """``0.25`` -> ``0p25``: a noise level in file and row names."""
    return f"{float(sigma):g}".replace(".", "p").replace("-", "m")


def smoothed_row_name(detector: str, options: Mapping[str, Any]) -> str | None:
    """The default leaderboard row of a smoothed zoo detector, ``cnn-smooth0p25`` (``None``
    without smoothing), so its results never land in (and overwrite) the base detector's row."""
    opts = smoothing_options(options)
    return None if opts is None else f"{detector}-smooth{sigma_tag(opts['smoothing_sigma'])}"


def _hash_weights(d: int, device: torch.device) -> Tensor:
    """``(2, chunks, _HASH_CHUNK)`` fixed pseudo-random int64 weights in ``[1, 2^20)``."""
    key = (d, str(device))
    w = _weights_cache.get(key)
    if w is None:
        chunks = -(-d // _HASH_CHUNK)
        gen = torch.Generator().manual_seed(20190208)
        w = torch.randint(1, 1 << 20, (2, chunks * _HASH_CHUNK), generator=gen, dtype=torch.int64)
        w = w.view(2, chunks, _HASH_CHUNK).to(device)
        if len(_weights_cache) > 16:
            _weights_cache.clear()
        _weights_cache[key] = w
    return w


def content_seeds(x: Tensor, seed: int) -> list[int]:
    """One seed per sample of ``x`` from ``seed`` and the sample's pixels (on a 2^-20 grid).

    Exact integer arithmetic on ``x``'s device (no overflow, so the same on every device, in
    every batch); one host synchronization for the whole batch.
    """
    n = x.shape[0]
    if n == 0:
        return []
    flat = x.detach().reshape(n, -1)
    d = flat.shape[1]
    w = _hash_weights(d, x.device)
    q = torch.round(torch.nan_to_num(flat.double(), 0.0).clamp(-8.0, 8.0) * _HASH_GRID).long()
    q = torch.nn.functional.pad(q, (0, w.shape[1] * _HASH_CHUNK - d)).view(n, 1, -1, _HASH_CHUNK)
    # |q * w| < 2^43 and 2^16 terms per chunk: every partial sum fits in int64
    partial = torch.remainder((q * w.unsqueeze(0)).sum(-1), _HASH_MOD)  # (n, 2, chunks)
    keys = torch.remainder(partial.sum(-1), _HASH_MOD).tolist()  # (n, 2)
    return [mix_seed(seed, "content", a, b) for a, b in keys]


def noisy_scores(
    score: Callable[[Tensor], Tensor],
    x: Tensor,
    seeds: Sequence[int],
    sigma: float,
    n: int,
    batch: int = SMOOTHING_DEFAULTS["smoothing_batch"],
) -> Tensor:
    """``(N, n)``: ``score`` (one float64 number per sample of a batch, e.g. its fake probability)
    of ``n`` noisy copies ``x[i] + sigma * noise`` of every sample, differentiable in ``x``.

    The noise of copy ``j`` of sample ``i`` is drawn on ``x``'s device from a local generator
    seeded by ``mix_seed(seeds[i], j // NOISE_BLOCK)``: a function of the seed and the copy alone,
    whatever ``batch`` (how many copies go through ``score`` at once, rounded to whole blocks) is.
    """
    if len(seeds) != x.shape[0]:
        raise ValueError(f"{len(seeds)} seeds for {x.shape[0]} samples")
    if n < 1 or not sigma > 0:
        raise ValueError(f"need n >= 1 and sigma > 0, got n={n}, sigma={sigma}")
    blocks = [
        (i, b, min(NOISE_BLOCK, n - b * NOISE_BLOCK))
        for i in range(x.shape[0])
        for b in range(-(-n // NOISE_BLOCK))
    ]
    per_pass = max(1, int(batch) // NOISE_BLOCK)
    gen = torch.Generator(device=x.device)
    pieces: list[list[Tensor]] = [[] for _ in range(x.shape[0])]
    for start in range(0, len(blocks), per_pass):
        group = blocks[start : start + per_pass]
        noisy = []
        for i, b, count in group:
            gen.manual_seed(mix_seed(seeds[i], b))
            noise = torch.randn((count, *x.shape[1:]), generator=gen, device=x.device, dtype=x.dtype)
            noisy.append(x[i : i + 1] + sigma * noise)
        p = score(torch.cat(noisy))
        for (i, _, _), part in zip(group, p.split([c for _, _, c in group]), strict=True):
            pieces[i].append(part)
    if not blocks:
        return torch.empty((0, n), dtype=torch.float64, device=x.device)
    return torch.stack([torch.cat(parts) for parts in pieces])


def fake_logit(logits: Tensor) -> Tensor:
    """``z_fake - z_real`` of ``(N, 2)`` logits in float64: the fake probability is its sigmoid."""
    return (logits[:, 1] - logits[:, 0]).double()


def fake_probability(logits: Tensor) -> Tensor:
    """Softmax fake probability of ``(N, 2)`` logits, in float64 (no saturation at 1 in fp32)."""
    return torch.sigmoid(fake_logit(logits))


class GaussianSmoothing(nn.Module):
    """The smoothing of a detector (``Detector.smoothing``): ``x`` -> logits ``[0, logit(g(x))]``
    with ``g`` estimated from ``n`` noisy copies (see the module docs for seeding and EOT)."""

    def __init__(
        self,
        sigma: float,
        n: int = SMOOTHING_DEFAULTS["smoothing_n"],
        seed: int = SMOOTHING_DEFAULTS["smoothing_seed"],
        batch: int = SMOOTHING_DEFAULTS["smoothing_batch"],
    ) -> None:
        super().__init__()
        opts = smoothing_options(
            {"smoothing_sigma": sigma, "smoothing_n": n, "smoothing_seed": seed, "smoothing_batch": batch}
        )
        if opts is None:
            raise ValueError("GaussianSmoothing needs sigma > 0")
        self.sigma = opts["smoothing_sigma"]
        self.n = opts["smoothing_n"]
        self.seed = opts["smoothing_seed"]
        self.batch = opts["smoothing_batch"]

    def options(self) -> dict[str, Any]:
        """The options as a result records them (every default filled in)."""
        return {
            "smoothing_sigma": self.sigma,
            "smoothing_n": self.n,
            "smoothing_seed": self.seed,
            "smoothing_batch": self.batch,
        }

    def forward(self, base: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
        """``base``: the detector's logits without checks or smoothing (noisy copies leave [0, 1])."""
        if x.shape[0] == 0:
            return torch.zeros((0, 2), device=x.device)
        seeds = content_seeds(x, self.seed)
        d = noisy_scores(lambda z: fake_logit(base(z)), x, seeds, self.sigma, self.n, self.batch)
        # logit(g) = log g - log(1 - g), with 1 - g averaged from sigmoid(-d): exact and with a
        # gradient even where every copy is confident (1 - g below float64's epsilon)
        g = torch.sigmoid(d).mean(dim=1).clamp_min(G_CLAMP)
        q = torch.sigmoid(-d).mean(dim=1).clamp_min(G_CLAMP)
        z = torch.log(g) - torch.log(q)
        return torch.stack([torch.zeros_like(z), z], dim=1).float()

    def extra_repr(self) -> str:
        return f"sigma={self.sigma:g}, n={self.n}, seed={self.seed}, batch={self.batch}"


def build_smoothing(options: Mapping[str, Any]) -> GaussianSmoothing | None:
    """The smoothing module for a detector's options (``None`` without ``smoothing_sigma``)."""
    opts = smoothing_options(options)
    if opts is None:
        return None
    return GaussianSmoothing(
        opts["smoothing_sigma"], opts["smoothing_n"], opts["smoothing_seed"], opts["smoothing_batch"]
    )


__all__ = [
    "G_CLAMP",
    "NOISE_BLOCK",
    "SMOOTHING_DEFAULTS",
    "GaussianSmoothing",
    "build_smoothing",
    "content_seeds",
    "fake_probability",
    "mix_seed",
    "fake_logit",
    "noisy_scores",
    "sigma_tag",
    "smoothed_row_name",
    "smoothing_options",
]
