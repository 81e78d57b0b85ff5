"""Attacks on detectors: gradient attacks (torchattacks), black-box attacks (ART) and
compression/corruption perturbations. Registered like detectors: ``@register_attack("pgd")`` in
``attacks/pgd.py`` plus one ``ATTACKS.register_lazy`` line here (none yet: see the issues)."""

from __future__ import annotations

from typing import Any

from harness.registry import Registry

ATTACKS: Registry[Any] = Registry("attack")
register_attack = ATTACKS.register

__all__ = ["ATTACKS", "register_attack"]
