from __future__ import annotations

import pytest

from harness.detectors import DETECTORS
from harness.registry import Registry, RegistryError


def test_decorator_registration_and_lookup() -> None:
    reg: Registry[object] = Registry("widget")

    @reg.register("alpha")
    def alpha() -> None:
        """Alpha widget.

        More text."""

    assert reg.get("alpha") is alpha
    assert reg.describe() == [("alpha", "Alpha widget.")]


def test_duplicate_names_are_rejected() -> None:
    reg: Registry[object] = Registry("widget")
    reg.add("alpha", object())
    with pytest.raises(RegistryError, match="duplicate widget name 'alpha'"):
        reg.add("alpha", object())
    reg.register_lazy("beta", "json", "lazy")
    with pytest.raises(RegistryError, match="duplicate"):
        reg.register_lazy("beta", "json", "again")


def test_unknown_name_suggests_close_matches_and_lists_known() -> None:
    with pytest.raises(RegistryError) as info:
        DETECTORS.get("xceptoin")
    message = str(info.value)
    assert "Did you mean 'xception'" in message
    for name in ("cnn", "meso4", "cnn_lstm", "vgg16"):
        assert name in message


def test_lazy_entry_resolves_attribute_target() -> None:
    reg: Registry[object] = Registry("thing")
    reg.register_lazy("dumps", "json:dumps", "JSON encoder")
    import json

    assert reg.get("dumps") is json.dumps
    assert reg.description("dumps") == "JSON encoder"


def test_lazy_module_that_does_not_register_is_a_clear_error() -> None:
    reg: Registry[object] = Registry("thing")
    reg.register_lazy("ghost", "json", "never registered")
    with pytest.raises(RegistryError, match="did not register it"):
        reg.get("ghost")


def test_the_zoo_has_every_promised_family() -> None:
    assert set(DETECTORS.names()) == {
        "cnn",
        "meso4",
        "mesoinception4",
        "xception",
        "resnet50",
        "efficientnet_b1",
        "efficientnet_b3",
        "efficientnet_b4",
        "vgg16",
        "cnn_lstm",
    }
    assert all(desc for _, desc in DETECTORS.describe())


@pytest.mark.parametrize("name", DETECTORS.names())
def test_every_lazy_entry_registers_a_builder_under_its_own_name(name: str) -> None:
    builder = DETECTORS.get(name)
    assert callable(builder)
    assert builder.__doc__, f"{name}: builder needs a docstring saying what it builds"
