"""Shared parts of the MesoNet family (Afchar et al., "MesoNet: a Compact Facial Video Forgery
Detection Network", WIFS 2018) and the importer of the authors' Keras 2 HDF5 weights.

The PyTorch port follows the Keras layer order exactly (Conv2D with ReLU, then BatchNormalization
with Keras' epsilon 1e-3, then 'same' max-pooling), and its Flatten reads NHWC order, so the
authors' Dense kernels apply unchanged. The Keras model outputs P(real); in the ``[real, fake]``
contract the fake logit is the negated Keras logit, so the importer negates the last Dense layer.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from harness.checkpoint import CheckpointError
from harness.detectors._base import NO_NORM_MEAN, NO_NORM_STD, DetectorSpec, FrameDetector, check_num_logits

KERAS_BN_EPS = 1e-3
MESONET_REFERENCE = (
    "Afchar, Nozick, Yamagishi, Echizen. MesoNet: a Compact Facial Video Forgery Detection "
    "Network. WIFS 2018; weights: DariusAf/MesoNet (Apache-2.0)"
)


def conv_block(cin: int, cout: int, kernel: int, pool: int) -> nn.Sequential:
    """Keras: Conv2D(same, relu) -> BatchNormalization -> MaxPooling2D(same)."""
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, padding=kernel // 2),
        nn.ReLU(inplace=True),
        nn.BatchNorm2d(cout, eps=KERAS_BN_EPS),
        nn.MaxPool2d(pool, ceil_mode=True),  # ceil_mode == Keras 'same' pooling
    )


class NHWCFlatten(nn.Module):
    """Flatten in Keras' channels-last order, so imported Dense kernels line up."""

    def forward(self, x: Tensor) -> Tensor:
        return x.permute(0, 2, 3, 1).flatten(1)


def pooled_size(size: tuple[int, int], pools: tuple[int, ...]) -> tuple[int, int]:
    h, w = size
    for p in pools:
        h, w = math.ceil(h / p), math.ceil(w / p)
    return h, w


def meso_head(num_features: int, num_logits: int, dropout: float) -> nn.Sequential:
    """Meso-4's tail: Dropout -> Dense 16 -> LeakyReLU(0.1) -> Dropout -> Dense 1."""
    return nn.Sequential(
        nn.Dropout(dropout),
        nn.Linear(num_features, 16),
        nn.LeakyReLU(0.1),
        nn.Dropout(dropout),
        nn.Linear(16, check_num_logits(num_logits)),
    )


class MesoNet(FrameDetector):
    """A MesoNet detector; can import the authors' Keras HDF5 weights."""

    cam_layer = "trunk.3.2"  # Grad-CAM: the last conv block's batch norm, before its 4x pooling

    def load_keras_h5(self, path: str | os.PathLike[str]) -> None:
        """Load a Keras 2 ``.h5`` file of the same architecture (h5py only, no TensorFlow)."""
        path = Path(path)
        layers = read_keras_h5(path)
        convs = [m for m in self.modules() if isinstance(m, nn.Conv2d)]
        bns = [m for m in self.modules() if isinstance(m, nn.BatchNorm2d)]
        denses = [m for m in self.modules() if isinstance(m, nn.Linear)]
        found = (len(layers["conv2d"]), len(layers["batch_normalization"]), len(layers["dense"]))
        if found != (len(convs), len(bns), len(denses)):
            guess = {4: "meso4", 16: "mesoinception4"}.get(found[0], "an unknown model")
            raise CheckpointError(
                f"{path} holds a Keras model with {found[0]} conv, {found[1]} batch-norm and "
                f"{found[2]} dense layers (looks like {guess}), but {self.spec.name} has "
                f"{len(convs)}/{len(bns)}/{len(denses)}: use --detector {guess}"
            )
        if self.head[-1].out_features != 1:
            raise CheckpointError(f"{path}: the Keras MesoNet has one output; build with num_logits=1")
        with torch.no_grad():
            for module, w in zip(convs, layers["conv2d"], strict=True):
                _copy(module.weight, w["kernel"].transpose(3, 2, 0, 1), path, "conv kernel")
                _copy(module.bias, w["bias"], path, "conv bias")
            for module, w in zip(bns, layers["batch_normalization"], strict=True):
                _copy(module.weight, w["gamma"], path, "batch-norm gamma")
                _copy(module.bias, w["beta"], path, "batch-norm beta")
                _copy(module.running_mean, w["moving_mean"], path, "batch-norm mean")
                _copy(module.running_var, w["moving_variance"], path, "batch-norm variance")
            for module, w in zip(denses, layers["dense"], strict=True):
                _copy(module.weight, w["kernel"].T, path, "dense kernel")
                _copy(module.bias, w["bias"], path, "dense bias")
            last = denses[-1]
            last.weight.neg_()  # Keras predicts P(real): fake logit = -real logit
            last.bias.neg_()


def _copy(param: Tensor, value: np.ndarray, path: Path, what: str) -> None:
    if tuple(param.shape) != tuple(value.shape):
        raise CheckpointError(
            f"{path}: {what} has shape {tuple(value.shape)}, the model expects "
            f"{tuple(param.shape)}; the published MesoNet weights need input_size=(256, 256)"
        )
    param.copy_(torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32)))


_LAYER_RE = re.compile(r"^(conv2d|batch_normalization|dense)(?:_(\d+))?$")


def read_keras_h5(path: Path) -> dict[str, list[dict[str, np.ndarray]]]:
    """Weights of a Keras 2 HDF5 file by layer type, in creation order (sorted numerically)."""
    import h5py

    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise CheckpointError(f"{path} is not a readable HDF5 file ({exc}); re-download it") from exc
    out: dict[str, list[tuple[int, dict[str, np.ndarray]]]] = {
        "conv2d": [],
        "batch_normalization": [],
        "dense": [],
    }
    with f:
        root = f["model_weights"] if "model_weights" in f else f
        for name in root:
            match = _LAYER_RE.match(name)
            if not match:
                continue
            arrays: dict[str, np.ndarray] = {}

            def visit(key: str, obj: object, arrays: dict[str, np.ndarray] = arrays) -> None:
                if isinstance(obj, h5py.Dataset):
                    arrays[key.rsplit("/", 1)[-1].split(":")[0]] = obj[()]

            root[name].visititems(visit)
            if arrays:
                out[match.group(1)].append((int(match.group(2) or 0), arrays))
    if not any(out.values()):
        raise CheckpointError(f"{path} holds no Keras conv/dense weights")
    return {kind: [a for _, a in sorted(items, key=lambda t: t[0])] for kind, items in out.items()}


def meso_spec(input_size: tuple[int, int]) -> DetectorSpec:
    return DetectorSpec(
        kind="frame",
        input_size=input_size,
        mean=NO_NORM_MEAN,
        std=NO_NORM_STD,
        reference=MESONET_REFERENCE,
    )
