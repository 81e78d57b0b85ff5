"""``evaluate``: score a detector clean and under attack; the library function behind ``harness run``.

The package reads in one direction: :mod:`~harness.runner.config` (what to run) ->
:mod:`~harness.runner.context` (data, detector, work plan, resumable stages) ->
:mod:`~harness.runner.compute` (forward passes, the clean stage) -> :mod:`~harness.runner.member`
(one attack member; :mod:`~harness.runner.convergence`: its convergence check) ->
:mod:`~harness.runner.document` (the result with its provenance) -> :mod:`~harness.runner.evaluate`.
Training a missing model, saving results and regenerating the leaderboard are the caller's steps
(:mod:`harness.workflow`).
"""

from harness.results import RESULT_SCHEMA
from harness.runner.config import VAL_FPR, RunConfig, RunResult, attack_plan, threshold_provenance
from harness.runner.context import unit_seed
from harness.runner.document import format_table
from harness.runner.evaluate import Interrupted, MemberFailure, SuiteError, evaluate
from harness.runner.member import save_crops

__all__ = [
    "RESULT_SCHEMA",
    "VAL_FPR",
    "Interrupted",
    "MemberFailure",
    "RunConfig",
    "RunResult",
    "SuiteError",
    "attack_plan",
    "evaluate",
    "format_table",
    "save_crops",
    "threshold_provenance",
    "unit_seed",
]
