"""Attack suites: the fixed (attack, strength) pairs a leaderboard entry or a CI check is judged on.

A suite is a YAML file in ``configs/suites/`` (or any path)::

    name: smoke
    description: what it is for
    members:
      - attack: pgd
        eps: [2/255, 4/255]   # a list of the attack's strength setting: one member per value
        steps: 5              # any other setting of the attack
      - attack: jpeg
        quality: 50

Each member is expanded to one ``(attack, settings)`` pair per strength value, in file order.
Besides the attack's own settings a member may say ``pre``/``post`` (a codec around the attack),
``threat`` (where it acts) and ``convergence: true|false`` (the convergence check of a white-box
member, :mod:`harness.runner.convergence`; absent: the run's ``convergence`` setting decides).
Unknown attacks and unknown settings are rejected when the suite is loaded, before any work.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.configs import CONFIGS_DIR

SUITES_DIR = CONFIGS_DIR / "suites"


@dataclass(frozen=True)
class SuiteMember:
    """One (attack, settings) evaluation of a suite, with a single strength value."""

    attack: str
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """The one key of this member: ``attack@tag`` (e.g. ``pgd@eps4of255``), the same string as
        :func:`harness.results.result_key` of its result (a leaderboard column, a baseline entry)."""
        return f"{self.attack}@{self.tag}"

    @functools.cached_property
    def tag(self) -> str:
        """The file-name-safe budget tag of this member, the one place it is composed: strength,
        then codec ordering, threat model and scope (``eps4of255``, ``eps4of255+post-jpeg-quality75``,
        ``eps4of255+pipeline-crf23``, ``eps4of255+video``)."""
        from harness.attacks import create_attack
        from harness.threat import member_threat

        rest, pre, post = split_ordering(self.options)
        attack = create_attack(self.attack, **rest)
        tag = strength_tag(attack.strength_param(), attack.strength_value)
        return f"{tag}{ordering_tag(pre, post)}{member_threat(self.options).tag()}{scope_tag(attack.config.scope)}"


CODECS = ("jpeg", "h264")


def codec_member(spec: str) -> SuiteMember:
    """A real codec as the perturbation that applies it: ``jpeg:75`` (quality), ``h264:23`` (CRF)
    or a bare ``jpeg`` / ``h264`` (its defaults); applied to every sample (``target=both``)."""
    from harness.attacks import ATTACKS, create_attack

    name, _, value = str(spec).partition(":")
    if name not in CODECS:
        raise ValueError(f"codec {spec!r}: use jpeg:QUALITY or h264:CRF (e.g. jpeg:75, h264:23)")
    options: dict[str, Any] = {"target": "both"}
    if value:
        try:
            options[ATTACKS.get(name).strength_param()] = int(value)
        except ValueError as exc:
            raise ValueError(f"codec {spec!r}: {value!r} is not a whole number") from exc
    create_attack(name, **options)  # a bad quality or CRF fails here, before any work
    return SuiteMember(name, options)


def split_ordering(options: dict[str, Any]) -> tuple[dict[str, Any], str | None, str | None]:
    """``(attack settings, pre, post)``: ``pre`` compresses before the attack (the attacker gets an
    already re-encoded video), ``post`` after it (the platform re-encodes what the attacker
    delivers). At most one of them: the three orderings are one axis of the results."""
    rest = dict(options)
    pre, post = rest.pop("pre", None), rest.pop("post", None)
    rest.pop("threat", None)  # where the attack acts: harness.threat.member_threat
    member_convergence(rest)  # a bad value fails here
    rest.pop("convergence", None)  # the runner's convergence check: harness.runner.convergence
    if pre and post:
        raise ValueError("attack.pre and attack.post together: choose one ordering per run")
    for spec in (pre, post):
        if spec:
            codec_member(spec)
    return rest, pre or None, post or None


def member_convergence(options: dict[str, Any]) -> bool | None:
    """A member's ``convergence`` setting: ``true`` asks for the convergence check of a white-box
    member (:mod:`harness.runner.convergence`), ``false`` turns it off, absent (``None``) leaves
    it to the run's ``convergence`` setting."""
    value = options.get("convergence")
    if value is not None and not isinstance(value, bool):
        raise ValueError(f"convergence must be true or false, got {value!r}")
    return value


def ordering_tag(pre: str | None, post: str | None) -> str:
    """The file-name-safe suffix of an ordering: ``""``, ``+pre-h264-crf23``, ``+post-jpeg-quality75``."""
    from harness.attacks import create_attack

    spec = pre or post
    if not spec:
        return ""
    codec = codec_member(spec)
    attack = create_attack(codec.attack, **codec.options)
    where = "pre" if pre else "post"
    return f"+{where}-{codec.attack}-{strength_tag(attack.strength_param(), attack.strength_value)}"


def scope_tag(scope: str) -> str:
    """The file-name-safe suffix of an attack's scope: ``""`` for one perturbation per sample (the
    default), ``+video`` for one per video (``pgd@eps4of255+video``), so both sit side by side."""
    return "" if scope == "sample" else f"+{scope}"


@dataclass(frozen=True)
class Suite:
    name: str
    description: str
    members: tuple[SuiteMember, ...]
    path: str = ""


def strength_tag(param: str | None, value: Any) -> str:
    """A file-name-safe strength: ``eps=4/255`` -> ``eps4of255``, ``quality=75`` -> ``quality75``."""
    if param is None or value is None:
        return "default"
    if param == "eps":
        k = float(value) * 255
        if abs(k - round(k)) < 1e-6:
            return f"eps{round(k)}of255"
    return f"{param}{float(value):g}".replace(".", "p").replace("-", "m")


def available_suites() -> list[str]:
    """Names of the suites shipped in ``configs/suites/``."""
    return sorted(p.stem for p in SUITES_DIR.glob("*.yaml"))


def suite_path(name_or_path: str) -> Path:
    """``standard`` -> ``configs/suites/standard.yaml``; an existing path is taken as it is."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.is_file():
        if not path.is_file():
            raise FileNotFoundError(f"suite file {path} not found")
        return path
    candidate = SUITES_DIR / f"{name_or_path}.yaml"
    if not candidate.is_file():
        raise ValueError(
            f"unknown suite {name_or_path!r}; shipped suites: {', '.join(available_suites())} "
            "(or give the path of a suite YAML)"
        )
    return candidate


def expand_member(attack: str, options: dict[str, Any]) -> list[SuiteMember]:
    """One member per value when the attack's strength setting is a list (a robustness curve)."""
    from harness.attacks import ATTACKS

    cls = ATTACKS.get(attack)
    param = cls.strength_param()
    values = options.get(param) if param else None
    if isinstance(values, (list, tuple)):
        if not values:
            raise ValueError(f"attack {attack!r}: empty list of {param} values")
        rest = {k: v for k, v in options.items() if k != param}
        return [SuiteMember(attack, {**rest, param: v}) for v in values]
    for key, value in options.items():
        if isinstance(value, (list, tuple)):
            raise ValueError(
                f"attack {attack!r}: only its strength setting {param!r} may be a list, not {key!r}"
            )
    return [SuiteMember(attack, dict(options))]


def load_suite(name_or_path: str) -> Suite:
    """Read and validate a suite: every member's attack and settings must build."""
    import yaml

    from harness.attacks import create_attack
    from harness.threat import member_threat

    path = suite_path(name_or_path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"suite {path}: not UTF-8 text ({exc.reason} at byte {exc.start}): save it as UTF-8"
        ) from exc
    except yaml.YAMLError as exc:
        raise ValueError(f"suite {path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(
            f"suite {path}: expected a mapping with name, description and members, got {type(data).__name__}"
        )
    unknown = set(data) - {"name", "description", "members"}
    if unknown:
        raise ValueError(
            f"suite {path}: unknown keys {sorted(unknown)} (expected name, description, members)"
        )
    raw = data.get("members")
    if not isinstance(raw, list) or not raw:
        raise ValueError(f"suite {path}: 'members' must be a non-empty list of {{attack: NAME, ...}}")
    members: list[SuiteMember] = []
    for i, entry in enumerate(raw):
        if not isinstance(entry, dict) or "attack" not in entry:
            raise ValueError(f"suite {path}: member {i + 1} needs an 'attack' key, got {entry!r}")
        options = {k: v for k, v in entry.items() if k != "attack"}
        try:
            expanded = expand_member(str(entry["attack"]), options)
            for m in expanded:
                rest, _, _ = split_ordering(m.options)  # a bad codec fails here
                member_threat(m.options)  # a bad threat fails here
                create_attack(m.attack, **rest)  # unknown keys / bad values fail here
        except (KeyError, ValueError, TypeError) as exc:
            raise ValueError(f"suite {path}: member {i + 1} ({entry.get('attack')}): {exc}") from exc
        members.extend(expanded)
    keys = [m.key for m in members]
    dupes = sorted({k for k in keys if keys.count(k) > 1})
    if dupes:
        raise ValueError(f"suite {path}: members repeat {dupes}; each (attack, strength) once")
    return Suite(
        str(data.get("name") or path.stem), str(data.get("description", "")), tuple(members), str(path)
    )


__all__ = ["Suite", "SuiteMember", "available_suites", "expand_member", "load_suite", "strength_tag"]
