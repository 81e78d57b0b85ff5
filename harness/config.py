"""Typed configs with one precedence rule: CLI > YAML > dataclass defaults.

Configs are frozen dataclasses. :func:`build_config` layers a YAML file and then command-line
values (flags that were actually given, plus ``--set key=value`` items with dotted keys for nested
configs) over the defaults. Unknown keys are errors with a "did you mean" hint, never silently
ignored. ``4/255``-style fractions are accepted wherever a number is. Every error is a
:class:`ConfigError` (a ``ValueError``: one line from the CLI) that names where the value came
from: the config file and key, the ``--set`` item as the user typed it, or the defaults.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

_SCIENTIFIC = re.compile(r"^\s*[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+\s*$")
_FRACTION = re.compile(r"^\s*([-+]?\d+(?:\.\d*)?)\s*/\s*(\d+(?:\.\d*)?)\s*$")


class ConfigError(ValueError):
    """A config key or value that is unknown or malformed (the message says which and where)."""


class SetItem(str):
    """A ``--set`` item as the config reads it (``attack_options.eps=4/255``) that remembers how
    it was given (``attack.eps=4/255``), so an error quotes what the user typed."""

    given: str

    def __new__(cls, item: str, given: str | None = None) -> SetItem:
        obj = super().__new__(cls, item)
        given = item if given is None else given
        obj.given = given.given if isinstance(given, SetItem) else str(given)
        return obj

    def nested(self, section: str) -> SetItem:
        """The same item one section down (``run.attack_options.eps=...``), given as before."""
        return SetItem(f"{section}.{self}", self.given)


def parse_fraction(text: str) -> float | None:
    """``"4/255"`` -> ``0.01568...``; ``None`` when ``text`` is not a fraction.

    A zero denominator is a :class:`ConfigError` here, the one place a fraction is read, so the
    caller can say where the value came from (never a ``ZeroDivisionError`` from deep inside)."""
    match = _FRACTION.match(text)
    if not match:
        return None
    denominator = float(match.group(2))
    if denominator == 0:
        raise ConfigError(
            f"{text.strip()!r} divides by zero (a fraction like 4/255 needs a non-zero denominator)"
        )
    return float(match.group(1)) / denominator


def parse_value(text: str) -> Any:
    """YAML scalar/list parsing plus fractions: ``"4/255"`` -> ``0.01568...``, ``"[1,2]"`` -> list."""
    import yaml

    fraction = parse_fraction(text)
    if fraction is not None:
        return fraction
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    if isinstance(value, list):
        return [parse_value(v) if isinstance(v, str) else v for v in value]
    if isinstance(value, str) and _SCIENTIFIC.match(value):
        return float(value)  # YAML 1.1 reads "3e-4" (no dot) as a string
    return value


def set_source(item: str, flag: str = "--set") -> str:
    """How an error names a ``--set`` item: as the user gave it (see :class:`SetItem`)."""
    return f"{flag} {item.given if isinstance(item, SetItem) else item}"


def parse_sets(items: Iterable[str], flag: str = "--set") -> dict[str, Any]:
    """``["a.b=1", "c=4/255"]`` -> ``{"a": {"b": 1}, "c": 0.0157}``; errors name the ``flag``
    and the item (``--set attack.eps=4/0: ...``)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{set_source(item, flag)}: {flag} expects key=value")
        node = out
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"{set_source(item, flag)}: {part!r} is both a value and a section")
        try:
            node[parts[-1]] = parse_value(raw)
        except ConfigError as exc:
            raise ConfigError(f"{set_source(item, flag)}: {exc}") from exc
    return out


def load_yaml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a YAML mapping, with errors naming the file."""
    import yaml

    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file not found: {p}")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"config file {p} is not UTF-8 text ({exc.reason} at byte {exc.start}): save it as UTF-8"
        ) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {p} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"config file {p} must hold a mapping of keys to values")
    return data


def merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge two nested mappings; ``override`` wins."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def build_config(
    cls: type[T],
    yaml_path: str | os.PathLike[str] | None = None,
    cli: Mapping[str, Any] | None = None,
    sets: Iterable[str] = (),
    *,
    cli_source: str = "command-line flags",
) -> T:
    """Defaults < YAML file < CLI flags < ``--set`` items; returns a frozen ``cls`` instance.

    An error names the layer its value came from: ``config file PATH``, ``cli_source`` (what
    ``cli`` holds: the flags of a command, an attack's settings), ``--set KEY=VALUE`` (as the
    user gave it) or ``defaults``.
    """
    layers: list[tuple[str, Mapping[str, Any]]] = []
    if yaml_path is not None:
        layers.append((f"config file {yaml_path}", load_yaml(yaml_path)))
    if cli:
        layers.append((cli_source, dict(cli)))
    layers += [(set_source(item), parse_sets([item])) for item in sets]
    values: dict[str, Any] = {}
    for _, layer in layers:
        values = merge(values, layer)
    return _build(cls, values, (), _LayerOrigin(layers))


_Origin = Callable[[tuple[str, ...]], str]


class _LayerOrigin:
    """Where the value at a key path came from: the last layer that sets it."""

    def __init__(self, layers: list[tuple[str, Mapping[str, Any]]]) -> None:
        self.layers = [(name, layer) for name, layer in layers if layer]

    def __call__(self, path: tuple[str, ...]) -> str:
        if not path:  # the config as a whole
            return ", ".join(name for name, _ in self.layers) or "defaults"
        for name, layer in reversed(self.layers):
            node: Any = layer
            for part in path:
                if not isinstance(node, Mapping) or part not in node:
                    break
                node = node[part]
            else:
                return name
        return "defaults"


def from_dict(cls: type[T], data: Mapping[str, Any], where: str = "config") -> T:
    """Build dataclass ``cls`` from ``data``, recursing into nested dataclass fields.

    ``where`` names the source of ``data`` in errors (a file, ``attack 'pgd'``)."""
    return _build(cls, data, (), lambda _path: where)


def _build(cls: type[T], data: Mapping[str, Any], path: tuple[str, ...], origin: _Origin) -> T:
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key not in fields:
            close = difflib.get_close_matches(str(key), list(fields), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ConfigError(
                f"unknown key {key!r} in {origin((*path, str(key)))} ({cls.__name__}).{hint} "
                f"Known keys: {', '.join(sorted(fields))}"
            )
        f = fields[key]
        if isinstance(value, Mapping) and f.default_factory is not dataclasses.MISSING:
            base = f.default_factory()
            if dataclasses.is_dataclass(base):  # a section's defaults are its field's default
                value = merge(dataclasses.asdict(base), value)
        kwargs[key] = _coerce(hints[key], value, (*path, key), origin)
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        section = f" ({'.'.join(path)})" if path else ""
        raise ConfigError(f"invalid {cls.__name__}{section} in {origin(path)}: {exc}") from exc


def _coerce(hint: Any, value: Any, path: tuple[str, ...], origin: _Origin) -> Any:
    def error(problem: str) -> ConfigError:
        return ConfigError(f"{origin(path)}: {'.'.join(path)}: {problem}")

    kind = typing.get_origin(hint)
    args = typing.get_args(hint)
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        if isinstance(value, Mapping):
            return _build(hint, value, path, origin)
        if isinstance(value, hint):
            return value
        raise error(f"expected a mapping of {hint.__name__} settings (key: value), got {value!r}")
    if kind in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(arg, value, path, origin)
            except ConfigError:
                continue
        raise error(f"{value!r} does not fit {hint}")
    if kind in (dict, Mapping) or hint is dict:
        if not isinstance(value, Mapping):
            raise error(f"expected a mapping (key: value), got {value!r}")
        for key, item in value.items():
            _check_fractions(item, (*path, str(key)), origin)
        return value
    if kind is tuple and isinstance(value, (list, tuple)):
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(args[0], v, path, origin) for v in value)
        if args and len(args) != len(value):
            raise error(f"expected {len(args)} values, got {value!r}")
        if not args:
            return tuple(value)
        return tuple(_coerce(a, v, path, origin) for a, v in zip(args, value, strict=True))
    if hint is float:
        if isinstance(value, str) and (_FRACTION.match(value) or _SCIENTIFIC.match(value)):
            try:
                return parse_value(value)
            except ConfigError as exc:
                raise error(str(exc)) from exc
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise error(f"expected a number, got {value!r}")
    if hint in (int, str, bool) and type(value) is not hint:
        raise error(f"expected {hint.__name__}, got {value!r}")
    if hint is Any:
        _check_fractions(value, path, origin)
    return value


def _check_fractions(value: Any, path: tuple[str, ...], origin: _Origin) -> None:
    """A free-form setting (an attack's ``eps: 4/0`` in a YAML run config) is read later by its
    own config; a broken fraction in it is caught here, where its source is still known."""
    if isinstance(value, str):
        try:
            parse_fraction(value)
        except ConfigError as exc:
            raise ConfigError(f"{origin(path)}: {'.'.join(path)}: {exc}") from exc
    elif isinstance(value, (list, tuple)):
        for item in value:
            _check_fractions(item, path, origin)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _check_fractions(item, (*path, str(key)), origin)
