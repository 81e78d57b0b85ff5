"""``harness transfer``: craft once on a source, score on every target, keep the examples in a store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from harness.checkpoint import load_checkpoint, save_checkpoint
from harness.cli import main
from harness.config import build_config
from harness.data import DataConfig, prepare_dataset
from harness.transfer import (
    TransferConfig,
    TransferResult,
    read_example,
    resize_matrix,
    store_key,
    transfer,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
STEPS = 2


def _data(data: DataConfig) -> dict[str, Any]:
    return vars(data) | {"faces": vars(data.faces)}


@pytest.fixture(scope="module")
def models(tiny: tuple[DataConfig, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The tiny trained cnn (32 px) and an untrained Meso-4 at 64 px (another input size)."""
    from harness.detectors import create_detector

    _, cnn = tiny
    folder = tmp_path_factory.mktemp("models")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)
        meso = create_detector("meso4", input_size=64)
    return {"cnn": str(cnn), "meso4": str(save_checkpoint(folder / "meso4.pt", meso))}


def _config(data: DataConfig, models: dict[str, str], root: Path, **cli: Any) -> TransferConfig:
    sets = cli.pop("sets", [])
    base = {
        "sources": ["cnn", "meso4"],
        "attack": "pgd",
        "attack_options": {"steps": STEPS},
        "checkpoints": models,
        "data": _data(data),
        "n_boot": 100,
        "workers": 0,
        "store_dir": str(root / "store"),
        "results_dir": str(root / "results"),
        "leaderboard_dir": str(root / "lb"),
    }
    return build_config(TransferConfig, cli=base | cli, sets=sets)


@pytest.fixture(scope="module")
def first(
    tiny: tuple[DataConfig, Path], models: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> tuple[TransferConfig, TransferResult, list[int]]:
    root = tmp_path_factory.mktemp("transfer")
    config = _config(tiny[0], models, root)
    calls: list[int] = []
    result = transfer(config, progress=False, calls=calls)
    assert not Path(config.leaderboard_dir).exists(), "the leaderboard is the caller's step"
    from harness.leaderboard import write_leaderboards

    write_leaderboards(Path(config.results_dir), Path(config.leaderboard_dir))  # as `harness transfer` does
    return config, result, calls


def _stored(config: TransferConfig, result: dict[str, Any]) -> dict[str, tuple[np.ndarray, dict[str, Any]]]:
    """video id -> (uint8 crops, metadata) of one result's store."""
    folder = Path(config.store_dir) / result["store"]["key"][:16]
    out = {}
    for path in sorted(folder.glob("*.npz")):
        got = read_example(path)
        assert got is not None
        out[got[1]["video_id"]] = got
    return out


def _refs(config: TransferConfig) -> list[Any]:
    from harness.stream import video_refs

    return video_refs(prepare_dataset(config.data, progress=False), "test")


def test_config_takes_comma_lists_and_targets_default_to_the_sources() -> None:
    c = TransferConfig(sources="cnn, meso4", targets="")  # type: ignore[arg-type]
    assert c.sources == ("cnn", "meso4") and c.columns == ("cnn", "meso4")
    assert TransferConfig(sources=("cnn",), targets=("meso4", "cnn")).columns == ("meso4", "cnn")
    with pytest.raises(ValueError, match="at least one source"):
        TransferConfig(sources=())
    assert TransferConfig().results_dir == "runs/results" and TransferConfig().leaderboard_dir is None


def test_matrix_shape_and_the_diagonal_is_the_white_box_number_on_the_same_examples(
    first: tuple[TransferConfig, TransferResult, list[int]],
) -> None:
    from sklearn.metrics import roc_auc_score

    from harness.detectors import create_detector
    from harness.faces import resize_crops

    config, result, calls = first
    refs = _refs(config)
    assert calls and sum(calls) == 2 * sum(len(r.crops) for r in refs), "every crop attacked once per source"
    matrix = result.matrix()
    assert matrix.shape == (2, 2) and [r["source"] for r in result.results] == ["cnn", "meso4"]
    for i, r in enumerate(result.results):
        assert r["target_order"] == ["cnn", "meso4"] and r["kind"] == "transfer"
        assert [r["targets"][t]["white_box"] for t in r["target_order"]] == [i == 0, i == 1]
        for t in r["target_order"]:
            e = r["targets"][t]
            assert e["n_videos"] == len(refs) and len(e["checkpoint_sha256"]) == 64
            assert e["auroc_drop"] == pytest.approx(e["auroc_clean"] - e["auroc_adv"])
            assert len(e["auroc_adv_ci"]) == 2 and len(e["auroc_clean_ci"]) == 2
        assert r["source_checkpoint_sha256"] == r["targets"][r["source"]]["checkpoint_sha256"]
        assert r["crafted_at"]["resolution"] == [256, 256] and r["quantized"] is True
        for key in ("code_version", "libraries", "device", "split_manifest_hash", "attack_config"):
            assert r[key], key
        assert r["attack_config"]["seed"] == 0 and r["attack_config"]["steps"] == STEPS
        assert Path(result.paths[i]).parent.name == "transfer"
        assert Path(result.paths[i]).name == f"{r['source']}--pgd-eps4of255.json"

        # White-box, computed here on the same stored examples: the source scores them itself.
        source = create_detector(r["source"], checkpoint=config.checkpoints[r["source"]])
        stored = _stored(config, r)
        labels, scores = [], []
        for ref in refs:
            x, meta = stored[ref.video_id]
            assert meta["label"] == ref.label and meta["source"] == r["source"]
            images = resize_crops(x, source.spec.input_size)
            t = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 255
            with torch.no_grad():
                scores.append(float(source(t).softmax(1)[:, 1].double().mean()))
            labels.append(ref.label)
        assert matrix[i, i] == pytest.approx(roc_auc_score(labels, scores), abs=1e-9)
        rows = (Path(result.paths[i]).with_suffix(".videos.csv")).read_text().splitlines()
        assert rows[0] == "video_id,label,cnn_clean,cnn_adv,meso4_clean,meso4_adv"
        adv = {row.split(",")[0]: float(row.split(",")[2 + 2 * i + 1]) for row in rows[1:]}
        assert [adv[ref.video_id] for ref in refs] == pytest.approx(scores, abs=2e-6)


def test_stored_examples_are_uint8_within_budget_of_the_clean_crops(
    first: tuple[TransferConfig, TransferResult, list[int]],
) -> None:
    from harness.stream import CropReader

    config, result, _ = first
    prep = prepare_dataset(config.data, progress=False)
    refs = _refs(config)
    reader = CropReader(prep, [r.video_id for r in refs])
    for r in result.results:
        stored = _stored(config, r)
        assert sorted(stored) == sorted(ref.video_id for ref in refs)
        changed = 0
        for ref in refs:
            x, meta = stored[ref.video_id]
            clean = reader.crops(ref.video_id)[list(ref.crops)]
            assert x.dtype == np.uint8 and x.shape == clean.shape == (len(ref.crops), 256, 256, 3)
            diff = np.abs(x.astype(np.int16) - clean.astype(np.int16))
            assert diff.max() <= 4, "4/255: at most 4 levels of 255 from the clean crop"
            changed += int(diff.any(axis=(1, 2, 3)).sum())
            assert max(meta["linf"]) <= 4 / 255 + 1e-6 and meta["store_key"] == r["store"]["key"]
        assert changed == sum(len(ref.crops) for ref in refs), "every crop was perturbed"
        assert r["perturbation"]["linf_max"] <= 4 / 255 + 1e-6
        assert r["perturbation"]["queries"] == STEPS * r["perturbation"]["n_samples"]


def test_a_second_run_reuses_the_store_and_does_no_attack_work(
    first: tuple[TransferConfig, TransferResult, list[int]],
) -> None:
    config, result, _ = first
    calls: list[int] = []
    again = transfer(config, progress=False, calls=calls)
    assert calls == [], "no attack call the second time"
    for before, after in zip(result.results, again.results, strict=True):
        assert after["store"]["key"] == before["store"]["key"]
        assert after["store"]["crafted"] == 0 and after["store"]["reused"] == after["store"]["videos"]
        assert before["store"]["crafted"] == before["store"]["videos"] and before["store"]["reused"] == 0
        assert after["perturbation"]["attack_seconds_this_run"] == 0
        assert {k: v for k, v in after["perturbation"].items() if k != "attack_seconds_this_run"} == {
            k: v for k, v in before["perturbation"].items() if k != "attack_seconds_this_run"
        }
    np.testing.assert_array_equal(again.matrix(), result.matrix())


def test_the_store_key_changes_with_the_attack_settings_and_the_source_checkpoint(
    first: tuple[TransferConfig, TransferResult, list[int]], tmp_path: Path
) -> None:
    config, result, _ = first
    spec = {"name": "cnn", "input_size": [32, 32]}
    attack = {"eps": 4 / 255, "seed": 0, "steps": 2}
    base = store_key("a" * 64, spec, "pgd", attack, "cpu")
    assert base == store_key("a" * 64, dict(spec), "pgd", dict(attack), "cpu")
    assert base != store_key("b" * 64, spec, "pgd", attack, "cpu")
    assert base != store_key("a" * 64, spec, "pgd", {**attack, "seed": 1}, "cpu")
    assert base != store_key("a" * 64, spec, "pgd", {**attack, "eps": 2 / 255}, "cpu")

    # In a run: another budget, and the same weights in another checkpoint file, are crafted anew.
    cnn_key = result.results[0]["store"]["key"]
    one = {"sources": ["cnn"], "store_dir": config.store_dir}
    calls: list[int] = []
    other = transfer(_config(config.data, dict(config.checkpoints), tmp_path / "a", **one, sets=["attack_options.eps=2/255"]), progress=False, calls=calls)  # fmt: skip
    assert other.results[0]["store"]["key"] != cnn_key and other.results[0]["store"]["crafted"] == 4 and calls
    assert other.results[0]["budget_tag"] == "eps2of255"
    ckpt = load_checkpoint(config.checkpoints["cnn"])
    from harness.detectors import create_detector

    copy = save_checkpoint(
        tmp_path / "cnn-copy.pt",
        create_detector("cnn", checkpoint=config.checkpoints["cnn"]),
        meta={**ckpt.meta, "note": "same weights, another file"},
    )
    models = {**config.checkpoints, "cnn": str(copy)}
    again = transfer(_config(config.data, models, tmp_path / "b", **one), progress=False)
    assert again.results[0]["store"]["key"] != cnn_key and again.results[0]["store"]["crafted"] == 4


def test_the_leaderboard_shows_the_matrix_as_a_heat_map_and_keeps_it_out_of_the_tables(
    first: tuple[TransferConfig, TransferResult, list[int]],
) -> None:
    from harness.leaderboard import load_results, load_transfer, render

    config, result, _ = first
    results_dir, lb = Path(config.results_dir), Path(config.leaderboard_dir)
    assert load_results(results_dir) == [], "transfer results are not leaderboard rows"
    assert len(load_transfer(results_dir)) == 2
    page = (lb / "index.html").read_text()
    assert page.count('<table class="heat"') == 1 and 'id="board"' in page
    assert page.count('class="num diag"') == 2, "the white-box diagonal is marked"
    assert "table.heat td.diag" in page, "the heat map's style comes with it"
    heat = page[page.index('<table class="heat"') :]
    assert heat.count("background:hsl(") == 2 + 4, "the clean row and every cell are coloured"
    m = result.matrix()
    assert f">{m[0, 1]:.3f}" in heat and f">{m[1, 0]:.3f}" in heat
    md = (lb / "leaderboard.md").read_text()
    assert "## Transfer: attacked AUROC, source (rows) x target (columns)" in md
    assert f"| cnn | **{m[0, 0]:.3f}" in md
    lines = (lb / "transfer.csv").read_text().splitlines()
    assert len(lines) == 1 + 4 and lines[1].startswith("synthetic,pgd,eps4of255,cnn,cnn,true,")
    assert render(results_dir).transfer_csv == (lb / "transfer.csv").read_text()


def test_cli_end_to_end(
    tiny: tuple[DataConfig, Path], models: dict[str, str], tmp_path: Path, capsys: Any
) -> None:
    data, _ = tiny
    argv = [
        "transfer", "--source", "cnn", "--targets", "meso4,cnn", "--attack", "fgsm", "-q", "--workers", "0",
        "--cache-dir", str(data.cache_dir), "--set", "dataset.size=tiny", "--set", "faces.detector=haar",
        "--set", "faces.num_frames=8", "--set", f"checkpoints.cnn={models['cnn']}",
        "--set", f"checkpoints.meso4={models['meso4']}", "--set", "attack.eps=[2/255,4/255]",
        "--set", f"results_dir={tmp_path / 'r'}", "--set", f"leaderboard_dir={tmp_path / 'lb'}",
        "--set", f"store_dir={tmp_path / 's'}", "--set", "n_boot=50",
    ]  # fmt: skip
    assert main(argv) == 0
    assert (tmp_path / "lb" / "transfer.csv").is_file(), "the CLI regenerates the leaderboard"
    out = capsys.readouterr().out
    assert "fgsm eps2of255" in out and "fgsm eps4of255" in out and "store: 4 videos crafted" in out
    for tag in ("eps2of255", "eps4of255"):
        saved = json.loads((tmp_path / "r" / "synthetic" / "transfer" / f"cnn--fgsm-{tag}.json").read_text())
        assert saved["target_order"] == ["meso4", "cnn"] and saved["targets"]["cnn"]["white_box"]
        assert saved["config"]["store_dir"] == "s", "no absolute path of the machine"
    assert main(argv) == 0
    assert "store: 0 videos crafted, 4 reused" in capsys.readouterr().out


def test_resize_matrix_is_the_crop_resize() -> None:
    from harness.faces import resize_crops

    x = np.random.default_rng(0).integers(0, 256, (2, 256, 256, 3), dtype=np.uint8)
    t = torch.from_numpy(x).permute(0, 3, 1, 2).double() / 255
    for size, tol in ((32, 0.5), (100, 0.5), (299, 0.8)):
        a = resize_matrix(256, size)
        ours = (a @ t @ a.T).permute(0, 2, 3, 1).numpy() * 255
        assert np.abs(ours - resize_crops(x, (size, size))).max() <= tol + 1e-3, size


def test_committed_transfer_csv_is_current() -> None:
    """``leaderboards/transfer.csv`` is generated from the committed ``results/`` like the rest."""
    from harness.leaderboard import render

    expected = render(REPO_ROOT / "results").transfer_csv
    path = REPO_ROOT / "leaderboards" / "transfer.csv"
    assert (path.read_text() if path.is_file() else "") == expected
