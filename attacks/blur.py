"""Gaussian blur of every frame with standard deviation ``sigma`` pixels.

A perturbation (no gradients, no budget): models out-of-focus capture and the smoothing of
re-scaling pipelines, which removes blending-boundary and up-sampling artefacts. Batched on the
input's device with ``torchvision.transforms.v2.functional.gaussian_blur`` (reflect padding);
the kernel covers +-3 sigma (``2 * ceil(3 sigma) + 1`` taps, capped by the image size).
Default ``sigma = 1.0``; ``sigma = 0`` is the identity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from torch import Tensor

from harness.attacks import register_attack
from harness.attacks._base import Attack, AttackConfig, AttackModel, require


@dataclass(frozen=True)
class BlurConfig(AttackConfig):
    sigma: float = 1.0  # standard deviation in pixels

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.sigma >= 0, f"sigma must be >= 0, got {self.sigma}")


@register_attack
class Blur(Attack):
    """Gaussian blur with a sigma in pixels (perturbation, no gradient)."""

    Config = BlurConfig
    strength = "sigma"

    def run(self, model: AttackModel, x: Tensor, y: Tensor) -> Tensor:
        from torchvision.transforms.v2.functional import gaussian_blur

        sigma = self.config.sigma
        if sigma == 0:
            return x.clone()
        h, w = x.shape[-2:]
        # reflect padding needs kernel // 2 < image side: the largest odd kernel that fits
        kernel = min(2 * math.ceil(3 * sigma) + 1, 2 * (min(h, w) - 1) + 1)
        frames = model.frames(x).flatten(0, 1)
        out = gaussian_blur(frames, kernel_size=[kernel, kernel], sigma=[sigma, sigma])
        return out.clamp_(0, 1).view_as(x)
