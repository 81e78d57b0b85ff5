"""The steps of ``harness run`` composed in one direction: model -> evaluate -> results -> leaderboard.

``evaluate`` (:mod:`harness.runner`) computes; this module is the caller's side around it: it
finds or trains the detector's weights, hands ``evaluate`` the store its results are saved to,
and regenerates the leaderboard of that store afterwards. ``harness run``, ``check`` and
``submit`` all go through :func:`run`; a notebook can too, or call the steps itself.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from harness.results import ResultStore, default_leaderboard_dir
from harness.runner import RunConfig, RunResult, SuiteError


def leaderboard_dir(config: RunConfig) -> Path:
    """Where ``config``'s leaderboard goes: ``leaderboard_dir``, else ``leaderboards/`` beside the results."""
    return (
        Path(config.leaderboard_dir)
        if config.leaderboard_dir
        else default_leaderboard_dir(config.results_dir)
    )


def ensure_detector(config: RunConfig, progress: bool = True) -> tuple[RunConfig, Any]:
    """The zoo detector ``config`` names, with its weights: ``checkpoint``, or on the embedded
    benchmark the demo model (trained once, then cached). ``name`` files it under another row;
    without one, a detector with randomized smoothing is the row ``<detector>-smooth<sigma>``.

    Returns the config to evaluate (``checkpoint`` filled in) and the detector.
    """
    import re

    from harness import distributed
    from harness.detectors import DETECTORS, create_detector

    if config.name is not None:
        if not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", config.name) or config.name in DETECTORS:
            raise ValueError(
                f"name {config.name!r}: use 1-64 letters, digits, '.', '_' or '-', not a zoo detector's name"
            )
        if not config.checkpoint:
            raise ValueError("name needs a checkpoint: it names a zoo detector with given weights")
    checkpoint = config.checkpoint
    if not checkpoint:
        if config.data.dataset != "synthetic":
            raise ValueError(
                f"dataset {config.data.dataset!r} needs --checkpoint PATH (demo models exist only for the "
                "embedded benchmark; train one with `harness train` or use mesonet:Meso4_DF-style weights)"
            )
        from harness.train import ensure_demo_model

        with distributed.main_first():
            checkpoint = str(ensure_demo_model(config.detector, config.data, config.device, progress))
    detector = create_detector(config.detector, checkpoint=checkpoint, **config.detector_options)
    from harness.smoothing import smoothed_row_name

    # a smoothed detector is a row of its own (cnn-smooth0p25), never the base detector's
    row = config.name or smoothed_row_name(config.detector, config.detector_options) or config.detector
    return dataclasses.replace(config, detector=row, checkpoint=checkpoint, name=None), detector


def run(
    config: RunConfig,
    progress: bool = True,
    *,
    detector: Any = None,
    members: list[Any] | None = None,
    leaderboard: bool = True,
) -> list[RunResult]:
    """Ensure the model, evaluate into ``config.results_dir``, regenerate that folder's leaderboard.

    ``detector``: a ready detector (a submission; ``config.checkpoint`` names its weights) instead
    of the zoo's. ``members``: evaluate these instead of the config's plan (a filtered suite).
    ``leaderboard``: regenerate the leaderboard (rank 0) once any result was saved, also when some
    members failed (:class:`~harness.runner.SuiteError` is re-raised after it).
    """
    from harness import distributed
    from harness.runner import attack_plan, evaluate

    attack_plan(config)  # a bad suite or attack setting fails now, not after a model is trained
    if detector is None:
        config, detector = ensure_detector(config, progress)
    store = ResultStore(config.results_dir)
    results: list[RunResult] = []
    try:
        results = evaluate(config, detector, members=members, store=store, progress=progress)
    except SuiteError as exc:
        results = exc.results
        raise
    finally:
        if leaderboard and results and distributed.is_main():
            from harness.leaderboard import write_leaderboards

            write_leaderboards(Path(config.results_dir), leaderboard_dir(config))
    return results


__all__ = ["ensure_detector", "leaderboard_dir", "run"]
