"""Threat models: where an attack acts and what stands between it and the detector.

``crops`` (default): the attack perturbs the face crops the detector sees. ``pipeline``: it
perturbs the full video frames, which are re-encoded and go through face detection again
(:mod:`harness.pipeline`). A run's threat (``--threat``, ``--set threat.crf=...``) applies to
every member; a suite member may set its own (``threat: pipeline`` or a mapping). Light on
purpose (no torch): suites and the CLI read it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

THREATS = ("crops", "pipeline")
PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")


@dataclass(frozen=True)
class ThreatConfig:
    """Where the attack acts and what stands between it and the detector.

    ``model``: ``crops`` (the attack perturbs the face crops the detector sees; default) or
    ``pipeline`` (the attack perturbs the full video frames, which are re-encoded and go through
    face detection again). ``crf``: the H.264 CRF of the delivered video (0..51) or
    ``"lossless"``; ``preset``: x264's preset. The last two apply to ``pipeline`` only. The
    delivered video is written upright (a source's display matrix applied, none written), so it
    shows what the source shows.
    """

    model: str = "crops"
    crf: int | str = 23
    preset: str = "medium"

    def __post_init__(self) -> None:
        if self.model not in THREATS:
            raise ValueError(f"threat must be one of {THREATS}, got {self.model!r}")
        if self.crf != "lossless" and not (isinstance(self.crf, int) and 0 <= self.crf <= 51):
            raise ValueError(f"threat.crf must be 0..51 or 'lossless', got {self.crf!r}")
        if self.preset not in PRESETS:
            raise ValueError(f"threat.preset must be one of {PRESETS}, got {self.preset!r}")

    @property
    def pipeline(self) -> bool:
        return self.model == "pipeline"

    def tag(self) -> str:
        """The file-name suffix: ``""`` for crops, ``+pipeline-crf23`` / ``+pipeline-lossless``."""
        if not self.pipeline:
            return ""
        crf = "lossless" if self.crf == "lossless" else f"crf{self.crf}"
        return f"+pipeline-{crf}" + ("" if self.preset == "medium" else f"-{self.preset}")


def member_threat(options: dict[str, Any], default: ThreatConfig | None = None) -> ThreatConfig:
    """A suite member's threat: its ``threat`` setting (a name or a mapping) over ``default``."""
    from harness.config import from_dict

    base = asdict(default or ThreatConfig())
    value = options.get("threat")
    if value is None:
        return ThreatConfig(**base)
    if isinstance(value, str):
        value = {"model": value}
    if not isinstance(value, dict):
        raise ValueError(f"threat must be 'crops', 'pipeline' or a mapping, got {value!r}")
    return from_dict(ThreatConfig, {**base, **value}, where="threat")


__all__ = ["PRESETS", "THREATS", "ThreatConfig", "member_threat"]
