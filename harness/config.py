"""Typed configs with one precedence rule: CLI > YAML > dataclass defaults.

Configs are frozen dataclasses. :func:`build_config` layers a YAML file and then command-line
values (flags that were actually given, plus ``--set key=value`` items with dotted keys for nested
configs) over the defaults. Unknown keys are errors with a "did you mean" hint, never silently
ignored. ``4/255``-style fractions are accepted wherever a number is.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

_SCIENTIFIC = re.compile(r"^\s*[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+\s*$")
_FRACTION = re.compile(r"^\s*([-+]?\d+(?:\.\d*)?)\s*/\s*(\d+(?:\.\d*)?)\s*$")


class ConfigError(ValueError):
    """A config key or value that is unknown or malformed (the message says which and where)."""


def parse_value(text: str) -> Any:
    """YAML scalar/list parsing plus fractions: ``"4/255"`` -> ``0.01568...``, ``"[1,2]"`` -> list."""
    import yaml

    match = _FRACTION.match(text)
    if match:
        return float(match.group(1)) / float(match.group(2))
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    if isinstance(value, list):
        return [parse_value(v) if isinstance(v, str) else v for v in value]
    if isinstance(value, str) and _SCIENTIFIC.match(value):
        return float(value)  # YAML 1.1 reads "3e-4" (no dot) as a string
    return value


def parse_sets(items: Iterable[str]) -> dict[str, Any]:
    """``["a.b=1", "c=4/255"]`` -> ``{"a": {"b": 1}, "c": 0.0157}``."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set expects key=value, got {item!r}")
        node = out
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {item!r}: {part!r} is both a value and a section")
        node[parts[-1]] = parse_value(raw)
    return out


def load_yaml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a YAML mapping, with errors naming the file."""
    import yaml

    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file not found: {p}")
    try:
        data = yaml.safe_load(p.read_text()) or {}
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
) -> T:
    """Defaults < YAML file < CLI flags < ``--set`` items; returns a frozen ``cls`` instance."""
    values: dict[str, Any] = {}
    source = "defaults"
    if yaml_path is not None:
        values = load_yaml(yaml_path)
        source = str(yaml_path)
    values = merge(values, dict(cli or {}))
    values = merge(values, parse_sets(sets))
    return from_dict(cls, values, where=source)


def from_dict(cls: type[T], data: Mapping[str, Any], where: str = "config") -> T:
    """Build dataclass ``cls`` from ``data``, recursing into nested dataclass fields."""
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
                f"unknown key {key!r} in {where} ({cls.__name__}).{hint} "
                f"Known keys: {', '.join(sorted(fields))}"
            )
        f = fields[key]
        if isinstance(value, Mapping) and f.default_factory is not dataclasses.MISSING:
            base = f.default_factory()
            if dataclasses.is_dataclass(base):  # a section's defaults are its field's default
                value = merge(dataclasses.asdict(base), value)
        kwargs[key] = _coerce(hints[key], value, f"{where}: {key}")
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"invalid {cls.__name__} in {where}: {exc}") from exc


def _coerce(hint: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if dataclasses.is_dataclass(hint) and isinstance(value, Mapping):
        return from_dict(hint, value, where)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(arg, value, where)
            except ConfigError:
                continue
        raise ConfigError(f"{where}: {value!r} does not fit {hint}")
    if origin is tuple and isinstance(value, (list, tuple)):
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(args[0], v, where) for v in value)
        if args and len(args) != len(value):
            raise ConfigError(f"{where}: expected {len(args)} values, got {value!r}")
        return tuple(_coerce(a, v, where) for a, v in zip(args, value, strict=True)) if args else tuple(value)
    if hint is float:
        if isinstance(value, str) and (_FRACTION.match(value) or _SCIENTIFIC.match(value)):
            return parse_value(value)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"{where}: expected a number, got {value!r}")
    if hint in (int, str, bool) and type(value) is not hint:
        raise ConfigError(f"{where}: expected {hint.__name__}, got {value!r}")
    return value
