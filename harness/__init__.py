"""Deepfake-detector robustness harness: how well does a detector hold up under attack?

Subpackages (installed under this one namespace so nothing shadows Hugging Face ``datasets``):
``harness.detectors``, ``harness.attacks``, ``harness.datasets``.
"""

from harness.version import package_version

__version__ = package_version()
__all__ = ["__version__"]
