"""The code's structure: small modules, no import cycles, no reaching into another package's privates.

Read from the source (AST), not by importing: what a newcomer would see.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parent.parent
MAX_LINES = 450  # "about 400": a module that grows past this has more than one job


def _modules() -> dict[str, Path]:
    """Every module of the installed packages by dotted name (``harness.runner.config``, ...)."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    out = {}
    for package, folder in config["package-dir"].items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT / folder).with_suffix("").parts
            if any(p.startswith(".") or p == "__pycache__" for p in rel):
                continue
            name = ".".join((package, *rel))
            out[name.removesuffix(".__init__")] = path
    return out


MODULES = _modules()


def _imports(name: str, path: Path) -> list[tuple[str, str | None, bool]]:
    """``(module, imported name or None, at module level)`` for every import in ``path``."""
    tree = ast.parse(path.read_text())
    is_pkg = path.name == "__init__.py"
    top = {id(n) for n in tree.body}
    for node in tree.body:  # imports under `if TYPE_CHECKING:` are not run
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            top.discard(id(node))
    out = []
    for node in ast.walk(tree):
        level_top = id(node) in top
        if isinstance(node, ast.Import):
            out += [(a.name, None, level_top) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = name.split(".") if is_pkg else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                module = ".".join([*base, module] if module else base)
            out += [(module, a.name, level_top) for a in node.names]
    return out


def _package(module: str) -> str:
    path = MODULES.get(module)
    return module if path is not None and path.name == "__init__.py" else module.rpartition(".")[0]


def test_no_module_is_long() -> None:
    long = {n: len(p.read_text().splitlines()) for n, p in MODULES.items()}
    assert {n: k for n, k in long.items() if k > MAX_LINES} == {}, (
        "split these modules by responsibility (a package of small modules)"
    )


def test_no_import_of_another_packages_private_module_or_name() -> None:
    """``harness.datasets._base`` may be imported inside ``harness.datasets`` only; what packages
    share is a public module (``harness.faces``, ``harness.fileio``, ``harness.flags``, ...)."""
    bad = []
    for name, path in MODULES.items():
        for module, attr, _ in _imports(name, path):
            if not module.startswith("harness"):
                continue
            parts = module.split(".")
            for i, part in enumerate(parts):
                if part.startswith("_"):
                    owner = ".".join(parts[:i])  # the package the private module belongs to
                    if not (name == owner or name.startswith(owner + ".")):
                        bad.append(f"{name} imports {module}")
                    break
            if attr and attr.startswith("_") and attr != "__version__":
                owner = (
                    module
                    if (module in MODULES and MODULES[module].name == "__init__.py")
                    else _package(module)
                )
                if attr in ("_" + p.split(".")[-1] for p in MODULES if p.startswith(module + "._")):
                    owner = module  # `from pkg import _private_module`
                if not (name == owner or name.startswith(owner + ".")):
                    bad.append(f"{name} imports {attr} from {module}")
    assert bad == []


def test_no_import_cycles() -> None:
    """Module-level imports form no cycle (a submodule importing its own package's ``__init__``
    is how packages work and is not counted)."""
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in MODULES.items():
        for module, attr, top in _imports(name, path):
            if not top:
                continue
            targets = [module]
            if attr and f"{module}.{attr}" in MODULES:
                targets = [f"{module}.{attr}"]
            for target in targets:
                if target in MODULES and target != name and not name.startswith(target + "."):
                    graph[name].add(target)
    cycles = []
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join([*stack[stack.index(nxt) :], nxt]))
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for node in sorted(MODULES):
        if node not in state:
            visit(node, [node])
    assert cycles == []


def test_detectors_never_import_attacks() -> None:
    """One direction: attacks are built on the detector contract, a detector never needs an attack.
    What both use (the 8-bit quantization, the JPEG round trip of the ELA front end and of the
    ``jpeg`` perturbation) lives below both, in ``harness.codecs``; module level or in a function."""
    bad = [
        f"{name} imports {attr or module} from {module}"
        for name, path in MODULES.items()
        if name == "harness.detectors" or name.startswith("harness.detectors.")
        for module, attr, _ in _imports(name, path)
        if module == "harness.attacks" or module.startswith("harness.attacks.")
    ]
    assert bad == []
