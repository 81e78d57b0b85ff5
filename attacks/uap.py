"""Universal adversarial perturbation (UAP): one perturbation for every video, learned beforehand.

The cheapest attacker does not optimize per video: it learns a single perturbation once, on
videos it has (the train split's fakes, by default), and adds it to every video it publishes,
including ones it never saw. Here the perturbation is learned by stochastic signed-gradient
ascent on the cross-entropy of the true label (Shafahi et al., AAAI 2020, "Universal adversarial
training"): ``epochs`` passes over the training batches, each step ``delta += alpha *
sign(grad)`` and projection onto the L-inf ``eps`` ball. It has the detector's input size and is
shared by every frame of a clip. :meth:`UAP.fit` learns it (the runner streams the train split's
samples of the attack's ``target`` class; the evaluated split is never seen); :meth:`UAP.run`
only adds it. Called without ``fit`` (a direct call on a batch), it learns on that batch first:
a perturbation universal over the batch, which is a white-box shortcut, not the threat model.
Deterministic: no random draws (the batches come in plan order).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from harness.attacks import register_attack
from harness.attacks._base import (
    Attack,
    AttackConfig,
    AttackModel,
    _model_state,
    _unchanged,
    project_linf,
    require,
)


@dataclass(frozen=True)
class UAPConfig(AttackConfig):
    target: Literal["fake", "real", "both"] = "fake"  # learned on, and applied to, this class
    eps: float = 8 / 255  # L-inf budget in [0,1] pixel units (its own: one perturbation for all videos)
    alpha: float | None = None  # step size; None: eps / 10
    epochs: int = 5  # passes over the train split's batches

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.alpha is None or self.alpha > 0, f"alpha (step size) must be > 0, got {self.alpha}")
        require(self.epochs >= 1, f"epochs must be >= 1, got {self.epochs}")


@register_attack
class UAP(Attack):
    """One L-inf perturbation learned on the train split's fakes, added to every test sample."""

    Config = UAPConfig
    norm = "linf"
    uses_gradients = True
    needs_fit: ClassVar[bool] = True
    no_video_scope = "its one perturbation is already shared by every video (universal)"

    def __init__(self, config: AttackConfig | None = None, /, **settings: Any) -> None:
        super().__init__(config, **settings)
        self.delta: Tensor | None = None  # (3, H, W), set by fit()
        self.fit_info: dict[str, Any] = {}

    def default_alpha(self) -> float:
        return self.config.eps / 10

    def fit(self, detector: Any, batches: Callable[[], Iterable[tuple[Tensor, Tensor]]]) -> Tensor:
        """Learn the perturbation on ``batches()`` (called once per epoch: ``(x, y)`` on the
        detector's device, the detector's layout). The detector is left exactly as it was."""
        with _model_state(detector), _unchanged(detector, self.name):
            return self._learn(detector, batches)

    def _learn(self, forward: Callable[[Tensor], Tensor], batches: Callable[[], Iterable[Any]]) -> Tensor:
        c = self.config
        alpha = self.alpha
        delta: Tensor | None = None
        samples = steps = 0
        for epoch in range(c.epochs):
            for x, y in batches():
                if delta is None:
                    delta = torch.zeros(x.shape[-3:], device=x.device, dtype=x.dtype)
                d = delta.clone().requires_grad_(True)
                with torch.enable_grad():
                    loss = F.cross_entropy(forward((x + d).clamp(0, 1)).double(), y)
                    (grad,) = torch.autograd.grad(loss, d)
                delta = (delta + alpha * grad.sign()).clamp(-c.eps, c.eps)
                steps += 1
                samples += len(x) if epoch == 0 else 0
        if delta is None:
            raise ValueError(f"uap: no training samples of class {c.target!r} to learn a perturbation on")
        self.delta = delta.detach()
        self.fit_info = {"train_samples": samples, "steps": steps, "epochs": c.epochs}
        return self.delta

    def run(self, model: AttackModel, x: Tensor, y: Tensor) -> Tensor:
        if self.delta is None:  # called without fit(): universal over this batch (fit_info says so)
            self._learn(lambda z: model(z.flatten(1, 2)), lambda: [(model.frames(x), y)])
            self.fit_info["learned_on"] = "the attacked batch itself (fit() was not called)"
            learned_here = True
        else:
            learned_here = False
        assert self.delta is not None
        delta = self.delta.to(x.device, x.dtype)
        frames = x.shape[1] // 3  # clips arrive as (n, 3T, H, W): the same delta on every frame
        out = project_linf((x + delta.repeat(frames, 1, 1)).clamp(0, 1), x, self.config.eps)
        if learned_here:
            self.delta = None  # the next call learns on its own batch again
        return out
