"""``harness explain``: Grad-CAM layers of every detector, the explanation's data, figure, JSON, CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from conformance import small_detector
from helpers import face_video, sample_input
from torch import nn

from harness.cli import main
from harness.detectors import DETECTORS, create_detector, wrap_model
from harness.explain import Explanation, explain, grad_cam, render_figure, write_json
from harness.faces import FaceConfig
from harness.predict import NoFaceError, predict

EPS = 4 / 255
FACES = FaceConfig(detector="haar")
PGD = {"eps": EPS, "steps": 3}


# -- the Grad-CAM layer of every registered detector ---------------------------------------------


@pytest.mark.parametrize("name", DETECTORS.names())
def test_every_detector_names_a_spatial_cam_layer(name: str) -> None:
    model = small_detector(name)
    assert model.cam_layer is not None, f"{name}: set detector.cam_layer in its builder"
    (layer,) = model.cam_layers()
    assert any(layer is m for m in model.modules())
    shapes: list[tuple[int, ...]] = []
    handle = layer.register_forward_hook(lambda m, i, o: shapes.append(tuple(o.shape)))
    x = sample_input(model, batch=2)
    try:
        with torch.no_grad():
            model(x)
    finally:
        handle.remove()
    frames = 2 * (model.spec.frames_per_clip or 1)
    assert len(shapes) == 1 and len(shapes[0]) == 4 and shapes[0][0] == frames, shapes
    cams = grad_cam(model, x, torch.device("cpu"))
    assert cams.shape == (*x.shape[:-3], *model.spec.input_size)
    assert np.isfinite(cams).all() and cams.min() >= 0 and cams.max() <= 1


def test_a_wrapped_model_uses_its_last_conv() -> None:
    net = nn.Sequential(
        nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten()
    )
    model = wrap_model(nn.Sequential(net, nn.Linear(4, 1)), name="mine", input_size=16)
    assert model.cam_layers() == [net[2]]
    assert grad_cam(model, torch.rand(2, 3, 16, 16), torch.device("cpu")).shape == (2, 16, 16)


# -- one video of the tiny benchmark, the tiny trained cnn ----------------------------------------


@pytest.fixture(scope="module")
def fake_video(tiny: tuple[Any, Path]) -> Path:
    from harness.data import open_dataset

    data = tiny[0]
    index = open_dataset(data.dataset, data.root, data.cache_dir, progress=False, **data.options)
    return index.abspath(next(v for v in sorted(index.videos, key=lambda v: v.video_id) if v.label == 1))


@pytest.fixture(scope="module")
def expl(tiny: tuple[Any, Path], fake_video: Path) -> Explanation:
    steps: list[tuple[float, str]] = []
    out = explain(
        fake_video,
        "cnn",
        checkpoint=str(tiny[1]),
        attack_options=PGD,
        faces=FACES,
        frames=4,
        device="cpu",
        progress=lambda f, m: steps.append((f, m)),
    )
    fractions = [f for f, _ in steps]
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] == 1.0
    return out


def test_frames_hold_crops_cams_and_perturbations_within_budget(expl: Explanation) -> None:
    assert expl.detector == "cnn" and expl.kind == "frame" and expl.cam_layer == "trunk.7"
    assert len(expl.frames) == 4 and expl.attack == "pgd" and expl.attack_options["eps"] == EPS
    for f in expl.frames:
        assert f.crop.shape == f.attacked_crop.shape == (32, 32, 3) and f.crop.dtype == np.uint8
        for cam in (f.cam_clean, f.cam_attacked):
            assert cam.shape == (32, 32) and cam.dtype == np.float32
            assert np.isfinite(cam).all() and 0 <= cam.min() and cam.max() <= 1
        assert f.perturbation.shape == (32, 32, 3)
        assert np.abs(f.perturbation).max() <= EPS + 1 / 255 and f.linf <= EPS + 1 / 255
        delivered = f.attacked_crop.astype(int) - f.crop.astype(int)  # 8-bit, as the attack returns
        np.testing.assert_allclose(delivered / 255, f.perturbation, atol=1e-6)
        assert f.attack_label == int(f.p_clean >= 0.5)  # pushed away from the clean prediction
        away = f.p_clean - f.p_attacked if f.attack_label else f.p_attacked - f.p_clean
        assert away > 0, (f.p_clean, f.p_attacked, f.attack_label)
    assert expl.p_clean == pytest.approx(np.mean([f.p_clean for f in expl.frames]))
    assert expl.p_attacked == pytest.approx(np.mean([f.p_attacked for f in expl.frames]))


def test_clean_probability_is_what_predict_says(
    expl: Explanation, tiny: tuple[Any, Path], fake_video: Path
) -> None:
    faces = FaceConfig(detector="haar", num_frames=4)
    p = predict(fake_video, "cnn", str(tiny[1]), faces, "cpu")
    assert expl.p_clean == pytest.approx(p.probability, abs=1e-6)
    assert [(f.index, f.p_clean) for f in expl.frames] == [
        (i, pytest.approx(q, abs=1e-6)) for i, q in p.frames
    ]


def test_figure_and_json(expl: Explanation, tmp_path: Path) -> None:
    png = render_figure(expl, tmp_path / "fig" / "v.png", dpi=40)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = json.loads(write_json(expl, tmp_path / "v.json").read_text())
    assert data["p_clean"] == expl.p_clean and data["p_attacked"] == expl.p_attacked
    assert data["cam_layer"] == "trunk.7" and data["attack_options"]["eps"] == EPS
    assert [(d["index"], d["p_clean"], d["p_attacked"], d["linf"]) for d in data["frames"]] == [
        (f.index, f.p_clean, f.p_attacked, f.linf) for f in expl.frames
    ]
    assert "crop" not in data["frames"][0] and "cam_clean" not in data["frames"][0]


def test_true_label_and_no_attack(tiny: tuple[Any, Path], fake_video: Path) -> None:
    model = create_detector("cnn", checkpoint=tiny[1])
    labelled = explain(
        fake_video, model, attack="fgsm", attack_options={"eps": EPS}, faces=FACES, frames=2, label=0
    )
    assert [f.attack_label for f in labelled.frames] == [0, 0] and labelled.label == 0
    clean = explain(fake_video, model, attack=None, faces=FACES, frames=2)
    assert clean.p_attacked is None and all(f.cam_attacked is None for f in clean.frames)
    assert clean.checkpoint == str(tiny[1])
    assert json.loads(json.dumps(clean.summary()))["p_attacked"] is None


def test_a_clip_detector_gets_one_heat_map_per_frame(fake_video: Path, tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = create_detector("cnn_lstm", backbone="cnn", input_size=32, hidden_size=8, frames_per_clip=3)
    out = explain(fake_video, model, attack_options=PGD, faces=FACES, frames=3, device="cpu")
    assert out.kind == "clip" and out.cam_layer == "trunk.7" and len(out.frames) == 3
    assert isinstance(out.p_clean, float) and isinstance(out.p_attacked, float)
    for f in out.frames:
        assert f.p_clean is None and f.cam_clean.shape == f.cam_attacked.shape == (32, 32)
        assert 0 <= f.cam_clean.min() and f.cam_clean.max() <= 1 and f.linf <= EPS + 1 / 255
    render_figure(out, tmp_path / "clip.png", dpi=30)


def test_no_face_is_an_error(tmp_path: Path) -> None:
    video = face_video(tmp_path / "empty.mp4", n=4, with_face=False)
    with pytest.raises(NoFaceError):
        explain(video, "meso4", checkpoint="mesonet:Meso4_DF", faces=FACES, frames=2)
    assert main(["explain", str(video), "--face-detector", "haar", "--output", str(tmp_path)]) == 3


def test_cli_writes_the_figure_and_the_json(
    tiny: tuple[Any, Path], fake_video: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["explain", str(fake_video), "--detector", "cnn", "--checkpoint", str(tiny[1])]
    args += [
        "--face-detector",
        "haar",
        "--frames",
        "2",
        "--set",
        "attack.eps=2/255",
        "--set",
        "attack.steps=2",
    ]
    assert main([*args, "--output", str(tmp_path), "--dpi", "30", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "Grad-CAM at trunk.7" in out and out.count("  frame ") == 2
    data = json.loads((tmp_path / f"{fake_video.stem}.json").read_text())
    assert data["attack"] == "pgd" and data["attack_options"]["eps"] == pytest.approx(2 / 255)
    assert (tmp_path / f"{fake_video.stem}.png").stat().st_size > 0
    assert main([*args, "--attack", "none", "--output", str(tmp_path / "clean")]) == 0
    assert json.loads((tmp_path / "clean" / f"{fake_video.stem}.json").read_text())["p_attacked"] is None
    assert main([*args, "--set", "dataset.size=tiny", "--output", str(tmp_path)]) == 2
    assert "--set takes attack.KEY" in capsys.readouterr().err
