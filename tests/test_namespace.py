"""The project installs under the `harness` namespace and shadows no generic top-level name."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from helpers import REPO_ROOT


def _probe(code: str, cwd: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_modules_import_under_the_namespace(tmp_path: Path) -> None:
    code = (
        "import json, harness.detectors, harness.attacks, harness.datasets, harness.registry;"
        "print(json.dumps({m.__name__: m.__file__ for m in "
        "[harness.detectors, harness.attacks, harness.datasets, harness.registry]}))"
    )
    files = _probe(code, tmp_path)
    assert Path(files["harness.detectors"]).resolve() == REPO_ROOT / "detectors" / "__init__.py"
    assert Path(files["harness.datasets"]).resolve() == REPO_ROOT / "datasets" / "__init__.py"
    assert Path(files["harness.attacks"]).resolve() == REPO_ROOT / "attacks" / "__init__.py"


def test_generic_top_level_names_do_not_resolve_to_this_project(tmp_path: Path) -> None:
    code = (
        "import importlib.util, json;"
        "specs = {n: importlib.util.find_spec(n) for n in ('datasets', 'attacks', 'detectors')};"
        "print(json.dumps({n: (s.origin if s else None) for n, s in specs.items()}))"
    )
    origins = _probe(code, tmp_path)
    for name, origin in origins.items():
        # Either absent, or some other installed package (Hugging Face `datasets`): never ours.
        assert origin is None or REPO_ROOT not in Path(origin).resolve().parents, (name, origin)
