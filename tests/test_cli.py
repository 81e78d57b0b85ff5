from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.attacks import ATTACKS
from harness.cli import main
from harness.datasets import DATASETS
from harness.detectors import DETECTORS

HEAVY = ("torch", "timm", "art", "facenet_pytorch", "av", "cv2", "torchattacks")


REGISTRIES = {"detectors": DETECTORS, "attacks": ATTACKS, "datasets": DATASETS}


@pytest.mark.parametrize("kind", sorted(REGISTRIES))
def test_ls_imports_no_heavy_library(kind: str, tmp_path: Path) -> None:
    code = (
        "import io, json, sys, contextlib\n"
        "from harness.cli import main\n"
        "buf = io.StringIO()\n"
        "with contextlib.redirect_stdout(buf):\n"
        f"    rc = main(['ls', '{kind}'])\n"
        f"heavy = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "print(json.dumps({'rc': rc, 'out': buf.getvalue(), 'heavy': heavy}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    result = json.loads(out.stdout)
    assert result["rc"] == 0
    assert result["heavy"] == []
    rows = [line.split(maxsplit=1) for line in result["out"].splitlines()]
    assert rows == [[name, desc] for name, desc in REGISTRIES[kind].describe()]


def test_console_script_lists_every_registered_detector() -> None:
    exe = Path(sys.executable).with_name("harness")
    out = subprocess.run([str(exe), "ls", "detectors"], capture_output=True, text=True, check=True)
    assert [line.split()[0] for line in out.stdout.splitlines()] == DETECTORS.names()


def test_unknown_detector_is_one_clear_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["describe", "resnet5O"]) == 2
    err = capsys.readouterr().err
    assert "unknown detector 'resnet5O'" in err and "Did you mean 'resnet50'" in err
    assert "Traceback" not in err


def test_unknown_option_names_the_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["describe", "cnn", "-o", "inpt_size=64"]) == 2
    err = capsys.readouterr().err
    assert "no option 'inpt_size'" in err and "Did you mean 'input_size'" in err


def test_describe_prints_the_spec(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["describe", "meso4", "--checkpoint", "mesonet:Meso4_DF"]) == 0
    out = capsys.readouterr().out
    assert "256 x 256" in out and "Afchar" in out and "Meso4_DF.h5" in out


def test_describe_prints_an_attacks_settings_and_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    """The attack's ``Config`` dataclass is the one definition of its defaults; describe shows it."""
    import dataclasses

    from harness.attacks import ATTACKS

    for name in ATTACKS.names():
        assert main(["describe", name]) == 0
        out = capsys.readouterr().out
        config = ATTACKS.get(name).Config()
        for f in dataclasses.fields(config):
            assert f"  {f.name:<18} {getattr(config, f.name)!r}" in out
    assert main(["describe", "pgd", "-o", "eps=8/255", "-o", "steps=3"]) == 0
    out = capsys.readouterr().out
    assert f"{8 / 255!r}" in out and "  steps              3" in out
