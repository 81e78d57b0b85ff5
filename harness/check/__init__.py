"""``harness check``: run a suite, compare it with a committed baseline, fail CI on a regression.

``check(CheckConfig(...))`` runs the suite (default ``smoke``) through :func:`harness.workflow.run`
into the check's own results folder (default ``runs/check/``, its leaderboard in
``runs/check/leaderboards/``; never the repo's ``results/`` or ``leaderboards/``), and compares
the numbers with a baseline JSON written earlier, on purpose, by ``--update-baseline``. A
baseline is only compared with a run of the same detector, dataset, suite and split manifest.

The package reads in one direction:

* :mod:`~harness.check.config`: :class:`CheckConfig`, :class:`PerturbationRule`, the defaults;
* :mod:`~harness.check.model`: :class:`MemberDiff`, :class:`CheckReport` and the statuses;
* :mod:`~harness.check.snapshot`: a run's results as a baseline-shaped dict; whether a baseline fits;
* :mod:`~harness.check.judge`: :func:`compare`, the rule (in its docstring), a pure function;
* :mod:`~harness.check.formats`: the text table and the JUnit XML;
* :mod:`~harness.check.baseline`: reading and writing baseline files;
* :mod:`~harness.check.run`: :func:`check`, the library function;
* :mod:`~harness.check.cli`: ``harness check``'s flags and printout.
"""

from harness.check.baseline import load_baseline, write_baseline
from harness.check.cli import build_check_config, cli_check
from harness.check.config import (
    DEFAULT_RESULTS_DIR,
    DEFAULT_SUITE,
    DEFAULT_TOLERANCE,
    CheckConfig,
    PerturbationRule,
)
from harness.check.formats import junit_xml, render_table
from harness.check.judge import RULE, compare
from harness.check.model import (
    CLEAN,
    CLEAN_REGRESSION,
    COLLAPSED,
    ERROR,
    FAILING,
    IMPROVED,
    MISSING,
    NEW,
    PASS,
    REGRESSION,
    UNDEFINED,
    WEAKENED,
    WITHIN_CI,
    CheckReport,
    MemberDiff,
)
from harness.check.run import check
from harness.check.snapshot import BASELINE_SCHEMA, check_compatible, snapshot

__all__ = [
    "BASELINE_SCHEMA",
    "CLEAN",
    "CLEAN_REGRESSION",
    "COLLAPSED",
    "DEFAULT_RESULTS_DIR",
    "DEFAULT_SUITE",
    "DEFAULT_TOLERANCE",
    "ERROR",
    "FAILING",
    "IMPROVED",
    "MISSING",
    "NEW",
    "PASS",
    "REGRESSION",
    "RULE",
    "UNDEFINED",
    "WEAKENED",
    "WITHIN_CI",
    "CheckConfig",
    "CheckReport",
    "MemberDiff",
    "PerturbationRule",
    "build_check_config",
    "check",
    "check_compatible",
    "cli_check",
    "compare",
    "junit_xml",
    "load_baseline",
    "render_table",
    "snapshot",
    "write_baseline",
]
