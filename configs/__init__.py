"""The harness's shipped configs: suites, demo training recipes and CI baselines.

Installed as ``harness.configs`` (package data), so a wheel install finds them without the source
tree; :data:`CONFIGS_DIR` is where they are, in a checkout or an installed package alike.
"""

from pathlib import Path

CONFIGS_DIR = Path(__file__).resolve().parent

__all__ = ["CONFIGS_DIR"]
