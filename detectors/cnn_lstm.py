"""CNN-LSTM clip detector: per-frame CNN features -> LSTM over time -> real/fake logits.

Default (seed 002, after Guera & Delp, AVSS 2018): ResNeXt50-32x4d frame features (2048-d),
one LSTM layer with 2048 hidden units, mean over time, dropout 0.4, linear to two logits, 112x112
frames, 20 frames per clip. ``backbone`` may instead name any frame detector of the zoo (its trunk
and normalization are reused, e.g. ``"xception"``) or any timm model; ``bidirectional=True`` with
``backbone="xception"`` gives seed 003's Xception + BiLSTM.

Input ``(N, T, 3, H, W)`` in [0, 1]; any ``T >= 1`` is accepted (``spec.frames_per_clip`` is what
the data pipeline feeds).

Attackability: cuDNN's RNN backward refuses to run in eval mode, which would make white-box
attacks on a CUDA CNN-LSTM fail. In eval mode with gradients enabled on CUDA the LSTM therefore
runs with cuDNN switched off for that call (PyTorch's native kernels differentiate in eval mode);
dropout stays off, so the attacked function is exactly the evaluated one.
"""

from __future__ import annotations

import os

import torch
from torch import Tensor, nn

from harness.detectors import DETECTORS, register_detector
from harness.detectors._base import Detector, DetectorSpec, FrameDetector, as_size, check_num_logits
from harness.detectors._timm import timm_cam_layer, timm_trunk

DEFAULT_BACKBONE = "resnext50_32x4d"


class CNNLSTM(Detector):
    """Frames through ``trunk`` -> ``(N, T, F)`` -> LSTM -> mean over time -> head."""

    def __init__(
        self,
        spec: DetectorSpec,
        trunk: nn.Module,
        num_features: int,
        hidden_size: int,
        num_layers: int,
        bidirectional: bool,
        dropout: float,
        num_logits: int,
    ) -> None:
        super().__init__(spec)
        self.trunk = trunk
        self.lstm = nn.LSTM(
            num_features,
            hidden_size,
            num_layers=num_layers,
            batch_first=True,
            bidirectional=bidirectional,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        out = hidden_size * (2 if bidirectional else 1)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(out, check_num_logits(num_logits)))

    def logits(self, x: Tensor) -> Tensor:
        n, t = x.shape[:2]
        feats = self.trunk(x.flatten(0, 1)).view(n, t, -1)
        if feats.is_cuda and not self.training and torch.is_grad_enabled():
            # cuDNN RNN backward only runs in training mode; the native kernel works in eval.
            with torch.backends.cudnn.flags(enabled=False):
                seq, _ = self.lstm(feats)
        else:
            seq, _ = self.lstm(feats)
        return self.head(seq.mean(dim=1))


def _zoo_trunk(
    backbone: str, size: tuple[int, int], backbone_weights: str | os.PathLike[str] | None
) -> tuple[nn.Module, int, tuple[float, ...], tuple[float, ...], str, str | None]:
    builder = DETECTORS.get(backbone)
    kwargs: dict[str, object] = {"input_size": size}
    if backbone_weights is not None:
        kwargs["backbone_weights"] = backbone_weights
    frame = builder(**kwargs)
    if not isinstance(frame, FrameDetector):
        raise ValueError(f"cnn_lstm: backbone {backbone!r} is not a frame detector with a trunk")
    # The frame detector's Grad-CAM layer, when it is inside its trunk (our trunk has the same name).
    cam = frame.cam_layer if frame.cam_layer and frame.cam_layer.startswith("trunk.") else None
    return frame.trunk, frame.num_features, frame.spec.mean, frame.spec.std, frame.spec.reference, cam


@register_detector
def cnn_lstm(
    *,
    backbone: str = DEFAULT_BACKBONE,
    input_size: int | tuple[int, int] = (112, 112),
    frames_per_clip: int = 20,
    hidden_size: int = 2048,
    num_layers: int = 1,
    bidirectional: bool = False,
    dropout: float = 0.4,
    num_logits: int = 2,
    backbone_weights: str | os.PathLike[str] | None = None,
) -> CNNLSTM:
    """CNN-LSTM; ``backbone`` is a zoo frame-detector key or a timm model name."""
    size = as_size(input_size)
    if backbone in DETECTORS and DETECTORS.get(backbone) is not cnn_lstm:
        trunk, num_features, mean, std, ref, cam_layer = _zoo_trunk(backbone, size, backbone_weights)
        backbone_ref = f"backbone: {ref}"
    else:
        import timm

        if not timm.is_model(backbone):
            raise ValueError(
                f"cnn_lstm: unknown backbone {backbone!r}: use a frame detector "
                f"({', '.join(n for n in DETECTORS.names() if DETECTORS.get(n) is not cnn_lstm)}) or a timm "
                "model name"
            )
        trunk, num_features = timm_trunk(backbone, backbone_weights)
        cam_layer = f"trunk.{timm_cam_layer(trunk)}"
        cfg = trunk.pretrained_cfg
        mean, std = tuple(cfg["mean"]), tuple(cfg["std"])
        backbone_ref = f"backbone: timm {backbone}"
    kind = "BiLSTM" if bidirectional else "LSTM"
    spec = DetectorSpec(
        kind="clip",
        input_size=size,
        mean=mean,  # type: ignore[arg-type]
        std=std,  # type: ignore[arg-type]
        frames_per_clip=int(frames_per_clip),
        reference=(
            f"Guera & Delp, AVSS 2018 (CNN + {kind}); seeds 002 (ResNeXt50+LSTM) / "
            f"003 (Xception+BiLSTM); {backbone_ref}"
        ),
    )
    detector = CNNLSTM(
        spec,
        trunk,
        num_features,
        int(hidden_size),
        int(num_layers),
        bool(bidirectional),
        float(dropout),
        num_logits,
    )
    detector.cam_layer = cam_layer  # per frame: the backbone's Grad-CAM layer
    return detector
