from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from harness.config import ConfigError, build_config, parse_value


@dataclass(frozen=True)
class AttackCfg:
    name: str = "pgd"
    eps: float = 8 / 255
    steps: int = 10


@dataclass(frozen=True)
class RunCfg:
    detector: str = "xception"
    seed: int = 0
    sizes: tuple[int, ...] = (1, 2)
    checkpoint: str | None = None
    attack: AttackCfg = field(default_factory=AttackCfg)


def test_precedence_cli_over_yaml_over_defaults(tmp_path: Path) -> None:
    yml = tmp_path / "run.yaml"
    yml.write_text("detector: meso4\nseed: 3\nattack:\n  steps: 20\n")
    cfg = build_config(RunCfg, yml, cli={"seed": 7}, sets=["attack.eps=4/255"])
    assert cfg.detector == "meso4"  # YAML over default
    assert cfg.seed == 7  # CLI over YAML
    assert cfg.attack.steps == 20 and cfg.attack.name == "pgd"  # nested merge keeps defaults
    assert cfg.attack.eps == pytest.approx(4 / 255)
    assert build_config(RunCfg) == RunCfg()


def test_unknown_keys_are_errors_with_a_suggestion(tmp_path: Path) -> None:
    yml = tmp_path / "run.yaml"
    yml.write_text("detectr: meso4\n")
    with pytest.raises(ConfigError, match="unknown key 'detectr'.*Did you mean 'detector'"):
        build_config(RunCfg, yml)
    with pytest.raises(ConfigError, match="unknown key 'step'"):
        build_config(RunCfg, sets=["attack.step=3"])


def test_types_are_checked_and_converted() -> None:
    assert build_config(RunCfg, sets=["sizes=[4,8]"]).sizes == (4, 8)
    assert build_config(RunCfg, sets=["attack.eps=1"]).attack.eps == 1.0
    assert build_config(RunCfg, sets=["checkpoint=null"]).checkpoint is None
    with pytest.raises(ConfigError, match="expected int"):
        build_config(RunCfg, sets=["seed=abc"])
    with pytest.raises(ConfigError, match="--set expects key=value"):
        build_config(RunCfg, sets=["seed"])


def test_bad_yaml_names_the_file(tmp_path: Path) -> None:
    yml = tmp_path / "bad.yaml"
    yml.write_text("a: [1, 2\n")
    with pytest.raises(ConfigError, match="bad.yaml"):
        build_config(RunCfg, yml)
    with pytest.raises(ConfigError, match="not found"):
        build_config(RunCfg, tmp_path / "missing.yaml")


def test_parse_value() -> None:
    assert parse_value("8/255") == pytest.approx(8 / 255)
    assert parse_value("[1/255, 2/255]") == pytest.approx([1 / 255, 2 / 255])
    assert parse_value("true") is True and parse_value("x") == "x"
    assert parse_value("3e-4") == pytest.approx(3e-4) and parse_value("[1e-3]") == [1e-3]
