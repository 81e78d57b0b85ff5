"""Command-line flags to config keys: the one translation every subcommand uses.

``--set attack.eps=4/255`` is ``attack_options.eps`` of :class:`~harness.runner.RunConfig`;
``--dataset``/``--root``/``--cache-dir``/``--device`` are ``data.*``. ``harness run``, ``check``,
``submit``, ``train`` and ``transfer`` all read their flags through these two functions.
"""

from __future__ import annotations

from typing import Any

from harness.config import SetItem

SET_PREFIXES = {
    "attack.": "attack_options.",
    "detector.": "detector_options.",
    "dataset.": "data.options.",
    "faces.": "data.faces.",
}


def translate_sets(items: list[str] | None) -> list[SetItem]:
    """``attack.eps=4/255`` -> ``attack_options.eps=4/255`` (and ``detector.``/``dataset.``/``faces.``).

    Each item remembers how it was given, so a bad value is reported as ``--set attack.eps=...``.
    """
    out = []
    for given in items or []:
        item = given
        for short, full in SET_PREFIXES.items():
            if item.startswith(short):
                item = full + item[len(short) :]
                break
        out.append(SetItem(item, given))
    return out


def data_flags(args: Any) -> dict[str, Any]:
    """The ``data`` section set by ``--dataset``, ``--root``, ``--cache-dir`` and ``--device``."""
    data: dict[str, Any] = {}
    for flag in ("dataset", "root", "cache_dir"):
        if hasattr(args, flag):
            data[flag] = getattr(args, flag)
    if getattr(args, "device", None):
        data["device"] = args.device
    return data


__all__ = ["SET_PREFIXES", "data_flags", "translate_sets"]
