"""A bad configuration value ends in one line that names where it came from, never a traceback.

Every case goes through ``harness.cli.main`` as a user would, with the heavy steps (training a
demo model, preparing data, crafting) replaced by a failure: a bad value must be refused before
any of them starts.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cli import main


@pytest.fixture(autouse=True)
def no_heavy_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any step that would train, prepare data, evaluate or submit fails the test."""

    def heavy(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("heavy work started before the configuration was validated")

    monkeypatch.delenv("HARNESS_DEBUG", raising=False)
    monkeypatch.setattr("harness.workflow.ensure_detector", heavy)
    monkeypatch.setattr("harness.data.prepare_dataset", heavy)
    monkeypatch.setattr("harness.train.train", heavy)
    monkeypatch.setattr("harness.submit.submit", heavy)
    monkeypatch.setattr("harness.explain.explain", heavy)


def error_line(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    """Run ``harness argv``; assert exit 2 and exactly one ``harness: error:`` line; return it."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("harness: error: "), err
    return lines[0]


# Every command that takes --set, with the arguments it needs to get that far.
COMMANDS = {
    "run": ["run"],
    "certify": ["certify"],
    "train": ["train"],
    "transfer": ["transfer"],
    "check": ["check", "--baseline", "baseline.json"],
    "submit": ["submit", "--model", "m.py:build", "--checkpoint", "m.pt", "--name", "mine"],
    "explain": ["explain", "video.mp4"],
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("value", ["4/0", "[1/255,4/0]"])
def test_a_zero_denominator_in_set_names_the_set_item(
    capsys: pytest.CaptureFixture[str], command: str, value: str
) -> None:
    line = error_line(capsys, [*COMMANDS[command], "--set", f"attack.eps={value}"])
    assert f"--set attack.eps={value}" in line  # as the user typed it, not attack_options.eps
    assert "4/0" in line and "zero" in line


def test_a_wrong_type_from_set_names_the_set_item_not_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    line = error_line(capsys, ["run", "--set", "seed=abc"])
    assert "--set seed=abc" in line and "expected int" in line
    assert "defaults" not in line
    line = error_line(capsys, ["run", "--set", "data.faces.crop_size=big"])
    assert "--set data.faces.crop_size=big" in line and "crop_size" in line


def test_a_wrong_type_from_set_under_a_yaml_names_the_set_item(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    config = tmp_path / "run.yaml"
    config.write_text("seed: 3\nbatch_size: 4\n")
    line = error_line(capsys, ["run", "--config", str(config), "--set", "seed=abc"])
    assert "--set seed=abc" in line and str(config) not in line
    line = error_line(capsys, ["run", "--config", str(config), "--set", "sede=1"])
    assert "unknown key 'sede'" in line and "--set sede=1" in line and "'seed'" in line


@pytest.mark.parametrize(
    ("command", "section"),
    [
        ("run", "data: 17"),
        ("run", "data: [1, 2]"),
        ("run", "threat: pipeline"),
        ("run", "attack_options: 3"),
        ("train", "data: 17"),
        ("train", "data: [1, 2]"),
    ],
)
def test_a_section_of_the_wrong_type_in_yaml_names_the_file_and_key(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, command: str, section: str
) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(f"{section}\n")
    line = error_line(capsys, [command, "--config", str(config)])
    key = section.partition(":")[0]
    assert str(config) in line and f"{key}:" in line and "mapping" in line


def test_a_section_of_the_wrong_type_in_set_names_the_set_item(capsys: pytest.CaptureFixture[str]) -> None:
    line = error_line(capsys, ["run", "--set", "data=17"])
    assert "--set data=17" in line and "mapping" in line


def test_a_zero_denominator_in_a_yaml_run_config_names_the_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    config = tmp_path / "run.yaml"
    config.write_text("attack_options:\n  eps: 4/0\n")
    line = error_line(capsys, ["run", "--config", str(config)])
    assert str(config) in line and "attack_options.eps" in line and "zero" in line


def test_a_non_utf8_config_file_is_named(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    config = tmp_path / "latin1.yaml"
    config.write_bytes("detector: xception\n# café\n".encode("latin-1"))
    for command in ("run", "train"):
        line = error_line(capsys, [command, "--config", str(config)])
        assert str(config) in line and "UTF-8" in line


@pytest.mark.parametrize(
    ("eps", "member"),
    [("4/0", "member 1 (pgd)"), ("[1/255, 4/0]", "member 1 (pgd)")],
)
def test_a_zero_denominator_in_a_suite_names_the_suite_and_member_before_any_work(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, eps: str, member: str
) -> None:
    suite = tmp_path / "mine.yaml"
    suite.write_text(f"name: mine\nmembers:\n  - attack: pgd\n    eps: {eps}\n")
    line = error_line(capsys, ["run", "--suite", str(suite)])
    assert str(suite) in line and member in line and "4/0" in line and "zero" in line
    line = error_line(capsys, ["check", "--baseline", str(tmp_path / "b.json"), "--suite", str(suite)])
    assert str(suite) in line and member in line


def test_a_suite_that_is_not_a_mapping_or_not_utf8_is_named(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    suite = tmp_path / "list.yaml"
    suite.write_text("- attack: pgd\n")
    line = error_line(capsys, ["run", "--suite", str(suite)])
    assert str(suite) in line and "mapping" in line
    suite = tmp_path / "latin1.yaml"
    suite.write_bytes("name: caf\xe9\nmembers:\n  - attack: pgd\n".encode("latin-1"))
    line = error_line(capsys, ["run", "--suite", str(suite)])
    assert str(suite) in line and "UTF-8" in line


def test_a_bad_attack_setting_fails_before_the_demo_model_is_trained(
    capsys: pytest.CaptureFixture[str],
) -> None:
    line = error_line(capsys, ["run", "--attack", "pgd", "--set", "attack.stepz=3"])
    assert "stepz" in line and "steps" in line


@pytest.mark.parametrize(
    ("argv", "source"),
    [
        (["describe", "pgd", "-o", "eps=4/0"], "-o eps=4/0"),
        (["data", "prepare", "-o", "size=1/0"], "-o size=1/0"),
        (["data", "prepare", "--set", "faces.min_face_size=1/0"], "--set faces.min_face_size=1/0"),
    ],
)
def test_option_flags_are_named_as_given(
    capsys: pytest.CaptureFixture[str], argv: list[str], source: str
) -> None:
    line = error_line(capsys, argv)
    assert f"{source}: " in line and "zero" in line
