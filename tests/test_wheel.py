"""The built wheel carries everything the harness reads at run time.

A non-editable install has no source tree: suites, demo recipes, baselines and the leaderboard's
template and static files must be package data. The test builds a wheel from the project's files
(tracked or not ignored: what a clean clone has), installs it into a fresh virtual environment
that sees the dependencies but not the source tree, and runs the ``harness`` command from a folder
outside the repository.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

import pytest
import tomllib

ROOT = Path(__file__).resolve().parent.parent


def _project_files() -> list[str]:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs a git checkout to know the project's files")
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    return [f for f in out if (ROOT / f).is_file()]


def test_every_package_in_the_tree_is_declared_in_pyproject() -> None:
    """A new sub-package (harness/runner/, ...) must be listed, or the wheel silently lacks it."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    declared = set(config["packages"])
    dirs = {name: ROOT / path for name, path in config["package-dir"].items()}
    found = set()
    for name, folder in dirs.items():
        for init in folder.rglob("__init__.py"):
            rel = init.parent.relative_to(folder).parts
            if not any(p.startswith((".", "__")) for p in rel):
                found.add(".".join((name, *rel)))
    assert found - declared == set(), "packages missing from [tool.setuptools] packages"
    assert declared - found == set(), "declared packages that do not exist"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with the wheel installed (dependencies seen, source tree not)."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    for rel in _project_files():
        target = src / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, target)
    dist = tmp / "dist"
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(dist),
            str(src),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert build.returncode == 0, build.stderr[-3000:]
    (wheel,) = dist.glob("deepfake_harness-*.whl")
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=300)
    py = venv / "bin" / "python"
    site = Path(
        subprocess.run(
            [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    # The dependencies (torch, ...) come from this environment's site-packages: a path entry, so
    # its .pth files (the editable install's finder among them) are not run.
    (site / "zz_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    install = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(py),
            "install",
            "--no-deps",
            "--no-index",
            "-q",
            str(wheel),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    return venv


def _harness(venv: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "HARNESS_CACHE")}
    env["OMP_NUM_THREADS"] = "1"
    return subprocess.run(
        [str(venv / "bin" / "harness"), *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=600
    )


def test_the_wheel_runs_without_the_source_tree(
    installed: Path, tiny: tuple[Any, Path], tmp_path: Path
) -> None:
    py = installed / "bin" / "python"
    where = subprocess.run(
        [
            str(py),
            "-c",
            "import harness, harness.configs as c; print(harness.__file__); print(c.CONFIGS_DIR)",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert all(str(installed) in w for w in where), f"harness imported from outside the wheel: {where}"

    listed = _harness(installed, tmp_path, "ls", "detectors")
    assert listed.returncode == 0 and "xception" in listed.stdout, listed.stderr

    lookup = subprocess.run(
        [
            str(py),
            "-c",
            "from harness.suites import available_suites, load_suite; from harness.train import demo_recipe_path;"
            "print(sorted(available_suites())); print(len(load_suite('standard').members));"
            "print(demo_recipe_path('xception').is_file())",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert lookup.returncode == 0, lookup.stderr
    suites, n_standard, recipe = lookup.stdout.split("\n")[:3]
    assert "standard" in suites and "smoke" in suites and int(n_standard) > 0 and recipe == "True"

    data, ckpt = tiny
    run = _harness(
        installed,
        tmp_path,
        "run",
        "--detector",
        "cnn",
        "--attack",
        "fgsm",
        "--checkpoint",
        str(ckpt),
        "--cache-dir",
        str(data.cache_dir),
        "--set",
        "dataset.size=tiny",
        "--set",
        "faces.detector=haar",
        "--set",
        "faces.num_frames=8",
        "--set",
        "n_boot=20",
        "--workers",
        "0",
        "-q",
    )
    assert run.returncode == 0, run.stderr[-3000:]
    (result,) = (tmp_path / "runs" / "results").rglob("*.json")
    assert json.loads(result.read_text())["metrics"]["auroc_clean"] is not None
    page = tmp_path / "runs" / "leaderboards" / "index.html"
    assert page.is_file() and "<table" in page.read_text(), "the leaderboard template ships with the wheel"
