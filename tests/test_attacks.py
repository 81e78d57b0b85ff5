"""Attacks: the contract of every registered attack, its effect on a tiny trained detector, clips,
reproducibility, target selection, sanity relations between attacks, and input errors.

Parametrized over the registry: a new attack is tested by being registered. ``FAST`` holds
settings that keep an attack quick here; ``EFFECTIVE`` budgets where the defaults are tuned for
224-px detectors and thousands of queries rather than a 16x16 toy.
"""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from tiny import (
    FAST_ATTACKS,
    auroc,
    clips,
    faces,
    matched_clip_detector,
    matched_detector,
    p_fake,
    tiny_clip_detector,
    trained_detector,
)

from harness.attacks import ATTACKS, create_attack
from harness.attacks._base import Attack, AttackConfig, AttackError, AttackModel
from harness.config import ConfigError, build_config
from harness.detectors._base import Detector

REPO_ROOT = Path(__file__).resolve().parent.parent
NAMES = ATTACKS.names()

FAST = FAST_ATTACKS
EFFECTIVE: dict[str, dict[str, Any]] = {
    "square": {"n_queries": 300, "eps": "8/255"},
    # One perturbation for all: it can push the fakes toward "real" (its default), not both ways.
    "uap": {"target": "fake", "epochs": 10},
    # A decision-based attack stops just across the decision boundary; rounding to 8 bits can
    # pull such points back (the harness reports that honestly): here the float case is tested.
    "hopskipjump": {"max_iter": 10, "max_eval": 100, "init_eval": 20, "eps": 1.0, "quantize": False},
}
# Minimal-perturbation attacks return a sample unchanged unless they flip its label.
MINIMAL = {"cw", "hopskipjump"}
STRONG: dict[str, dict[str, Any]] = {  # perturbations at settings that must change the scores
    "jpeg": {"quality": 5},
    "h264": {"crf": 51},
    "blur": {"sigma": 2.0},
    "noise": {"sigma": 0.3},
    "resize": {"scale": 0.25},
}


pytestmark = pytest.mark.usefixtures("one_thread")


def make(name: str, **settings: Any) -> Attack:
    return create_attack(name, **{**FAST.get(name, {}), **settings})


def is_adversarial(attack: Attack) -> bool:
    return attack.uses_gradients or attack.black_box


def assert_contract(attack: Attack, x: torch.Tensor, x_adv: torch.Tensor) -> None:
    assert x_adv.shape == x.shape and x_adv.dtype == x.dtype and x_adv.device == x.device
    assert torch.isfinite(x_adv).all() and x_adv.min() >= 0 and x_adv.max() <= 1
    delta = (x_adv - x).flatten(1)
    if attack.norm == "linf":
        assert delta.abs().amax(dim=1).max() <= attack.eps + 1e-6
    elif attack.norm == "l2":
        assert delta.norm(dim=1).max() <= attack.eps + 1e-4


def ce(detector: Detector, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return F.cross_entropy(detector(x), y, reduction="none")


# -- registry, configs, CLI ------------------------------------------------------------------------
def test_all_attacks_registered_with_their_file_name() -> None:
    expected = {"fgsm", "pgd", "pgdl2", "mifgsm", "apgd", "cw", "square", "hopskipjump"}
    expected |= {"jpeg", "h264", "blur", "noise", "resize"}
    assert expected <= set(NAMES)
    for name in NAMES:
        cls = ATTACKS.get(name)
        assert issubclass(cls, Attack) and cls.name == name
        assert cls.__module__ == f"harness.attacks.{name}"  # file name = registry key
        assert cls.norm in ("linf", "l2", None)
        assert isinstance(cls.uses_gradients, bool) and isinstance(cls.black_box, bool)
        assert dataclasses.is_dataclass(cls.Config) and cls.Config.__dataclass_params__.frozen
        assert ("eps" in {f.name for f in dataclasses.fields(cls.Config)}) == (cls.norm is not None)
        assert ATTACKS.description(name)


@pytest.mark.parametrize("name", NAMES)
def test_yaml_holds_the_defaults(name: str) -> None:
    cls = ATTACKS.get(name)
    path = REPO_ROOT / "configs" / "attacks" / f"{name}.yaml"
    assert path.is_file(), f"missing {path}"
    assert build_config(cls.Config, path) == cls.Config()
    assert create_attack(name, path).config == cls.Config()


def test_settings_accept_fractions_and_reject_unknown_keys() -> None:
    assert create_attack("pgd", eps="8/255").config.eps == pytest.approx(8 / 255)
    with pytest.raises(ConfigError, match="Did you mean 'steps'"):
        create_attack("pgd", step=3)
    with pytest.raises(ConfigError, match="target"):
        create_attack("fgsm", target="fakes")
    with pytest.raises(ConfigError, match="eps"):
        create_attack("fgsm", eps=-0.1)
    with pytest.raises(ValueError, match="L-inf eps"):
        create_attack("pgd", eps=2.0)


def test_create_attack_precedence(tmp_path: Path) -> None:
    yml = tmp_path / "pgd.yaml"
    yml.write_text("eps: 8/255\nsteps: 3\n")
    attack = create_attack("pgd", yml, steps=5)
    assert attack.config.eps == pytest.approx(8 / 255) and attack.config.steps == 5
    assert attack.config.alpha is None and attack.alpha == pytest.approx(8 / 255 / 4)  # follows eps


def test_harness_ls_attacks_lists_them_all(capsys: pytest.CaptureFixture[str]) -> None:
    from harness.cli import main

    assert main(["ls", "attacks"]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert listed == NAMES


# -- the contract, for every attack --------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_contract_budget_range_mode_grads(name: str) -> None:
    det = trained_detector()
    det.train()
    det.model.head.eval()  # a mixed state must come back exactly
    frozen = det.model.features[0].bias
    frozen.requires_grad_(False)
    x, y = faces(16, seed=3)
    attack = make(name)
    result = attack(det, x, y)
    assert_contract(attack, x, result.x_adv)
    assert det.training and det.model.features.training and not det.model.head.training
    assert all(p.grad is None for p in det.parameters())
    assert not frozen.requires_grad
    assert all(p.requires_grad for p in det.parameters() if p is not frozen)
    assert det.check_range
    assert result.attacked.all() and result.seconds > 0
    assert (result.queries > 0) == is_adversarial(attack)
    assert torch.allclose(result.linf, (result.x_adv - x).flatten(1).abs().amax(dim=1))
    if is_adversarial(attack):
        assert (result.x_adv != x).any()


@pytest.mark.parametrize("name", NAMES)
def test_non_contiguous_input_is_accepted(name: str) -> None:
    # Crops come from HWC arrays: a permuted (channels-last) batch must work with every attack.
    det = trained_detector()
    x, y = faces(4, seed=5)
    x_cl = x.contiguous(memory_format=torch.channels_last)
    assert not x_cl.is_contiguous()
    result = make(name)(det, x_cl, y)
    assert_contract(make(name), x, result.x_adv)


@pytest.mark.parametrize("kind", ["frame", "clip"])
@pytest.mark.parametrize("name", NAMES)
def test_lowers_auroc(name: str, kind: str) -> None:
    if kind == "frame":
        det, (x, y) = trained_detector(), faces(16, seed=5)
    else:
        det, (x, y) = matched_clip_detector(frames=3), clips(8, frames=3, seed=5)
    clean = auroc(det, x, y)
    assert clean > 0.99
    attack = make(name, **EFFECTIVE.get(name, {}))
    result = attack(det, x, y)
    attacked = auroc(det, result.x_adv, y)
    if is_adversarial(attack):
        assert attacked <= clean - 0.5, f"{name}: AUROC {clean:.3f} -> {attacked:.3f}"
        assert ce(det, result.x_adv, y).mean() > ce(det, x, y).mean()
    else:
        assert attacked <= clean + 1e-9
        strong = make(name, **STRONG.get(name, {}))(det, x, y).x_adv
        assert (p_fake(det, strong) - p_fake(det, x)).abs().mean() > 0.05


@pytest.mark.parametrize("name", NAMES)
def test_reproducible_from_seed_without_touching_global_rng(name: str) -> None:
    det = trained_detector()
    x, y = faces(8, seed=7)
    torch_state, np_state, py_state = torch.get_rng_state(), np.random.get_state(), random.getstate()
    a = make(name, seed=1)(det, x, y).x_adv
    b = make(name, seed=1)(det, x, y).x_adv
    assert torch.equal(a, b)
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert np.array_equal(np.random.get_state()[1], np_state[1]) and random.getstate() == py_state
    attack = make(name, seed=2)
    if attack.randomized:
        assert not torch.equal(attack(det, x, y).x_adv, a)


@pytest.mark.parametrize("name", NAMES)
def test_target_selects_samples(name: str) -> None:
    det = trained_detector()
    x, y = faces(8, seed=9)
    for target, label in (("fake", 1), ("real", 0)):
        result = make(name, target=target)(det, x, y)
        untouched = y != label
        assert torch.equal(result.x_adv[untouched], x[untouched])  # bit-identical
        assert torch.equal(result.attacked, y == label)
        assert (result.x_adv[~untouched] != x[~untouched]).any()


@pytest.mark.parametrize("name", NAMES)
def test_clip_detector(name: str) -> None:
    det = tiny_clip_detector(frames=3)
    det.train()
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(4, 3, 3, 16, 16, generator=gen).mul(255).round().div(255)  # 8-bit, as decoded
    y = torch.tensor([0, 1, 0, 1])
    attack = make(name)
    result = attack(det, x, y)
    assert_contract(attack, x, result.x_adv)  # budget per clip
    assert det.training and all(p.grad is None for p in det.parameters())
    det.eval()  # no dropout when scoring
    if is_adversarial(attack):
        before, after = ce(det, x, y), ce(det, result.x_adv, y)
        assert (after >= before - 1e-5).all()
        if attack.uses_gradients and name not in MINIMAL:
            assert after.mean() > before.mean()


@pytest.mark.parametrize("name", [n for n in NAMES if ATTACKS.get(n).norm is None])
def test_perturbations_do_not_depend_on_the_rest_of_the_batch(name: str) -> None:
    attack = make(name)
    if attack.randomized:
        pytest.skip("randomized: the noise drawn depends on the batch shape")
    det = trained_detector()
    x, y = faces(6, seed=29)
    assert torch.equal(attack(det, x, y).x_adv[:2], attack(det, x[:2], y[:2]).x_adv)


# -- sanity relations ------------------------------------------------------------------------------------
def test_pgd_is_not_weaker_than_fgsm() -> None:
    det = trained_detector()
    x, y = faces(32, seed=11)
    fgsm = create_attack("fgsm", eps="2/255")(det, x, y).x_adv
    pgd = create_attack("pgd", eps="2/255", alpha="0.5/255", steps=20)(det, x, y).x_adv
    assert ce(det, pgd, y).mean() >= ce(det, fgsm, y).mean()
    assert auroc(det, pgd, y) <= auroc(det, fgsm, y) + 1e-9


@pytest.mark.parametrize("make_detector", [trained_detector, matched_detector])
def test_huge_budget_drives_auroc_to_zero(make_detector: Any) -> None:
    det = make_detector()
    x, y = faces(16, seed=13)
    assert auroc(det, x, y) > 0.99
    x_adv = create_attack("pgd", eps=1.0, alpha=0.1, steps=20)(det, x, y).x_adv
    assert auroc(det, x_adv, y) < 0.02


def test_random_sign_noise_hurts_far_less_than_pgd() -> None:
    det = trained_detector()
    x, y = faces(32, seed=15)
    eps = 4 / 255
    gen = torch.Generator().manual_seed(0)
    signs = torch.randint(0, 2, x.shape, generator=gen).float() * 2 - 1
    noisy = (x + eps * signs).clamp(0, 1)
    pgd = create_attack("pgd", eps=eps)(det, x, y).x_adv
    assert auroc(det, noisy, y) > 0.9 and auroc(det, pgd, y) < 0.1


def test_queries_count_forward_passes_per_sample() -> None:
    det = trained_detector()
    x, y = faces(6, seed=17)
    assert create_attack("fgsm")(det, x, y).queries == 6
    assert create_attack("pgd", steps=7)(det, x, y).queries == 42
    assert create_attack("pgd", steps=7, target="fake")(det, x, y).queries == 21
    assert create_attack("jpeg")(det, x, y).queries == 0


def test_parameter_free_detector_and_no_grad_context() -> None:
    det = matched_detector()
    assert not list(det.parameters())
    x, y = faces(8, seed=19)
    with torch.no_grad():  # gradient attacks still get their gradients
        result = create_attack("pgd")(det, x, y)
    assert auroc(det, result.x_adv, y) < 0.1


def test_no_samples_selected_returns_the_input() -> None:
    det = trained_detector()
    x, _ = faces(4, seed=21)
    result = create_attack("pgd", target="fake")(det, x, torch.zeros(4, dtype=torch.long))
    assert torch.equal(result.x_adv, x) and result.queries == 0 and not result.attacked.any()


# -- errors ------------------------------------------------------------------------------------------------
def test_invalid_inputs_get_clear_errors() -> None:
    det = trained_detector()
    x, y = faces(4, seed=23)
    attack = create_attack("fgsm")
    with pytest.raises(ValueError, match=r"\[0,1\]"):
        attack(det, x * 2, y)
    with pytest.raises(ValueError, match=r"\[0,1\]"):
        attack(det, torch.where(x > 0.5, float("nan"), x), y)
    with pytest.raises(TypeError, match="float"):
        attack(det, (x * 255).to(torch.uint8), y)
    with pytest.raises(ValueError, match=r"\(N,3,H,W\)"):
        attack(det, x.unsqueeze(1), y)
    with pytest.raises(ValueError, match="0 \\(real\\) or 1 \\(fake\\)"):
        attack(det, x, torch.tensor([0, 1, 2, 1]))
    with pytest.raises(TypeError, match="integer tensor"):
        attack(det, x, y.float())
    with pytest.raises(ValueError, match="shape"):
        attack(det, x, y[:3])
    with pytest.raises(TypeError, match="Detector"):
        attack(torch.nn.Identity(), x, y)


@dataclasses.dataclass(frozen=True)
class _BadConfig(AttackConfig):
    eps: float = 4 / 255
    mode: str = "raise"


class _Bad(Attack):
    """A broken attack (not registered) to test the base's checks and clean-up."""

    name = "bad"
    Config = _BadConfig
    norm = "linf"
    uses_gradients = True

    def run(self, model: AttackModel, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        model(x)
        mode = self.config.mode
        if mode == "raise":
            raise RuntimeError("boom")
        if mode == "budget":
            return (x + 2 * self.config.eps).clamp(0, 1)
        if mode == "range":
            return x + 1.0
        if mode == "nan":
            return torch.full_like(x, float("nan"))
        return x[:1]


def test_state_restored_when_an_attack_raises() -> None:
    det = trained_detector()
    det.train()
    x, y = faces(4, seed=25)
    state = torch.get_rng_state()
    with pytest.raises(RuntimeError, match="boom"):
        _Bad(mode="raise")(det, x, y)
    assert det.training and det.check_range
    assert all(p.requires_grad and p.grad is None for p in det.parameters())
    assert torch.equal(torch.get_rng_state(), state)


@pytest.mark.parametrize(
    ("mode", "message"),
    [("budget", "linf budget"), ("range", "outside"), ("nan", "outside"), ("shape", "shape")],
)
def test_output_violations_raise(mode: str, message: str) -> None:
    det = trained_detector()
    x, y = faces(4, seed=27)
    with pytest.raises(AttackError, match=message):
        _Bad(mode=mode)(det, x, y)
