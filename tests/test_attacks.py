"""Attacks: every registered attack through the conformance checks (:mod:`conformance`: the
contract, its effect on a tiny trained detector, clips, reproducibility, target selection,
integrity), then sanity relations between attacks, configs and input errors.

Parametrized over the registry: a new attack is tested by being registered.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from conformance import ATTACK_CHECKS, ce, check_ids
from tiny import auroc, faces, matched_detector, trained_detector

from harness.attacks import ATTACKS, create_attack
from harness.attacks._base import Attack, AttackConfig, AttackError, AttackModel
from harness.config import ConfigError

NAMES = ATTACKS.names()

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("check", ATTACK_CHECKS, ids=check_ids(ATTACK_CHECKS))
@pytest.mark.parametrize("name", NAMES)
def test_attack_conforms(name: str, check: Callable[[str, Path], None], tmp_path: Path) -> None:
    check(name, tmp_path)


# -- configs and CLI ---------------------------------------------------------------------------------
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
