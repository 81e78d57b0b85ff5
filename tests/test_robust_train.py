"""Adversarial training and noise augmentation in ``harness train`` (harness/robust_train.py)."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F

from harness import distributed
from harness.attacks import linf_pgd
from harness.checkpoint import load_checkpoint
from harness.robust_train import AdversarialConfig, adversarial_batch, robust_loss, start_noise
from harness.train import TrainConfig, config_hash, train, training_state_path

EPS = 8 / 255
BIN = Path(sys.executable).parent


def _model() -> torch.nn.Module:
    from harness.detectors import create_detector

    torch.manual_seed(0)
    return create_detector("cnn", input_size=32).eval()


def _batch(n: int = 6) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return torch.rand(n, 3, 32, 32, generator=g), torch.arange(n) % 2


def _config(data: Any, tmp_path: Path, **kw: Any) -> TrainConfig:
    adv = kw.pop("adversarial", {"method": "pgd", "eps": EPS, "steps": 2, "warmup_epochs": 1, "val_steps": 2})
    return TrainConfig(
        detector="cnn",
        detector_options={"input_size": 32},
        data=data,
        epochs=kw.pop("epochs", 2),
        batch_size=16,
        patience=5,
        workers=0,
        output=str(tmp_path / "robust.pt"),
        adversarial=AdversarialConfig(**adv) if adv else AdversarialConfig(),
        **kw,
    )


def test_eps_warmup_step_sizes_and_the_recorded_recipe() -> None:
    cfg = AdversarialConfig(method="pgd", eps=4 / 255, steps=5, warmup_epochs=2)
    assert [round(cfg.eps_at(s, 10) * 255, 6) for s in (0, 9, 19, 20, 100)] == [0.2, 2.0, 4.0, 4.0, 4.0]
    assert AdversarialConfig(method="pgd", warmup_epochs=0).eps_at(0, 10) == pytest.approx(4 / 255)
    assert cfg.step_size() == pytest.approx(2.5 * (4 / 255) / 5)
    assert cfg.step_size(2 / 255) == pytest.approx(2.5 * (2 / 255) / 5), "the step follows the warm-up eps"
    rs = AdversarialConfig(method="fgsm-rs", eps=8 / 255, steps=7)
    assert rs.inner_steps == 1 and rs.step_size() == pytest.approx(1.25 * 8 / 255)
    recipe = AdversarialConfig(method="trades", beta=3.0).recipe()
    assert (
        recipe["method"] == "trades" and recipe["beta"] == 3.0 and recipe["alpha"] == pytest.approx(1 / 255)
    )
    assert "eval mode" in recipe["bn"] and "robust validation" in recipe["selection"]
    assert "over 2 epochs" in recipe["schedule"]
    with pytest.raises(ValueError, match="adversarial.method"):
        AdversarialConfig(method="free")
    with pytest.raises(ValueError, match="not both"):
        TrainConfig(noise_sigma=0.25, adversarial=AdversarialConfig(method="pgd"))


@pytest.mark.parametrize("method", ["pgd", "trades", "fgsm-rs"])
def test_inner_examples_stay_in_budget_raise_their_loss_and_leave_the_model_alone(method: str) -> None:
    model, (x, y) = _model(), _batch()
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    cfg = AdversarialConfig(method=method, eps=EPS, steps=3)
    with model.range_check(False):
        adv = adversarial_batch(model, x, y, cfg, EPS, seed=5)
    assert model.training, "the model's mode is restored after the inner attack"
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items()), "BN statistics untouched"
    assert all(p.grad is None for p in model.parameters())
    assert (adv - x).abs().max() <= EPS + 1e-6 and adv.min() >= 0 and adv.max() <= 1
    assert torch.equal(adv, adversarial_batch(model, x, y, cfg, EPS, seed=5)), "seeded: reproducible"
    assert not torch.equal(adv, adversarial_batch(model, x, y, cfg, EPS, seed=6))
    model.eval()
    with torch.no_grad():
        clean, attacked = model(x), model(adv)
    if method == "trades":
        kl = F.kl_div(F.log_softmax(attacked, 1), F.softmax(clean, 1), reduction="sum")
        assert kl > 1e-6
    else:
        assert F.cross_entropy(attacked, y) > F.cross_entropy(clean, y)
    if method == "fgsm-rs":  # Wong et al.: one step of 1.25 eps from a uniform start
        noise = start_noise(cfg, x.shape, EPS, 5)
        same = linf_pgd(model, x, y, eps=EPS, alpha=1.25 * EPS, steps=1, start_noise=noise)
        assert torch.equal(adv, same)


def test_trades_objective_is_ce_plus_beta_kl() -> None:
    model, (x, y) = _model(), _batch()
    adv = (x + 0.02).clamp(0, 1)
    cfg = AdversarialConfig(method="trades", beta=6.0)
    with torch.no_grad(), model.range_check(False):
        got = robust_loss(model, x, adv, y, cfg, F.cross_entropy)
        clean, robust = model(x), model(adv)
    want = F.cross_entropy(clean, y) + 6.0 * F.kl_div(
        F.log_softmax(robust, 1), F.softmax(clean, 1), reduction="batchmean"
    )
    assert got == pytest.approx(want.item(), rel=1e-5)


def test_each_process_attacks_its_share_and_the_shares_make_the_whole_batch(monkeypatch: Any) -> None:
    """Under torchrun every process attacks a share of each batch: starts are drawn per batch, not
    per process, so the gathered shares equal one process attacking the whole batch."""
    model, (x, y) = _model(), _batch(7)
    cfg = AdversarialConfig(method="pgd", eps=EPS, steps=2)
    with model.range_check(False):
        whole = adversarial_batch(model, x, y, cfg, EPS, seed=3)
        shares = []
        for rank in range(2):
            monkeypatch.setattr(distributed, "world", lambda r=rank: distributed.World(r, 2, r))
            monkeypatch.setattr(distributed, "all_gather", lambda obj: [obj])
            shares.append(adversarial_batch(model, x, y, cfg, EPS, seed=3))
    assert [len(s) for s in shares] == [4, 3]
    torch.testing.assert_close(torch.cat(shares), whole, atol=1e-6, rtol=0)


@pytest.mark.timeout(400)  # trains small models; the tiny fixture may train first
def test_adversarial_training_records_its_recipe_and_keeps_the_most_robust_epoch(
    tiny: Any, tmp_path: Path
) -> None:
    data, _ = tiny
    config = _config(data, tmp_path, epochs=2)
    result = train(config, progress=False)
    assert [set(h) >= {"val_auroc", "val_auroc_robust", "eps"} for h in result.history] == [True, True]
    key = [(h["val_auroc_robust"], h["val_auroc"], -h["val_loss"]) for h in result.history]
    assert result.best_epoch == 1 + max(range(len(key)), key=lambda i: key[i]), "robust AUROC first"
    meta = load_checkpoint(result.checkpoint).meta
    assert meta["adversarial"]["method"] == "pgd" and meta["adversarial"]["eps"] == pytest.approx(EPS)
    assert meta["adversarial"]["steps"] == 2 and meta["val_auroc_robust"] == pytest.approx(
        result.history[result.best_epoch - 1]["val_auroc_robust"]
    )
    assert not training_state_path(result.checkpoint).exists(), "the resume state goes once training is done"
    out = subprocess.run(
        [str(BIN / "harness"), "describe", "cnn", "--checkpoint", str(result.checkpoint)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert out.returncode == 0, out.stderr
    assert "adversarial" in out.stdout and "method" in out.stdout and "pgd" in out.stdout


@pytest.mark.timeout(400)  # trains small models; the tiny fixture may train first
def test_a_killed_training_resumes_from_its_last_epoch_and_ends_identical(
    tiny: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    import harness.train as T

    data, _ = tiny
    full = train(_config(data, tmp_path / "full", epochs=2), progress=False)
    real_save = T._save_state
    calls = []

    def save_then_die(path: Path, config: TrainConfig, *a: Any, **k: Any) -> None:
        real_save(path, config, *a, **k)
        calls.append(path)
        if len(calls) == 1:
            raise KeyboardInterrupt  # killed right after epoch 1 was saved

    killed = _config(data, tmp_path / "killed", epochs=2)
    monkeypatch.setattr(T, "_save_state", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        train(killed, progress=False)
    assert training_state_path(Path(killed.output)).is_file()
    monkeypatch.setattr(T, "_save_state", real_save)
    resumed = train(killed, progress=False)
    assert resumed.history == full.history and resumed.best_epoch == full.best_epoch
    a, b = load_checkpoint(full.checkpoint).state_dict, load_checkpoint(resumed.checkpoint).state_dict
    assert all(torch.equal(a[k], b[k]) for k in a), "resumed training gives the same weights"
    other = dataclasses.replace(killed, seed=1)
    assert config_hash(other) != config_hash(killed)


@pytest.mark.timeout(400)  # trains small models; the tiny fixture may train first
def test_noise_augmented_training_records_sigma_and_default_hashes_stay(tiny: Any, tmp_path: Path) -> None:
    data, _ = tiny
    plain = _config(data, tmp_path, adversarial=None)
    from harness.train import demo_config

    # New options at their defaults leave the hash alone: cached demo models keep their names.
    assert config_hash(demo_config("cnn")) == "da7c6454f232"
    noisy = dataclasses.replace(plain, noise_sigma=0.25, epochs=1, output=str(tmp_path / "noisy.pt"))
    assert config_hash(noisy) != config_hash(plain)
    meta = load_checkpoint(train(noisy, progress=False).checkpoint).meta
    assert meta["noise_sigma"] == 0.25 and "adversarial" not in meta


def test_demo_recipes_of_robust_detectors_build() -> None:
    from harness.config import build_config
    from harness.configs import CONFIGS_DIR

    for name in ("cnn-pgdat", "resnet50-pgdat", "xception-pgdat", "cnn-trades"):
        cfg = build_config(TrainConfig, CONFIGS_DIR / "demo" / f"{name}.yaml")
        assert cfg.detector == name.split("-")[0] and cfg.adversarial.enabled
        assert cfg.adversarial.eps == pytest.approx(4 / 255)
    assert build_config(TrainConfig, CONFIGS_DIR / "demo" / "cnn-noise.yaml").noise_sigma == 0.25


@pytest.mark.timeout(600)
def test_torchrun_with_two_cpu_ranks_trains_the_same_model_as_one_process(tiny: Any, tmp_path: Path) -> None:
    data, _ = tiny

    def harness_train(out: Path, ranks: int) -> subprocess.CompletedProcess:
        cmd = [str(BIN / "harness"), "train", "--detector", "cnn", "--recipe", "none", "--adversarial", "pgd"]
        cmd += ["--cache-dir", str(data.cache_dir), "--output", str(out), "--workers", "0", "-q"]
        for item in (
            "dataset.size=tiny",
            "faces.detector=haar",
            "faces.num_frames=8",
            "detector.input_size=32",
            "epochs=2",
            "batch_size=16",
            "adversarial.eps=8/255",
            "adversarial.steps=2",
            "adversarial.warmup_epochs=1",
            "adversarial.val_steps=2",
        ):
            cmd += ["--set", item]
        if ranks > 1:
            cmd = [str(BIN / "torchrun"), f"--nproc_per_node={ranks}", "--standalone", "--no-python", *cmd]
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=550)

    one = harness_train(tmp_path / "one.pt", 1)
    two = harness_train(tmp_path / "two.pt", 2)
    assert one.returncode == 0, one.stderr[-2000:]
    assert two.returncode == 0, two.stderr[-2000:]
    assert two.stdout.count("trained cnn") == 1, "only rank 0 reports"
    a, b = load_checkpoint(tmp_path / "one.pt"), load_checkpoint(tmp_path / "two.pt")
    for key in ("val_auroc", "val_auroc_robust", "best_epoch", "test_auroc_clean"):
        assert a.meta[key] == pytest.approx(b.meta[key], abs=1e-6), key
    for k, v in a.state_dict.items():
        torch.testing.assert_close(b.state_dict[k], v, atol=1e-4, rtol=1e-4, msg=k)
