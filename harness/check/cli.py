"""``harness check`` on the command line: flags -> :class:`CheckConfig` -> :func:`check` -> printout."""

from __future__ import annotations

import dataclasses
from typing import Any

from harness.check.config import DEFAULT_RESULTS_DIR, DEFAULT_SUITE, DEFAULT_TOLERANCE, CheckConfig
from harness.check.formats import render_table
from harness.check.model import CheckReport
from harness.check.run import check
from harness.check.snapshot import identity_changes
from harness.runner import RunConfig

_RUN_FLAGS = (
    "detector",
    "suite",
    "checkpoint",
    "device",
    "precision",
    "workers",
    "batch_size",
    "channels_last",
    "compile",
    "fresh",
)


def build_check_config(args: Any) -> CheckConfig:
    """A :class:`CheckConfig` from ``harness check`` flags (unset flags are absent: SUPPRESS)."""
    from harness.config import build_config
    from harness.flags import data_flags, translate_sets

    cli: dict[str, Any] = {k: getattr(args, k) for k in _RUN_FLAGS if hasattr(args, k)}
    data = data_flags(args)
    if data:
        cli["data"] = data
    run = build_config(
        RunConfig, getattr(args, "config", None), cli=cli, sets=translate_sets(getattr(args, "set", None))
    )
    if not run.suite:
        run = dataclasses.replace(run, suite=DEFAULT_SUITE)
    return CheckConfig(
        baseline=args.baseline,
        run=run,
        tolerance=getattr(args, "tolerance", DEFAULT_TOLERANCE),
        junit=getattr(args, "junit", None),
        update_baseline=bool(getattr(args, "update_baseline", False)),
        results_dir=getattr(args, "results_dir", DEFAULT_RESULTS_DIR),
    )


def _print_update(report: CheckReport) -> int:
    """``--update-baseline``: what changed against the previous baseline, or why none was written."""
    cur = report.current
    if not report.updated:
        failed = cur.get("failed_members", {})
        print(render_table(report.diffs, report.tolerance, perturbation=report.perturbation))
        print(
            f"harness check: baseline NOT written: {len(failed)} members failed to run ({', '.join(failed)})"
        )
        return 1
    for note in report.notes:
        print(f"note: {note}")
    if report.previous is None:
        print("new baseline (no comparable previous one); its values:")
    else:
        print("what changed against the previous baseline:")
        for line in identity_changes(report.previous, cur):
            print(f"  {line}")
    print(render_table(report.diffs, report.tolerance, verdict=False, perturbation=report.perturbation))
    print(f"harness check: baseline written to {report.baseline_path}")
    return 0


def cli_check(args: Any) -> int:
    """``harness check``: 0 pass (or baseline written), 1 regression; usage errors raise (exit 2)."""
    config = build_check_config(args)
    report = check(config, progress=not getattr(args, "quiet", False))
    cur = report.current
    print(
        f"harness check: {cur['detector']} on {cur['dataset']}, suite {cur['suite']} "
        f"({len(cur['suite_members'])} members), {report.seconds:.0f}s; baseline {report.baseline_path}"
    )
    if config.update_baseline:
        return _print_update(report)
    print(render_table(report.diffs, report.tolerance, perturbation=report.perturbation))
    if report.previous and report.previous.get("checkpoint_sha256") != cur.get("checkpoint_sha256"):
        print(
            "note: the checkpoint differs from the baseline's (a demo model retrained on another machine "
            "may differ slightly); numbers are compared all the same"
        )
    if report.junit_path:
        print(f"junit: {report.junit_path}")
    return 0 if report.passed else 1


__all__ = ["build_check_config", "cli_check"]
