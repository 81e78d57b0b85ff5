"""One generic registry for detectors, attacks and datasets.

Modelled on timm's ``@register_model`` and lm-evaluation-harness's ``Registry``:

* a component registers itself with a decorator in its own file;
* the package's ``__init__`` declares *lazy* entries (``name -> "module:attr"`` plus a one-line
  description), so listing and ``--help`` never import torch, timm, ART, facenet-pytorch or PyAV;
* resolving a lazy entry imports its module, whose decorator fills the entry in;
* duplicate names are rejected, and unknown names get "did you mean ...?" plus the known names;
* installed packages add components through a Python entry-point group (``harness.detectors``,
  ``harness.attacks``, ``harness.datasets``): ``name = "package.module:builder"``. They are
  declared lazily on first lookup or listing (their modules are imported only when used); a
  plugin cannot replace a built-in name.

This module must stay import-light: it is imported by ``harness --help``.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


class RegistryError(KeyError):
    """An unknown or duplicate registry name (a ``KeyError`` whose message reads well)."""

    def __str__(self) -> str:  # KeyError would print the repr of the message
        return str(self.args[0]) if self.args else ""


@dataclass
class _Entry(Generic[T]):
    name: str
    description: str
    target: str | None = None  # "package.module" or "package.module:attr" for lazy entries
    obj: T | None = None


def _first_line(doc: str | None) -> str:
    for line in (doc or "").strip().splitlines():
        if line.strip():
            return line.strip()
    return ""


class Registry(Generic[T]):
    """A named collection of components (``kind`` is used in messages: "detector", "attack", ...)."""

    def __init__(self, kind: str, entry_point_group: str | None = None) -> None:
        self.kind = kind
        self.entry_point_group = entry_point_group
        self._entries: dict[str, _Entry[T]] = {}
        self._plugins_loaded = entry_point_group is None
        self.plugin_warnings: list[str] = []

    # -- plugins ------------------------------------------------------------------------------
    def load_plugins(self, force: bool = False) -> list[str]:
        """Declare the components of installed packages' entry points; returns the names added."""
        if self._plugins_loaded and not force:
            return []
        self._plugins_loaded = True
        from importlib.metadata import entry_points

        added = []
        for ep in entry_points(group=self.entry_point_group or ""):
            dist = getattr(getattr(ep, "dist", None), "name", None) or "an installed package"
            existing = self._entries.get(ep.name)
            if existing is not None:
                if existing.target != ep.value:
                    msg = (
                        f"{self.kind} plugin {ep.name!r} from {dist} ({ep.value}) ignored: the name is "
                        "already registered; rename it in the package's entry points"
                    )
                    if msg not in self.plugin_warnings:
                        self.plugin_warnings.append(msg)
                        import sys

                        print(f"harness: warning: {msg}", file=sys.stderr)
                continue
            self._entries[ep.name] = _Entry(
                name=ep.name, description=f"[plugin: {dist}] {ep.value}", target=ep.value
            )
            added.append(ep.name)
        return added

    # -- registration -------------------------------------------------------------------------
    def register_lazy(self, name: str, target: str, description: str) -> None:
        """Declare ``name`` without importing it; ``target`` is ``"module"`` or ``"module:attr"``.

        With a bare module, importing it must register ``name`` through the decorator.
        """
        if name in self._entries:
            raise RegistryError(f"duplicate {self.kind} name {name!r}: already declared")
        self._entries[name] = _Entry(name=name, description=description, target=target)

    def register(self, name: str, description: str | None = None) -> Callable[[T], T]:
        """Decorator: register ``obj`` under ``name`` (description defaults to its docstring)."""

        def deco(obj: T) -> T:
            self.add(name, obj, description)
            return obj

        return deco

    def add(self, name: str, obj: T, description: str | None = None) -> None:
        """Register ``obj`` under ``name``; a name already bound to another object is an error."""
        entry = self._entries.get(name)
        if entry is not None and entry.obj is not None and entry.obj is not obj:
            where = getattr(entry.obj, "__module__", "?")
            raise RegistryError(
                f"duplicate {self.kind} name {name!r}: already registered by {where}; choose another name"
            )
        desc = description or (entry.description if entry else "") or _first_line(obj.__doc__)
        if entry is None:
            self._entries[name] = _Entry(name=name, description=desc, obj=obj)
        else:
            entry.obj = obj
            entry.description = entry.description or desc

    # -- lookup -------------------------------------------------------------------------------
    def __contains__(self, name: object) -> bool:
        self.load_plugins()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def names(self) -> list[str]:
        """All names (plugins included), sorted, without importing any component."""
        self.load_plugins()
        return sorted(self._entries)

    def describe(self) -> list[tuple[str, str]]:
        """``(name, one-line description)`` pairs, sorted, without importing anything."""
        return [(n, self._entries[n].description) for n in self.names()]

    def description(self, name: str) -> str:
        return self._entry(name).description

    def get(self, name: str) -> T:
        """Resolve ``name`` to its object, importing its module on first use."""
        entry = self._entry(name)
        if entry.obj is None:
            assert entry.target is not None
            module_name, _, attr = entry.target.partition(":")
            module = importlib.import_module(module_name)
            if attr:
                self.add(name, getattr(module, attr))
            if entry.obj is None:
                raise RegistryError(
                    f"{self.kind} {name!r}: importing {module_name} did not register it; "
                    f"decorate its builder with @register({name!r})"
                )
        assert entry.obj is not None
        return entry.obj

    def _entry(self, name: str) -> _Entry[T]:
        self.load_plugins()
        try:
            return self._entries[name]
        except KeyError:
            raise RegistryError(self.unknown_message(name)) from None

    def unknown_message(self, name: str) -> str:
        known = self.names()
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        listing = ", ".join(known) if known else "(none registered)"
        return f"unknown {self.kind} {name!r}.{hint} Known {self.kind}s: {listing}"
