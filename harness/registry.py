"""One generic registry for detectors, attacks and datasets.

Modelled on timm's ``@register_model`` and lm-evaluation-harness's ``Registry``. A component's key
is written once, in its package's registry line; its file is named after it:

* the package's ``__init__`` declares each component *lazily*, ``REGISTRY.register_lazy(key,
  description)``: the module is ``<package>.<key>`` (file name = key), and the one-line
  description is what ``harness ls`` prints, so listing and ``--help`` never import torch, timm,
  ART, facenet-pytorch or PyAV;
* the component's file decorates it with the bare registry decorator (``@register_detector``),
  which takes no name: it binds the component to the lazy entry that declares its module;
* the registry gives the component its name (``bind``): an attack's or a dataset's ``name``
  class attribute, a detector's ``spec.name``;
* resolving a lazy entry imports its module, whose decorator fills the entry in;
* duplicate names are rejected, and unknown names get "did you mean ...?" plus the known names;
* installed packages add components through a Python entry-point group (``harness.detectors``,
  ``harness.attacks``, ``harness.datasets``): ``name = "package.module:builder"`` (or
  ``"package.module"`` whose decorator registers it). They are declared lazily on first lookup
  or listing (their modules are imported only when used); a plugin cannot replace a built-in
  name.

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


def name_class(name: str, cls: T) -> T:
    """A ``bind`` for registries of classes: sets the class attribute ``name`` to the key (a class
    that already spells another ``name`` of its own is an error)."""
    own = vars(cls).get("name")
    if own and own != name:
        raise RegistryError(f"{cls.__qualname__} says name = {own!r} but is registered as {name!r}")
    cls.name = name  # type: ignore[attr-defined]
    return cls


class Registry(Generic[T]):
    """A named collection of components (``kind`` is used in messages: "detector", "attack", ...).

    ``package``: where lazy entries live by default (``register_lazy("pgd", ...)`` means module
    ``<package>.pgd``). ``bind(name, obj) -> obj``: gives a component its registry name when it is
    registered (e.g. sets an attack class's ``name``); what it returns is what is registered.
    """

    def __init__(
        self,
        kind: str,
        entry_point_group: str | None = None,
        package: str | None = None,
        bind: Callable[[str, T], T] | None = None,
    ) -> None:
        self.kind = kind
        self.entry_point_group = entry_point_group
        self.package = package
        self._bind = bind
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
    def register_lazy(self, name: str, description: str, *, target: str | None = None) -> None:
        """Declare ``name`` without importing it: the one line that adds a component.

        ``target`` defaults to the module ``<package>.<name>`` (file name = key), whose
        decorator registers the component; ``"module:attr"`` names an object directly.
        """
        if name in self._entries:
            raise RegistryError(f"duplicate {self.kind} name {name!r}: already declared")
        if target is None:
            if self.package is None:
                raise ValueError(f"{self.kind} registry has no package: pass target='module[:attr]'")
            target = f"{self.package}.{name}"
        if ":" not in target:
            other = next((e.name for e in self._entries.values() if e.target == target), None)
            if other is not None:
                raise RegistryError(
                    f"{self.kind} {name!r}: module {target} already holds {other!r}; one file per "
                    f"{self.kind} (name the file after the key), or target 'module:attr'"
                )
        self._entries[name] = _Entry(name=name, description=description, target=target)

    def register(self, obj: T) -> T:
        """Decorator (no arguments): register ``obj`` under the key whose lazy entry declares its
        module. Returns what was registered (``bind``'s result)."""
        module = getattr(obj, "__module__", None)
        spelled = (module, f"{module}:{getattr(obj, '__name__', '')}")  # a plugin's "module:attr" too
        names = [e.name for e in self._entries.values() if e.target in spelled]
        if not names:
            where = f"the __init__.py of {self.package}" if self.package else "its package"
            raise RegistryError(
                f"{self.kind} {getattr(obj, '__qualname__', obj)!r} in module {module}: no "
                f"register_lazy line declares that module; add one to {where}"
            )
        return self.add(names[0], obj)

    def add(self, name: str, obj: T, description: str | None = None) -> T:
        """Register ``obj`` under ``name`` (without a lazy entry: tests, notebooks); a name
        already bound to another object is an error. Returns what was registered."""
        entry = self._entries.get(name)
        if entry is not None and entry.obj is not None:
            raise RegistryError(
                f"duplicate {self.kind} name {name!r}: already registered by "
                f"{getattr(entry.obj, '__module__', '?')}; choose another name"
            )
        if self._bind is not None:
            obj = self._bind(name, obj)
        desc = description or (entry.description if entry else "") or _first_line(obj.__doc__)
        if entry is None:
            self._entries[name] = _Entry(name=name, description=desc, obj=obj)
        else:
            entry.obj = obj
            entry.description = entry.description or desc
        return obj

    def remove(self, name: str) -> None:
        """Forget ``name`` (undoes a registration: tests, throwaway plugins)."""
        self._entry(name)
        del self._entries[name]

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
            if attr and entry.obj is None:  # (its decorator may have registered it already)
                self.add(name, getattr(module, attr))
            if entry.obj is None:
                raise RegistryError(
                    f"{self.kind} {name!r}: importing {module_name} did not register it; "
                    f"decorate it in that file with @register_{self.kind}"
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
