"""Down-and-up resizing: every frame scaled by ``scale`` and back to its size.

A perturbation (no gradients, no budget): models a low-resolution upload re-upscaled by a
player, which destroys high-frequency evidence. Down-scaling is bilinear with antialiasing (a
proper low-pass, as PIL does), up-scaling bilinear; batched on the input's device with
``torch.nn.functional.interpolate``. Default ``scale = 0.5``; ``scale = 1`` is the identity.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor

from harness.attacks import register_attack
from harness.attacks._base import Attack, AttackConfig, AttackModel, require


@dataclass(frozen=True)
class ResizeConfig(AttackConfig):
    scale: float = 0.5  # (0, 1]

    def __post_init__(self) -> None:
        super().__post_init__()
        require(0 < self.scale <= 1, f"scale must be in (0, 1], got {self.scale}")


@register_attack
class Resize(Attack):
    """Down-scale by a factor and back up, bilinear with antialiasing (perturbation, no gradient)."""

    Config = ResizeConfig
    strength = "scale"

    def run(self, model: AttackModel, x: Tensor, y: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        small = (max(1, round(h * self.config.scale)), max(1, round(w * self.config.scale)))
        if small == (h, w):
            return x.clone()
        frames = model.frames(x).flatten(0, 1)
        down = F.interpolate(frames, size=small, mode="bilinear", antialias=True, align_corners=False)
        up = F.interpolate(down, size=(h, w), mode="bilinear", align_corners=False)
        return up.clamp_(0, 1).view_as(x)
