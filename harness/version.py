"""The code version recorded in checkpoints and results: package version plus git commit."""

from __future__ import annotations

import functools
import subprocess
from importlib import metadata
from pathlib import Path


def package_version() -> str:
    try:
        return metadata.version("deepfake-harness")
    except metadata.PackageNotFoundError:
        return "0+unknown"


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """``"<version>+g<commit>[.dirty]"`` when run from a git checkout, else the package version.

    ``.dirty`` means uncommitted changes to the code and configs: the harness's own outputs
    (``results/``, ``leaderboards/``) are data, and a run that rewrites them does not make the
    next run's code version dirty.
    """
    version = package_version()
    root = Path(__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return version
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            [
                "git",
                "-C",
                str(root),
                "status",
                "--porcelain",
                "--untracked-files=no",
                "--",
                ".",
                ":(exclude)results",
                ":(exclude)leaderboards",
            ],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return version
    return f"{version}+g{commit}{'.dirty' if dirty else ''}"
