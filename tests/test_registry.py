"""The generic registry: the key is written once (the registry line), the file is named after it,
the decorator takes no name, and the registry names the component."""

from __future__ import annotations

import importlib
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.attacks import ATTACKS
from harness.datasets import DATASETS
from harness.detectors import DETECTORS
from harness.registry import Registry, RegistryError, name_class

REGISTRIES = {"detectors": DETECTORS, "attacks": ATTACKS, "datasets": DATASETS}


@pytest.fixture
def widgets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Registry[object]]:
    """A registry of package ``widgetpkg`` (written into ``tmp_path``) declaring ``alpha`` and ``beta``;
    ``widgetpkg/gamma.py`` is decorated too, but no registry line declares it."""
    pkg = tmp_path / "widgetpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(
        textwrap.dedent(
            """
            from harness.registry import Registry, name_class

            WIDGETS = Registry("widget", package=__name__, bind=name_class)
            register_widget = WIDGETS.register
            WIDGETS.register_lazy("alpha", "The alpha widget")
            WIDGETS.register_lazy("beta", "The beta widget")
            """
        )
    )
    for key in ("alpha", "beta", "gamma"):
        (pkg / f"{key}.py").write_text(
            textwrap.dedent(
                f"""
                from widgetpkg import register_widget

                @register_widget
                class Widget:
                    '''A {key} widget.'''
                """
            )
        )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield importlib.import_module("widgetpkg").WIDGETS
    for name in [m for m in sys.modules if m == "widgetpkg" or m.startswith("widgetpkg.")]:
        del sys.modules[name]


def test_the_module_is_the_key_and_the_registry_names_the_class(widgets: Registry[object]) -> None:
    assert "widgetpkg.alpha" not in sys.modules, "declared lazily: nothing imported"
    assert widgets.describe() == [("alpha", "The alpha widget"), ("beta", "The beta widget")]
    alpha = widgets.get("alpha")
    assert alpha.__module__ == "widgetpkg.alpha" and alpha.name == "alpha"
    assert widgets.get("beta").name == "beta"


def test_a_decorated_object_named_by_a_module_attr_target_registers_once(widgets: Registry[object]) -> None:
    """An entry-point plugin may spell ``module:attr`` and still decorate its class."""
    widgets.register_lazy("gamma_widget", "Gamma", target="widgetpkg.gamma:Widget")
    assert widgets.get("gamma_widget").name == "gamma_widget"


def test_a_decorated_module_without_a_registry_line_is_a_clear_error(widgets: Registry[object]) -> None:
    class Stray:
        """Defined in a module no registry line declares."""

    with pytest.raises(
        RegistryError,
        match="no register_lazy line declares that module; add one to the __init__.py of widgetpkg",
    ):
        widgets.register(Stray)


def test_one_module_holds_one_key(widgets: Registry[object]) -> None:
    with pytest.raises(RegistryError, match="already holds 'alpha'"):
        widgets.register_lazy("gamma", "Gamma", target="widgetpkg.alpha")


def test_duplicate_names_are_rejected() -> None:
    reg: Registry[object] = Registry("widget")
    reg.add("alpha", object())
    with pytest.raises(RegistryError, match="duplicate widget name 'alpha'"):
        reg.add("alpha", object())
    reg.register_lazy("beta", "lazy", target="json")
    with pytest.raises(RegistryError, match="duplicate"):
        reg.register_lazy("beta", "again", target="json")


def test_a_class_that_spells_another_name_is_refused() -> None:
    reg: Registry[type] = Registry("widget", bind=name_class)

    class Named:
        name = "old"

    with pytest.raises(RegistryError, match="says name = 'old' but is registered as 'new'"):
        reg.add("new", Named)


def test_unknown_name_suggests_close_matches_and_lists_known() -> None:
    reg: Registry[object] = Registry("widget")
    for name in ("xception", "resnet50", "cnn"):
        reg.add(name, object())
    with pytest.raises(RegistryError) as info:
        reg.get("xceptoin")
    message = str(info.value)
    assert "unknown widget 'xceptoin'" in message and "Did you mean 'xception'" in message
    assert "Known widgets: cnn, resnet50, xception" in message


@pytest.mark.parametrize("kind", sorted(REGISTRIES))
def test_unknown_zoo_name_lists_every_registered_one(kind: str) -> None:
    registry = REGISTRIES[kind]
    with pytest.raises(RegistryError) as info:
        registry.get("no-such-component")
    assert all(name in str(info.value) for name in registry.names())


def test_lazy_entry_resolves_attribute_target() -> None:
    reg: Registry[object] = Registry("thing")
    reg.register_lazy("dumps", "JSON encoder", target="json:dumps")
    import json

    assert reg.get("dumps") is json.dumps
    assert reg.description("dumps") == "JSON encoder"


def test_lazy_module_that_does_not_register_is_a_clear_error() -> None:
    reg: Registry[object] = Registry("thing")
    reg.register_lazy("ghost", "never registered", target="json")
    with pytest.raises(
        RegistryError, match="did not register it; decorate it in that file with @register_thing"
    ):
        reg.get("ghost")


def test_remove_forgets_a_name() -> None:
    reg: Registry[object] = Registry("thing")
    reg.add("x", object())
    reg.remove("x")
    assert "x" not in reg
    with pytest.raises(RegistryError, match="unknown thing 'x'"):
        reg.remove("x")


@pytest.mark.parametrize(("kind", "name"), [(k, n) for k, r in sorted(REGISTRIES.items()) for n in r.names()])
def test_every_builtin_key_is_its_file_name(kind: str, name: str) -> None:
    """A newcomer finds any component by its name in one step: ``<folder>/<key>.py``."""
    obj = REGISTRIES[kind].get(name)
    package = f"harness.{kind}"
    assert obj.__module__ == f"{package}.{name}"
    assert Path(sys.modules[obj.__module__].__file__).name == f"{name}.py"
    assert REGISTRIES[kind].description(name), "its registry line gives a description"
