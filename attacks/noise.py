"""Additive Gaussian noise with standard deviation ``sigma`` (in ``[0,1]`` pixel units), clipped.

A perturbation (no gradients, no budget): models sensor noise and a naive attacker. Drawn on the
input's device from a local generator seeded with ``seed`` (same seed, same noise; the global
RNG is untouched). Default ``sigma = 0.05`` (about 13/255; ImageNet-C's Gaussian-noise
severities are 0.08 to 0.38).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from harness.attacks import register_attack
from harness.attacks._base import Attack, AttackConfig, AttackModel, generator, require


@dataclass(frozen=True)
class NoiseConfig(AttackConfig):
    sigma: float = 0.05  # standard deviation in [0,1] pixel units

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.sigma >= 0, f"sigma must be >= 0, got {self.sigma}")


@register_attack
class Noise(Attack):
    """Additive Gaussian noise with a sigma in [0,1] units, seeded (perturbation, no gradient)."""

    Config = NoiseConfig
    strength = "sigma"

    @property
    def randomized(self) -> bool:
        return self.config.sigma > 0

    def run(self, model: AttackModel, x: Tensor, y: Tensor) -> Tensor:
        gen = generator(self.seed, x.device)
        noise = torch.randn(x.shape, generator=gen, device=x.device, dtype=x.dtype)
        return (x + self.config.sigma * noise).clamp_(0, 1)
