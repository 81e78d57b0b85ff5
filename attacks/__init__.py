"""Attacks on detectors: gradient attacks (torchattacks), black-box attacks (ART) and
compression/corruption perturbations, all behind one contract (:mod:`harness.attacks._base`).

Adding an attack: write ``attacks/<key>.py`` with an :class:`~harness.attacks._base.Attack`
subclass decorated ``@register_attack`` (no name: the key is the file name; the registry sets the
class's ``name``) with a frozen ``Config`` dataclass of its settings, ``norm``,
``uses_gradients``, ``black_box`` and one ``run`` method, and add one
``ATTACKS.register_lazy("<key>", "<description>")`` line below (the description is what
``harness ls attacks`` prints without importing torch, torchattacks, ART or PyAV). The ``Config``
dataclass is the one definition of the attack's defaults (a YAML file or ``--set attack.x=...``
overrides them). The tests pick it up from the registry.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from harness.registry import Registry, name_class

if TYPE_CHECKING:
    from harness.attacks._base import Attack


ATTACKS: Registry[Any] = Registry(
    "attack", entry_point_group="harness.attacks", package=__name__, bind=name_class
)
register_attack = ATTACKS.register

# White-box, gradient-based (torchattacks)
ATTACKS.register_lazy("fgsm", "FGSM (Goodfellow et al., 2015): one signed-gradient step, L-inf")
ATTACKS.register_lazy("pgd", "PGD (Madry et al., 2018): projected signed-gradient steps, L-inf")
ATTACKS.register_lazy("pgdl2", "PGD (Madry et al., 2018) in the L2 norm")
ATTACKS.register_lazy(
    "uap", "Universal perturbation learned on the train split's fakes, added to every video, L-inf"
)
ATTACKS.register_lazy(
    "pgd_eot", "PGD with expectation over JPEG/blur/resize/noise: survives compression, L-inf"
)
ATTACKS.register_lazy("mifgsm", "MI-FGSM (Dong et al., 2018): iterative FGSM with momentum, L-inf")
ATTACKS.register_lazy("apgd", "APGD-CE (Croce & Hein, 2020): step-size-free PGD, cross-entropy loss, L-inf")
ATTACKS.register_lazy("cw", "Carlini-Wagner L2 (2017), projected to an L2 budget")
# Black-box (ART)
ATTACKS.register_lazy("square", "Square attack (Andriushchenko et al., 2020): score-based black-box, L-inf")
ATTACKS.register_lazy("hopskipjump", "HopSkipJump (Chen et al., 2020): decision-based black-box, L2")
# Perturbations without gradients
ATTACKS.register_lazy("jpeg", "JPEG re-compression at a quality (perturbation)")
ATTACKS.register_lazy("h264", "H.264 (libx264) re-encoding at a CRF, per clip or frame (perturbation)")
ATTACKS.register_lazy("blur", "Gaussian blur with a sigma in pixels (perturbation)")
ATTACKS.register_lazy("noise", "Additive Gaussian noise, seeded (perturbation)")
ATTACKS.register_lazy("resize", "Down-scale by a factor and back up, bilinear (perturbation)")


def create_attack(name: str, config: str | os.PathLike[str] | None = None, **settings: Any) -> Attack:
    """Build attack ``name``: dataclass defaults < YAML file ``config`` < ``settings``.

    Unknown keys are errors with a "did you mean" hint; ``"4/255"`` is accepted for numbers.
    """
    from harness.config import build_config

    cls = ATTACKS.get(name)
    return cls(build_config(cls.Config, config, cli=settings, cli_source=f"attack {name!r}"))


def __getattr__(attr: str) -> Any:
    # Lazy re-exports of the contract types: `import harness.attacks` stays free of torch.
    if attr in (
        "Attack",
        "AttackConfig",
        "AttackResult",
        "AttackError",
        "AttackModel",
        "project_linf",
        "project_l2",
        "zero_gradient_mask",
    ):
        from harness.attacks import _base

        return getattr(_base, attr)
    if attr == "linf_pgd":  # the PGD loop adversarial training shares (harness.robust_train)
        from harness.attacks._loop import linf_pgd

        return linf_pgd
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")


__all__ = ["ATTACKS", "create_attack", "linf_pgd", "register_attack"]
