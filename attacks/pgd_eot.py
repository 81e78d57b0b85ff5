"""PGD with expectation over transformations (EOT): adversarial examples that survive compression.

Plain PGD optimizes a perturbation for the exact pixels the detector sees; JPEG or H.264
re-encoding, a little blur or a resize on the way to the detector erase much of it. EOT (Athalye
et al., ICML 2018) averages the loss gradient over random transformations drawn at every step,
so the perturbation is optimized for what survives them; Hussain et al. (WACV 2021) showed that
PGD with EOT over compression and blur keeps fooling deepfake detectors after H.264 re-encoding.

Every step draws ``eot_samples`` transformed copies of the current iterate, each sample with its
own random parameters, and follows the sign of the summed gradient (L-inf, step ``alpha``,
projection onto the ``eps`` ball and ``[0, 1]``, uniform random start). The transformations, each
applied to a sample with probability ``p`` per draw:

* ``jpeg``: kornia's differentiable JPEG (``jpeg_codec_differentiable``: real DCT, quantization
  tables and chroma subsampling, with a differentiable rounding) at a quality drawn uniformly
  from ``jpeg_quality``;
* ``blur``: Gaussian blur with a sigma drawn from ``blur_sigma`` (pixels);
* ``resize``: down-scale by a factor drawn from ``resize_scale`` (one per draw) and back up,
  bilinear;
* ``noise``: additive Gaussian noise with a sigma drawn from ``[0, noise_sigma]``.

All of it runs batched on the detector's device, with no host round trip per step; randomness
comes from a local generator seeded with the attack's seed. Clips are transformed frame by frame
(the flattened ``(n, 3T, H, W)`` batch is viewed as ``n*T`` frames). Queries: ``steps *
eot_samples`` forward passes per sample. With ``scope=video`` the transformations are drawn per
frame of the video with the shared perturbation added (what a platform would re-encode), not on
the virtual perturbation image.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from harness.attacks import register_attack
from harness.attacks._base import Attack, AttackConfig, AttackModel, generator, project_linf, require

TRANSFORMS = ("jpeg", "blur", "resize", "noise")


@dataclass(frozen=True)
class PGDEOTConfig(AttackConfig):
    eps: float = 4 / 255  # L-inf budget in [0,1] pixel units
    alpha: float | None = None  # step size; None: eps / 4
    steps: int = 10
    eot_samples: int = 4  # transformed copies whose gradients are summed per step
    random_start: bool = True  # uniform start in the eps ball (seeded)
    transforms: tuple[str, ...] = TRANSFORMS
    p: float = 0.5  # probability that a transformation is applied to a sample in a draw
    jpeg_quality: tuple[int, int] = (50, 95)  # differentiable JPEG (kornia), quality drawn uniformly
    blur_sigma: tuple[float, float] = (0.3, 1.5)  # Gaussian blur sigma in pixels
    resize_scale: tuple[float, float] = (0.5, 0.9)  # down-scale factor, then back up (bilinear)
    noise_sigma: float = 0.02  # Gaussian noise sigma drawn from [0, noise_sigma]

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "transforms", tuple(self.transforms))
        object.__setattr__(self, "jpeg_quality", tuple(int(v) for v in self.jpeg_quality))
        object.__setattr__(self, "blur_sigma", tuple(float(v) for v in self.blur_sigma))
        object.__setattr__(self, "resize_scale", tuple(float(v) for v in self.resize_scale))
        require(self.alpha is None or self.alpha > 0, f"alpha (step size) must be > 0, got {self.alpha}")
        require(self.steps >= 1, f"steps must be >= 1, got {self.steps}")
        require(self.eot_samples >= 1, f"eot_samples must be >= 1, got {self.eot_samples}")
        unknown = [t for t in self.transforms if t not in TRANSFORMS]
        require(not unknown, f"unknown transforms {unknown}; choose from {TRANSFORMS}")
        require(0 <= self.p <= 1, f"p must be in [0, 1], got {self.p}")
        lo, hi = self.jpeg_quality
        require(
            len(self.jpeg_quality) == 2 and 1 <= lo <= hi <= 100, "jpeg_quality must be [lo, hi] in 1..100"
        )
        s_lo, s_hi = self.blur_sigma
        require(
            len(self.blur_sigma) == 2 and 0 < s_lo <= s_hi, "blur_sigma must be [lo, hi] with 0 < lo <= hi"
        )
        r_lo, r_hi = self.resize_scale
        require(
            len(self.resize_scale) == 2 and 0 < r_lo <= r_hi <= 1,
            "resize_scale must be [lo, hi] with 0 < lo <= hi <= 1",
        )
        require(self.noise_sigma >= 0, f"noise_sigma must be >= 0, got {self.noise_sigma}")


@register_attack
class PGDEOT(Attack):
    """PGD with expectation over random JPEG, blur, resize and noise (survives compression)."""

    Config = PGDEOTConfig
    norm = "linf"
    uses_gradients = True

    @property
    def randomized(self) -> bool:
        return True

    def default_alpha(self) -> float:
        return self.config.eps / 4

    def run(self, model: AttackModel, x: Tensor, y: Tensor) -> Tensor:
        c = self.config
        gen = generator(self.seed, x.device)
        self._draws = random.Random(self.seed)  # batch-level draws (resize): no device sync
        alpha = self.alpha
        adv = x.clone()
        if c.random_start:
            noise = torch.rand(x.shape, generator=gen, device=x.device, dtype=x.dtype)
            adv = project_linf(x + (noise * 2 - 1) * c.eps, x, c.eps)
        for _ in range(c.steps):
            adv.requires_grad_(True)
            grad = torch.zeros_like(x)
            for _ in range(c.eot_samples):
                # the transformation acts on what the detector sees (video scope: the video's
                # perturbed frames, not the virtual image; see AttackModel.forward)
                loss = F.cross_entropy(model(adv, lambda v: self.transform(v, gen)), y, reduction="sum")
                grad += torch.autograd.grad(loss, adv)[0]
            adv = project_linf(adv.detach() + alpha * grad.sign(), x, c.eps)
        return adv

    def transform(self, x: Tensor, gen: torch.Generator) -> Tensor:
        """One random draw of the transformations, per sample (differentiable in ``x``)."""
        c = self.config
        if getattr(self, "_draws", None) is None:  # called outside run()
            self._draws = random.Random(self.seed)
        n, channels, h, w = x.shape
        frames = x.reshape(n * (channels // 3), 3, h, w)  # clips: frame by frame
        per_sample = channels // 3
        out = frames
        for name in c.transforms:
            apply = torch.rand(n, generator=gen, device=x.device) < c.p
            apply = apply.repeat_interleave(per_sample).view(-1, 1, 1, 1)
            changed = getattr(self, f"_{name}")(out, gen)
            out = torch.where(apply, changed, out)
        return out.reshape(n, channels, h, w)

    def _uniform(self, lo: float, hi: float, k: int, gen: torch.Generator, device: torch.device) -> Tensor:
        return lo + (hi - lo) * torch.rand(k, generator=gen, device=device)

    def _jpeg(self, x: Tensor, gen: torch.Generator) -> Tensor:
        from kornia.enhance import jpeg_codec_differentiable

        lo, hi = self.config.jpeg_quality
        quality = self._uniform(lo, hi, len(x), gen, x.device).round()
        return jpeg_codec_differentiable(x.clamp(0, 1), quality.to(x.dtype)).clamp(0, 1)

    def _blur(self, x: Tensor, gen: torch.Generator) -> Tensor:
        from kornia.filters import gaussian_blur2d

        lo, hi = self.config.blur_sigma
        sigma = self._uniform(lo, hi, len(x), gen, x.device).to(x.dtype)
        size = 2 * int(3 * hi + 0.5) + 1
        return gaussian_blur2d(x, (size, size), torch.stack([sigma, sigma], dim=1), border_type="reflect")

    def _resize(self, x: Tensor, gen: torch.Generator) -> Tensor:
        lo, hi = self.config.resize_scale
        scale = self._draws.uniform(lo, hi)  # one size per draw: a batch has one shape
        h, w = x.shape[-2:]
        small = F.interpolate(
            x, size=(max(1, round(h * scale)), max(1, round(w * scale))), mode="bilinear", antialias=True
        )
        return F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False)

    def _noise(self, x: Tensor, gen: torch.Generator) -> Tensor:
        sigma = self._uniform(0.0, self.config.noise_sigma, len(x), gen, x.device).to(x.dtype)
        noise = torch.randn(x.shape, generator=gen, device=x.device, dtype=x.dtype)
        return (x + sigma.view(-1, 1, 1, 1) * noise).clamp(0, 1)
