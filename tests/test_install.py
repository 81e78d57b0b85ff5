"""What a fresh machine installs is what was tested: every dependency is pinned in constraints.txt.

``make demo``, ``make test`` and CI install with ``pip -c constraints.txt``; ``make lock``
refreshes it on purpose after the suite passed on the newest releases (``make test-latest``).
"""

from __future__ import annotations

import re
from pathlib import Path

import tomllib
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent


def _pins() -> dict[str, Version]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        assert sep, f"constraints.txt: {line!r} is not an exact pin (name==version)"
        pins[canonicalize_name(name)] = Version(version)
    return pins


def _requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    return [Requirement(r) for r in reqs]


def test_every_dependency_is_pinned_to_a_version_it_allows() -> None:
    pins = _pins()
    missing, outside = [], []
    for req in _requirements():
        pin = pins.get(canonicalize_name(req.name))
        if pin is None:
            missing.append(req.name)
        elif not req.specifier.contains(pin, prereleases=True):
            outside.append(f"{req.name}=={pin} (pyproject: {req})")
    assert missing == [], "run `make lock` to pin them"
    assert outside == [], "constraints.txt pins versions pyproject.toml does not allow: run `make lock`"


def test_make_installs_with_the_constraints_and_test_latest_without() -> None:
    makefile = (ROOT / "Makefile").read_text()
    stamp = re.search(r"^\$\(STAMP\):.*?(?=^\S)", makefile, re.S | re.M).group(0)
    assert "$(CONSTRAINTS)" in stamp.splitlines()[0], "the install must re-run when the pins change"
    assert stamp.count("-c $(CONSTRAINTS)") == 2  # pip itself and the project
    latest = re.search(r"^test-latest:.*?(?=^\S)", makefile, re.S | re.M).group(0)
    assert "CONSTRAINTS" not in latest and "--upgrade" in latest
    assert re.search(r"^lock: test-latest$", makefile, re.M), "lock pins only what passed"
