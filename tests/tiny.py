"""Tiny models and data for attack tests (fast on 2 CPU cores).

* :func:`faces`: a synthetic real/fake task at 16x16: smooth random grey "faces" plus a little
  pixel noise; half the fakes carry a faint colour shift (robust to blur and compression), the
  other half a faint checkerboard (an up-sampling artefact that blur and compression erase).
  Separable clean, and flipped by a 4/255 L-inf perturbation.
* :func:`trained_detector`: a small conv net behind the detector contract
  (``wrap_model``), trained on :func:`faces` for about a second (cached; each call returns a fresh
  copy in eval mode), clean AUROC ~1.
* :func:`matched_detector`: a parameter-free differentiable 2-logit detector (matched filters
  for the two fake patterns) (for attacks on a model without parameters).
* :func:`matched_clip_detector` and :func:`clips`: the same as a clip detector and clip data.
* :func:`tiny_clip_detector`: a small untrained CNN-LSTM clip detector.
* :func:`bn_detector`: a frame detector with BatchNorm (running statistics) and Dropout: what an
  attack library that switches to train mode would change.
* :func:`auroc`: AUROC of a detector's fake probability.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from harness.detectors import create_detector
from harness.detectors._base import Detector, wrap_model

SIZE = 16
COLOUR = 0.02  # half the fakes: red +COLOUR, blue -COLOUR (a blended face's colour mismatch)
CHECKER = 0.025  # the other half: a +-CHECKER checkerboard (an up-sampling artefact)


def checkerboard(size: int = SIZE) -> Tensor:
    i = torch.arange(size)
    return ((i.view(-1, 1) + i.view(1, -1)) % 2 * 2 - 1).float()  # +-1


def colour_shift() -> Tensor:
    return torch.tensor([COLOUR, 0.0, -COLOUR]).view(3, 1, 1)


def faces(n: int, seed: int = 0, size: int = SIZE) -> tuple[Tensor, Tensor]:
    """``n`` 8-bit images ``(n, 3, size, size)`` in [0,1] (values ``k/255``, as decoded crops
    are) and labels (alternating 0 real / 1 fake)."""
    gen = torch.Generator().manual_seed(seed)
    base = torch.rand(n, 1, 4, 4, generator=gen) * 0.6 + 0.2  # grey, smooth
    x = F.interpolate(base, size=(size, size), mode="bilinear", align_corners=False).expand(n, 3, size, size)
    x = x + 0.01 * torch.randn((n, 3, size, size), generator=gen)
    i = torch.arange(n)
    y = i % 2
    colour = (i % 4 == 1).float().view(-1, 1, 1, 1)
    checker = (i % 4 == 3).float().view(-1, 1, 1, 1)
    x = x + colour * colour_shift() + checker * CHECKER * checkerboard(size)
    return x.clamp(0, 1).mul(255).round().div(255), y


class _TinyNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(8, 8, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.head = nn.Linear(8, 2)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))


@functools.cache
def _trained() -> Detector:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: one thread is fastest, and robust to a loaded machine
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            net = _TinyNet()
        # normalization inside the detector, as in the zoo: inputs ~unit scale for the net
        det = wrap_model(net, name="tiny", input_size=SIZE, mean=(0.5,) * 3, std=(0.1,) * 3, reference="test")
        x, y = faces(512, seed=1)
        opt = torch.optim.Adam(det.parameters(), lr=0.01)
        det.train()
        for step in range(150):
            idx = torch.arange(step * 64, step * 64 + 64) % len(x)
            loss = F.cross_entropy(det(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    finally:
        torch.set_num_threads(threads)
    det.zero_grad(set_to_none=True)
    return det.eval()


def trained_detector() -> Detector:
    """A fresh copy of the tiny trained frame detector (eval mode, no ``.grad`` anywhere)."""
    return copy.deepcopy(_trained())


class _Matched(nn.Module):
    """Parameter-free and linear: fake logit from two matched filters (colour, checkerboard)."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.register_buffer("colour", colour_shift().expand(3, size, size) / (2 * COLOUR**2 * size * size))
        self.register_buffer(
            "checker", checkerboard(size).expand(3, size, size) / (CHECKER * 3 * size * size)
        )

    def forward(self, x: Tensor) -> Tensor:
        # each filter reads ~0 on reals and on the other kind of fake, ~1 on its kind of fake
        score = (x * self.colour).sum(dim=(1, 2, 3)) + (x * self.checker).sum(dim=(1, 2, 3))
        return (20 * (score - 0.5)).view(-1, 1)


def matched_detector() -> Detector:
    """A parameter-free differentiable detector (no ``nn.Parameter`` at all)."""
    return wrap_model(_Matched(SIZE), name="matched", input_size=SIZE, reference="test model").eval()


class _PerFrame(nn.Module):
    """A clip model: a frame model's logits averaged over time."""

    def __init__(self, frame_model: nn.Module) -> None:
        super().__init__()
        self.frame_model = frame_model

    def forward(self, x: Tensor) -> Tensor:
        n, t = x.shape[:2]
        return self.frame_model(x.flatten(0, 1)).view(n, t, -1).mean(dim=1)


def matched_clip_detector(frames: int = 3) -> Detector:
    """The matched-filter detector as a parameter-free clip detector (mean logit over frames)."""
    model = _PerFrame(_Matched(SIZE))
    return wrap_model(
        model, name="matched_clip", input_size=SIZE, kind="clip", frames_per_clip=frames, reference="test"
    ).eval()


def clips(n: int, frames: int = 3, seed: int = 0) -> tuple[Tensor, Tensor]:
    """``n`` clips ``(n, frames, 3, SIZE, SIZE)`` of :func:`faces` with fresh pixel noise per frame."""
    x, y = faces(n, seed=seed)
    gen = torch.Generator().manual_seed(seed + 1)
    noise = 0.01 * torch.randn((n, frames, *x.shape[1:]), generator=gen)
    return (x.unsqueeze(1) + noise).clamp(0, 1), y


def tiny_clip_detector(frames: int = 3) -> Detector:
    """An untrained small CNN-LSTM clip detector at 16x16."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return create_detector(
            "cnn_lstm", backbone="cnn", input_size=SIZE, hidden_size=8, frames_per_clip=frames
        )


class _BNDropoutNet(nn.Module):
    """BatchNorm (running statistics, a step counter) and Dropout: what a library in train mode breaks."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3, padding=1)
        self.bn = nn.BatchNorm2d(6)
        self.drop = nn.Dropout(0.5)
        self.head = nn.Linear(6, 2)

    def forward(self, x: Tensor) -> Tensor:
        h = F.relu(self.bn(self.conv(x)))
        return self.head(self.drop(h.mean(dim=(2, 3))))


def bn_detector() -> Detector:
    """An untrained 16x16 detector with non-trivial BatchNorm statistics, in eval mode."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(3)
        net = _BNDropoutNet()
        with torch.no_grad():  # non-trivial running statistics, as after training
            net.bn.running_mean.uniform_(-0.2, 0.2)
            net.bn.running_var.uniform_(0.5, 2.0)
            net.bn.num_batches_tracked.fill_(100)
    det = wrap_model(
        net, name="bn-dropout", input_size=SIZE, mean=(0.5,) * 3, std=(0.25,) * 3, reference="test"
    )
    return det.eval()


def p_fake(detector: Detector, x: Tensor) -> Tensor:
    with torch.no_grad():
        return detector(x).softmax(dim=1)[:, 1]


def auroc(detector: Detector, x: Tensor, y: Tensor) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y.numpy(), p_fake(detector, x).numpy()))


# Attack settings that keep the slow attacks quick on the 16x16 tiny detectors (tests merge them
# over the defaults).
FAST_ATTACKS: dict[str, dict[str, Any]] = {
    "apgd": {"steps": 10},
    "cw": {"steps": 30},
    "square": {"n_queries": 60},
    "uap": {"epochs": 2, "target": "both"},  # its default attacks fakes only
    "hopskipjump": {"max_iter": 2, "max_eval": 50, "init_eval": 10, "init_size": 20},
}
