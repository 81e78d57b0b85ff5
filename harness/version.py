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


@functools.lru_cache(maxsize=1)
def source_fingerprint() -> str:
    """A hash of the harness's own source and configs as they are on disk right now.

    Part of every run key (resumption and "already finished"): unlike :func:`code_version`,
    whose ``.dirty`` mark is the same for any uncommitted edit, it changes with every edit.
    """
    import hashlib

    root = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for folder in ("harness", "attacks", "detectors", "datasets", "configs"):
        base = root / folder
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*")):
            if path.suffix in (".py", ".yaml", ".yml") and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def module_files_fingerprint(module: object) -> str | None:
    """A hash of the source files defining ``module``'s submodules outside this package (a
    researcher's own model code), or None when there are none."""
    import hashlib
    import inspect

    own = Path(__file__).resolve().parent.parent
    files = set()
    for sub in getattr(module, "modules", lambda: [])():
        try:
            path = Path(inspect.getfile(type(sub))).resolve()
        except (TypeError, OSError):
            continue
        if own not in path.parents and "site-packages" not in path.parts:
            files.add(path)
    if not files:
        return None
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]
