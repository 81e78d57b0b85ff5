"""The pipeline threat model: full frames attacked, re-encoded for real, faces re-detected, scored."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from harness import workflow
from harness.pipeline import FrameToFace, box_iou, crop_faces_torch, crop_geometry
from harness.runner import RunConfig
from harness.threat import ThreatConfig, member_threat
from harness.video import deliver, encode_video, fidelity, read_frames_at, read_video


def _run(tiny: Any, tmp_path: Path, **over: Any) -> Any:
    data, ckpt = tiny
    config = RunConfig(
        detector="cnn",
        checkpoint=str(ckpt),
        attack=over.pop("attack", "pgd"),
        attack_options=over.pop("attack_options", {"eps": 8 / 255, "steps": 5}),
        data=data,
        n_boot=50,
        workers=0,
        results_dir=str(tmp_path / "results"),
        leaderboard_dir=str(tmp_path / "lb"),
        **over,
    )
    (run,) = workflow.run(config, progress=False)
    return run


def _videos(run: Any) -> list[dict[str, str]]:
    with open(run.path.with_suffix(".videos.csv")) as f:
        return list(csv.DictReader(f))


def test_lossless_delivery_reproduces_the_harness_scores_exactly(tiny: Any, tmp_path: Path) -> None:
    """The defender's path (decode, detect, crop, resize, score) is the harness's own: an
    unattacked video through a lossless codec scores exactly its cached clean score."""
    run = _run(tiny, tmp_path, threat=ThreatConfig(model="pipeline", crf="lossless"))
    rows = _videos(run)
    assert rows and all(abs(float(r["codec_score"]) - float(r["clean_score"])) < 1e-6 for r in rows)
    m = run.result["metrics"]
    assert m["auroc_codec"] == pytest.approx(m["auroc_clean"])
    assert run.result["budget_tag"] == "eps8of255+pipeline-lossless"
    assert run.result["threat"] == "pipeline" and run.result["threat_config"]["crf"] == "lossless"
    # lossless: the delivered frames are exactly the attacker's 8-bit frames, inside the budget
    assert m["linf_delivered_max"] <= 8 / 255 + 1e-6
    assert m["linf_max"] <= 8 / 255 + 1e-6


def test_pipeline_attack_is_scored_on_the_re_encoded_re_detected_video(tiny: Any, tmp_path: Path) -> None:
    from harness.faces import FaceConfig
    from harness.predict import predict

    data, ckpt = tiny
    adv_dir = tmp_path / "delivered"
    run = _run(
        tiny,
        tmp_path,
        attack_options={"eps": 8 / 255, "steps": 5, "target": "fake"},
        threat=ThreatConfig(model="pipeline", crf=23),
        save_adversarial=str(adv_dir),
    )
    r, m = run.result, run.result["metrics"]
    assert r["budget_tag"] == "eps8of255+pipeline-crf23" and r["threat"] == "pipeline"
    assert m["faces_sampled"] > 0 and 0 <= m["faces_lost"] <= m["faces_sampled"]
    assert 0 <= m["faces_moved"] <= m["faces_sampled"] and m["face_iou_mean"] > 0.5
    assert 25 < m["psnr_video_mean"] < 60 and m["video_bytes_mean"] > 0
    rows = _videos(run)
    fakes = [r for r in rows if r["label"] == "1"]
    reals = [r for r in rows if r["label"] == "0"]
    # target=fake: the attacked fakes score lower than the same videos through the codec alone;
    # the reals are delivered through the same codec untouched
    assert np.mean([float(r["adv_score"]) for r in fakes]) < np.mean([float(r["codec_score"]) for r in fakes])
    assert all(abs(float(r["adv_score"]) - float(r["codec_score"])) < 1e-6 for r in reals)
    # the delivered files are what was scored: `harness predict` on one gives its recorded score
    files = sorted((adv_dir / "fake").glob("*.mp4"))
    assert len(files) == len(fakes) and len(list((adv_dir / "real").glob("*.mp4"))) == len(reals)
    recorded = {r["video_id"]: float(r["adv_score"]) for r in rows}
    vid = next(v for v in recorded if v.replace("/", "__") == files[0].stem)
    faces = FaceConfig(detector=data.faces.detector, num_frames=data.faces.num_frames)
    p = predict(files[0], "cnn", str(ckpt), faces, "cpu")
    assert p.probability == pytest.approx(recorded[vid], abs=0.02)


def test_pipeline_runs_resume_and_refuse_what_they_cannot_do(tiny: Any, tmp_path: Path) -> None:
    threat = ThreatConfig(model="pipeline", crf=30)
    first = _run(tiny, tmp_path, threat=threat)
    again = _run(tiny, tmp_path, threat=threat)  # same run key: reported as finished
    assert again.result["run_key"] == first.result["run_key"]
    assert again.result["created"] == first.result["created"]
    with pytest.raises(ValueError, match="re-encodes"):
        _run(tiny, tmp_path, attack_options={"eps": 4 / 255, "post": "jpeg:75"}, threat=threat)
    with pytest.raises(ValueError, match="crf"):
        ThreatConfig(model="pipeline", crf=60)
    with pytest.raises(ValueError, match="threat"):
        ThreatConfig(model="video")
    assert member_threat({"threat": "pipeline"}).pipeline
    assert (
        member_threat({"threat": {"model": "pipeline", "crf": 30}}, ThreatConfig()).tag() == "+pipeline-crf30"
    )
    assert member_threat({}, threat) == threat


def test_differentiable_crop_matches_the_cached_crop_and_guards_the_detector(tiny: Any) -> None:
    from harness.data import prepare_dataset
    from harness.detectors import create_detector
    from harness.faces import crops_to_tensor
    from harness.stream import CropReader

    data, ckpt = tiny
    prep = prepare_dataset(data, progress=False)
    vid, track = next((v, t) for v, t in prep.report.tracks.items() if t.ok)
    frames, _ = read_video(prep.index.abspath(prep.index.by_id()[vid]))
    geoms = torch.tensor([crop_geometry(b, data.faces.margin) for b in track.boxes])
    x = torch.from_numpy(frames[track.frame_indices]).permute(0, 3, 1, 2).float().div(255)
    cached = crops_to_tensor(CropReader(prep, [vid]).crops(vid), (32, 32))
    ours = crop_faces_torch(x, geoms, data.faces.crop_size, (32, 32))
    assert (ours - cached).abs().max() < 3 / 255  # the cv2 path within rounding (uint8 steps)

    detector = create_detector("cnn", checkpoint=str(ckpt)).eval()
    wrapper = FrameToFace(detector, tuple(frames.shape[1:3]), geoms, data.faces.crop_size)
    assert not wrapper.training, "the wrapper mirrors the detector's mode (attacks restore it)"
    xg = x.clone().requires_grad_(True)
    wrapper(xg)[:, 1].sum().backward()
    grad = xg.grad.abs().sum(dim=1)  # (n, H, W)
    for g, (left, top, side) in zip(grad, geoms.tolist(), strict=True):
        outside = torch.ones_like(g, dtype=torch.bool)
        outside[max(0, top) : top + side, max(0, left) : left + side] = False
        assert g.sum() > 0 and g[outside].sum() == 0  # each frame's gradient lies in its face box
    with pytest.raises(RuntimeError, match="subset"):
        wrapper(x[:1])


def test_codec_helpers(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (3, 34, 46, 3), dtype=np.uint8)
    from fractions import Fraction

    encode_video(tmp_path / "a.mp4", frames, Fraction(25), "lossless", "medium")
    back, fps = read_video(tmp_path / "a.mp4")
    assert fps == 25 and np.array_equal(back, frames)  # lossless is bit-exact
    encode_video(tmp_path / "b.mp4", frames[:, :33, :45], Fraction(25), 23, "medium")  # odd sides
    back, _ = read_video(tmp_path / "b.mp4")
    assert back.shape == (3, 34, 46, 3)
    black = np.zeros_like(frames[1])
    deliver(tmp_path / "a.mp4", tmp_path / "c.mp4", {1: black}, Fraction(25), "lossless", "medium")
    back, _ = read_video(tmp_path / "c.mp4")  # streamed re-encode: only frame 1 replaced
    assert np.array_equal(back[[0, 2]], frames[[0, 2]]) and not back[1].any()
    q = fidelity(tmp_path / "a.mp4", tmp_path / "c.mp4", [1])
    assert q.linf_attacked == pytest.approx(frames[1].max() / 255) and q.psnr < q.psnr_attacked + 5
    assert fidelity(tmp_path / "a.mp4", tmp_path / "a.mp4", [1]).psnr == float("inf")
    assert np.array_equal(read_frames_at(tmp_path / "a.mp4", [2, 0, 2]), frames[[2, 0, 2]])
    assert box_iou([0, 0, 10, 10], [0, 0, 10, 10]) == 1.0 and box_iou([0, 0, 1, 1], [2, 2, 3, 3]) == 0.0
    assert json.dumps(ThreatConfig().__dict__)


def test_a_named_row_files_a_zoo_detector_with_given_weights_apart(tiny: Any, tmp_path: Path) -> None:
    """``--name``: the published MesoNet weights get their own row beside the demo model."""
    run = _run(tiny, tmp_path, attack="fgsm", attack_options={"eps": 2 / 255}, name="cnn-tiny")
    assert run.path.parent.name == "cnn-tiny" and run.result["detector"] == "cnn-tiny"
    assert run.result["detector_spec"]["name"] == "cnn"
    assert run.result["detector_options"]["front"] == "none"  # the built model's options, recorded
    for bad in ("cnn", "a/b"):
        with pytest.raises(ValueError, match="name"):
            _run(tiny, tmp_path, attack="fgsm", attack_options={"eps": 2 / 255}, name=bad)


def _hand(key: str, adv: float, ci: float = 0.05, sha: str = "ab" * 32, **extra: Any) -> dict[str, Any]:
    attack, tag = key.split("@")
    budget = int(tag.split("of255")[0].removeprefix("eps")) / 255
    pipeline = "+pipeline-" in tag
    return {
        "schema_version": 2,
        "detector": "cnn",
        "dataset": "synthetic",
        "attack": attack,
        "budget_tag": tag,
        "budget": budget,
        "norm": "linf",
        "uses_gradients": True,
        "black_box": False,
        "attack_config": {"steps": 10},
        "threat": "pipeline" if pipeline else "crops",
        "threat_config": {"model": "pipeline", "crf": int(tag.split("crf")[1])} if pipeline else None,
        "checkpoint_sha256": sha,
        "created": "2026-12-02T10:00:00+0000",
        "metrics": {
            "auroc_clean": 1.0,
            "auroc_clean_ci": [1.0, 1.0],
            "auroc_adv": adv,
            "auroc_adv_ci": [adv - ci, adv + ci],
            "auroc_drop_ci": [1.0 - adv - ci, 1.0 - adv + ci],
            "auroc_codec": 0.97,
            "auroc_codec_ci": [0.9, 1.0],
            "faces_lost": 1,
            "faces_sampled": 256,
            "psnr_video_mean": 36.0,
            "n_videos": 16,
        },
        **extra,
    }


def test_the_leaderboard_shows_the_pipeline_threat_model_in_its_own_table(tmp_path: Path) -> None:
    from harness.leaderboard import render, threat_table

    results = [
        _hand("pgd@eps4of255", 0.6),
        _hand("pgd@eps8of255", 0.2),
        _hand("pgd@eps2of255", 0.8),  # no pipeline member at 2/255: not a column here
        _hand("fgsm@eps4of255", 0.7),
        _hand("pgd@eps4of255+pipeline-crf30", 0.85),
        _hand("pgd@eps4of255+pipeline-crf23", 0.8),
        _hand("pgd_eot@eps4of255+pipeline-crf23", 0.7),
        _hand("pgd@eps8of255+pipeline-crf23", 0.95, ci=0.02),  # above 4/255 beyond the intervals
    ]
    table = threat_table(results)
    assert table is not None
    assert [c.key for c in table.columns] == [
        "clean",
        "codec@23",
        "codec@30",
        "pgd@eps4of255",
        "pgd@eps8of255",
        "pgd@eps4of255+pipeline-crf23",
        "pgd@eps8of255+pipeline-crf23",
        "pgd@eps4of255+pipeline-crf30",
        "pgd_eot@eps4of255+pipeline-crf23",
    ]
    (row,) = table.rows
    assert (
        row.cells["codec@23"][0] == 0.97
        and "faces lost 1/256" in row.cells["pgd@eps4of255+pipeline-crf23"][2]
    )
    codes = {f["code"] for f in row.flags}
    assert "non-monotone-budget" in codes  # the stronger pipeline attack came out weaker: flagged
    # crop-level cells come from the same checkpoint only
    other = threat_table([*results[:1], _hand("pgd@eps4of255+pipeline-crf23", 0.8, sha="cd" * 32)])
    assert other is not None and "pgd@eps4of255" not in other.rows[0].cells

    folder = tmp_path / "results" / "synthetic" / "cnn"
    folder.mkdir(parents=True)
    for r in results:
        (folder / f"{r['attack']}-{r['budget_tag']}.json").write_text(json.dumps(r))
    out = render(tmp_path / "results", standard=[])
    assert "## Threats in the wild" in out.markdown and 'id="threat-table"' in out.html
    main_table = out.markdown.split("## Threats in the wild")[0]
    assert "pipeline" not in main_table.split("## AUROC under each attack")[1]  # not a main column
    assert "pgd@eps4of255+pipeline-crf23" in out.threats_csv
    assert threat_table(results[:4]) is None  # no pipeline results: no section


def test_clip_detectors_go_through_the_pipeline_too(tiny: Any, tmp_path: Path) -> None:
    """A clip detector: one clip of the sampled frames per video, every frame cropped at its own
    box; lossless delivery without an attack reproduces the clean scores exactly."""
    from harness.detectors import create_detector

    data, _ = tiny
    torch.manual_seed(0)
    model = create_detector("cnn_lstm", backbone="cnn", input_size=32, frames_per_clip=4, hidden_size=8)
    weights = tmp_path / "clip.pt"
    torch.save(model.state_dict(), weights)
    config = RunConfig(
        detector="cnn_lstm",
        checkpoint=str(weights),
        attack="pgd",
        attack_options={"eps": 8 / 255, "steps": 2},
        data=data,
        n_boot=20,
        workers=0,
        split="test",
        threat=ThreatConfig(model="pipeline", crf="lossless"),
        results_dir=str(tmp_path / "results"),
        leaderboard_dir=str(tmp_path / "lb"),
    )
    (run,) = workflow.run(config, progress=False, detector=model)
    rows = _videos(run)
    assert rows and all(abs(float(r["codec_score"]) - float(r["clean_score"])) < 1e-6 for r in rows)
    assert run.result["metrics"]["linf_delivered_max"] <= 8 / 255 + 1e-6
    assert run.result["detector_spec"]["kind"] == "clip"


def test_the_command_line_sets_the_threat_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """``--threat pipeline --set threat.crf=...`` reach the run's config (CLI > YAML > defaults)."""
    from harness import cli

    seen: list[Any] = []

    def fake_run(config: RunConfig, progress: bool = True, **_: Any) -> list[Any]:
        seen.append(config)
        return []

    monkeypatch.setattr(workflow, "run", fake_run)
    base = ["run", "--detector", "cnn", "--attack", "pgd_eot", "-q"]
    assert cli.main([*base, "--threat", "pipeline", "--set", "threat.crf=lossless"]) == 0
    assert cli.main([*base, "--threat", "pipeline", "--set", "threat.crf=30", "--name", "x1"]) == 0
    assert cli.main(base) == 0
    assert seen[0].threat == ThreatConfig(model="pipeline", crf="lossless")
    assert seen[1].threat.crf == 30 and seen[1].name == "x1"
    assert seen[2].threat == ThreatConfig()
    with pytest.raises(SystemExit):
        cli.main([*base, "--threat", "video"])
