"""``check()``: run the suite into the check's own folder, snapshot it, judge it, write what was asked.

The steps read in one direction: load the baseline and refuse one of another run (before any
work) -> :func:`harness.workflow.run` (model -> evaluate -> results -> leaderboard, into
``results_dir``) -> :func:`~harness.check.snapshot.snapshot` -> :func:`~harness.check.judge.compare`
-> write the baseline (``--update-baseline``) or the JUnit XML (rank 0 only).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.check.baseline import load_baseline, write_baseline
from harness.check.config import DEFAULT_SUITE, CheckConfig
from harness.check.formats import junit_xml
from harness.check.judge import compare
from harness.check.model import CheckReport, MemberDiff
from harness.check.snapshot import check_compatible, snapshot
from harness.fileio import write_text_atomic
from harness.results import result_key

_EMPTY = {"clean": None, "members": {}}  # what a run is compared with when there is no usable baseline


def _previous(config: CheckConfig, identity: dict[str, Any], notes: list[str]) -> dict[str, Any] | None:
    """The baseline to compare with. Without ``update_baseline`` it must exist and fit this run;
    with it, one that does not fit is replaced on purpose (noted) and nothing is compared."""
    if not config.update_baseline:
        previous = load_baseline(config.baseline)
        check_compatible(previous, **identity, where=f"baseline {config.baseline}")
        return previous
    if not Path(config.baseline).is_file():
        return None
    try:
        previous = load_baseline(config.baseline)
        check_compatible(previous, **identity)
    except ValueError as exc:
        notes.append(f"replacing a baseline that does not compare with this run: {exc}")
        return None
    return previous


def check(config: CheckConfig, progress: bool = True) -> CheckReport:
    """Run the suite and judge it against the baseline (or write the baseline, on purpose).

    A baseline for another detector, dataset or suite is refused before any work; a missing
    baseline is an error unless ``update_baseline``. Members that fail to run are errors in the
    report, with the reasons :class:`~harness.runner.SuiteError` carries (the others still run).
    With ``update_baseline`` the previous baseline, if it fits, is compared with so the caller can
    print what changed; the new one is written only when every member ran.

    The results and their leaderboard go to ``config.results_dir`` and
    ``config.results_dir/leaderboards``, never to the repo's ``results/`` or ``leaderboards/``.
    """
    from harness import workflow
    from harness.distributed import is_main
    from harness.runner import SuiteError
    from harness.suites import load_suite
    from harness.version import code_version

    suite = load_suite(config.run.suite or DEFAULT_SUITE)
    keys = [m.key for m in suite.members]
    run = dataclasses.replace(
        config.run,
        suite=config.run.suite or DEFAULT_SUITE,
        results_dir=config.results_dir,
        leaderboard_dir=str(Path(config.results_dir) / "leaderboards"),
    )
    identity = {"detector": run.detector, "dataset": run.data.dataset, "suite": suite.name}
    notes: list[str] = []
    previous = _previous(config, identity, notes)

    start = time.perf_counter()
    failed: dict[str, str] = {}
    try:
        results = workflow.run(run, progress, leaderboard=True)
    except SuiteError as exc:
        results = exc.results
        failed = {f.key: f.message for f in exc.failures}
    seconds = time.perf_counter() - start

    current = snapshot(
        [r.result for r in results],
        suite=suite.name,
        suite_members=keys,
        tolerance=config.tolerance,
        failed=failed,
        code_version=code_version(),
        created=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    )
    if previous is not None and current["split_manifest_hash"]:
        try:
            check_compatible(
                previous,
                **identity,
                split_manifest_hash=current["split_manifest_hash"],
                where=f"baseline {config.baseline}",
            )
        except ValueError as exc:
            if not config.update_baseline:
                raise
            previous = None
            notes.append(f"replacing a baseline that does not compare with this run: {exc}")
    diffs = compare(
        previous if previous is not None else _EMPTY, current, config.tolerance, config.perturbation
    )

    updated = False
    junit_path = None
    if not is_main():  # under torchrun rank 0 alone writes the baseline and the JUnit file
        pass
    elif config.update_baseline:
        if not failed:
            write_baseline(config.baseline, current)
            updated = True
    elif config.junit:
        times = {result_key(r.result): float(r.result["metrics"].get("attack_seconds", 0.0)) for r in results}
        junit_path = _write_junit(config, run.detector, suite.name, diffs, current, previous, times, seconds)
    return CheckReport(
        diffs=tuple(diffs),
        current=current,
        previous=previous,
        baseline_path=Path(config.baseline),
        tolerance=config.tolerance,
        updated=updated,
        junit_path=junit_path,
        results=tuple(r.path for r in results if r.path is not None),
        seconds=seconds,
        notes=tuple(notes),
        perturbation=config.perturbation,
    )


def _write_junit(
    config: CheckConfig,
    detector: str,
    suite: str,
    diffs: Sequence[MemberDiff],
    current: Mapping[str, Any],
    previous: Mapping[str, Any] | None,
    times: Mapping[str, float],
    seconds: float,
) -> Path:
    """The check's JUnit XML at ``config.junit``, with the run's identity as properties."""
    name = f"harness check {detector}/{current['dataset'] or config.run.data.dataset}/{suite}"
    xml = junit_xml(
        diffs,
        name=name,
        classname=f"harness.check.{detector}.{suite}",
        times=times,
        seconds=seconds,
        properties={
            "baseline": config.baseline,
            "tolerance": config.tolerance,
            "baseline_checkpoint_sha256": previous.get("checkpoint_sha256") if previous else None,
            "checkpoint_sha256": current["checkpoint_sha256"],
            "split_manifest_hash": current["split_manifest_hash"],
            "code_version": current["code_version"],
        },
    )
    return write_text_atomic(str(config.junit), xml)


__all__ = ["check"]
