"""Training and `harness run` end to end on the tiny embedded benchmark."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest
import torch

from harness.checkpoint import load_checkpoint, save_checkpoint
from harness.cli import main
from harness.config import build_config
from harness.data import DataConfig, prepare_dataset
from harness.runner import RunConfig, evaluate, format_table


def test_checkpoint_carries_training_metadata(tiny: tuple[DataConfig, Path]) -> None:
    data, ckpt = tiny
    meta = load_checkpoint(ckpt).meta
    manifest = prepare_dataset(data, progress=False).manifest
    assert meta["split_manifest_hash"] == manifest.hash
    assert meta["dataset"] == "synthetic" and meta["epochs"] == 3
    assert 0 <= meta["val_auroc"] <= 1 and "test_auroc_clean" in meta and meta["code_version"]


def test_run_writes_results_records_and_leaderboards(tiny: tuple[DataConfig, Path], tmp_path: Path) -> None:
    data, ckpt = tiny
    config = build_config(
        RunConfig,
        cli={
            "detector": "cnn",
            "attack": "pgd",
            "checkpoint": str(ckpt),
            "data": vars(data) | {"faces": vars(data.faces)},
            "results_dir": str(tmp_path / "results"),
            "leaderboard_dir": str(tmp_path / "lb"),
            "n_boot": 200,
        },
        sets=["attack_options.eps=[1/255,8/255]", "attack_options.steps=3"],
    )
    results = evaluate(config, progress=False)
    assert [r.result["budget_tag"] for r in results] == ["eps1of255", "eps8of255"]
    for r in results:
        saved = json.loads(r.path.read_text())
        m = saved["metrics"]
        for key in ("auroc_clean", "auroc_adv", "acc_clean", "linf_max", "queries", "attack_seconds"):
            assert isinstance(m[key], (int, float)), key
        assert m["linf_max"] <= r.result["budget"] + 1e-6
        assert m["queries"] == 3 * m["n_samples"]
        assert saved["split_manifest_hash"] == prepare_dataset(data, progress=False).manifest.hash
        assert len(saved["checkpoint_sha256"]) == 64 and saved["libraries"]["torch"] and saved["device"]
        assert saved["config"]["attack_options"]["steps"] == 3 and saved["split"] == "test"
        rows = list(csv.DictReader(r.path.with_suffix(".videos.csv").open()))
        assert len(rows) == m["n_videos"] and {row["label"] for row in rows} <= {"0", "1"}
    # the stronger budget is not weaker
    a, b = (r.result["metrics"]["auroc_adv"] for r in results)
    assert b <= a + 1e-9
    board = (tmp_path / "lb" / "leaderboard.md").read_text()
    assert "| cnn | synthetic |" in board and "pgd@eps8of255" in board
    assert "cnn,synthetic" in (tmp_path / "lb" / "leaderboard.csv").read_text()
    assert "AUROC clean" in format_table(results)


def test_other_datasets_need_a_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = Path(__file__).parent / "data" / "mesonet"
    rc = main(
        [
            "run",
            "--detector",
            "meso4",
            "--dataset",
            "folder",
            "--root",
            str(root),
            "--cache-dir",
            str(tmp_path),
            "-q",
        ]
    )
    assert rc == 2 and "needs --checkpoint" in capsys.readouterr().err


def test_the_published_mesonet_weights_on_their_crops(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = Path(__file__).parent / "data" / "mesonet"
    rc = main(
        [
            "run",
            "--detector",
            "meso4",
            "--checkpoint",
            "mesonet:Meso4_DF",
            "--dataset",
            "folder",
            "--root",
            str(root),
            "--cache-dir",
            str(tmp_path),
            "--set",
            "faces.detector=none",
            "--set",
            f"results_dir={tmp_path / 'r'}",
            "--set",
            f"leaderboard_dir={tmp_path / 'l'}",
            "-q",
        ]
    )
    assert rc == 0
    out = capsys.readouterr().out
    result = json.loads((tmp_path / "r" / "folder" / "meso4" / "pgd-eps4of255.json").read_text())
    assert result["split"] == "all" and result["metrics"]["n_videos"] == 4
    assert result["metrics"]["auroc_clean"] == 1.0  # the authors' weights separate their own crops
    assert result["metrics"]["auroc_adv"] < 0.5 and "meso4" in out


def test_nan_scores_are_a_clear_error_and_write_nothing(
    tiny: tuple[DataConfig, Path], tmp_path: Path
) -> None:
    from harness.detectors import create_detector

    data, ckpt = tiny
    model = create_detector("cnn", checkpoint=ckpt)
    with torch.no_grad():
        model.head[-1].bias.fill_(math.nan)
    bad = save_checkpoint(tmp_path / "nan.pt", model, meta=dict(model.checkpoint_meta))
    config = RunConfig(
        detector="cnn",
        attack="fgsm",
        checkpoint=str(bad),
        data=data,
        results_dir=str(tmp_path / "r"),
        leaderboard_dir=str(tmp_path / "l"),
    )
    with pytest.raises(FloatingPointError, match="non-finite scores"):
        evaluate(config, progress=False)
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("name", __import__("harness.detectors", fromlist=["DETECTORS"]).DETECTORS.names())
def test_every_detector_has_a_valid_demo_recipe(name: str) -> None:
    from harness.detectors import create_detector
    from harness.train import demo_config, demo_recipe_path

    assert demo_recipe_path(name).is_file(), f"configs/demo/{name}.yaml is missing"
    config = demo_config(name)
    assert config.detector == name and config.epochs > 0
    create_detector(name, **config.detector_options)  # the options fit the builder
