"""``evaluate``: score a detector clean once, then under every member of the run."""

from __future__ import annotations

import contextlib
import sys
from dataclasses import dataclass
from typing import Any

from harness.provenance import portable
from harness.results import ResultStore
from harness.runner.compute import clean_stage
from harness.runner.config import RunConfig, RunResult, attack_plan
from harness.runner.context import RunContext, kept, member_run_key, prepare, shown
from harness.runner.member import run_member


@dataclass(frozen=True)
class MemberFailure:
    """One member of a run that failed: its key (``attack@tag``), the error's type and message."""

    key: str
    error_type: str
    message: str


class SuiteError(RuntimeError):
    """Some members of a run failed; the others finished (``.results``, saved when the run has a
    store). ``.failures`` says which failed and why, as data."""

    def __init__(self, failures: list[MemberFailure], results: list[RunResult], n_members: int) -> None:
        self.failures = list(failures)
        self.results = list(results)
        self.n_members = n_members
        super().__init__(
            f"{len(self.failures)} of {n_members} members failed ({len(self.results)} finished): "
            + "; ".join(f"{f.key}: {f.message}" for f in self.failures)
        )


class Interrupted(KeyboardInterrupt):
    """A run stopped by Ctrl-C (or SIGTERM, under the CLI), with what it keeps for a re-run.

    ``saved``: members finished and saved by this attempt; ``stages``: ``(label, batches in the
    resume logs, batches)`` of every stage begun and not finished; ``where``: the resume logs
    (``None``: a run without a results folder keeps nothing). ``str()`` is one line for the user.
    A ``KeyboardInterrupt``, so code that handles Ctrl-C handles it unchanged.
    """

    def __init__(self, saved: int, stages: list[tuple[str, int, int]], where: str | None) -> None:
        self.saved, self.stages, self.where = saved, list(stages), where
        self.kept = sum(k for _, k, _ in self.stages) if where else 0
        self.total = sum(n for _, _, n in self.stages)
        members = f"{saved} finished member{'s' if saved != 1 else ''} saved, " if saved else ""
        if where is None:
            message = "interrupted: nothing kept (no results folder to resume from)"
        else:
            detail = ", ".join(f"{label} {k} of {n}" for label, k, n in self.stages)
            message = (
                f"interrupted: {members}{self.kept} of {self.total} batches kept ({detail}) in {where}; "
                "run the same command to resume"
            )
        super().__init__(message)


def finished(ctx: RunContext, member: Any, suite: str | None) -> RunResult | None:
    """The result of ``member`` if this exact run (same run key) already saved it to the store.

    Its per-video table stays in the store (``videos`` is empty; read the ``.videos.csv``)."""
    store: ResultStore | None = ctx.store
    if store is None or ctx.config.fresh:
        return None
    path = store.path(
        {
            "attack": member.attack,
            "budget_tag": member.tag,
            "dataset": ctx.prep.manifest.dataset,
            "detector": ctx.config.detector,
        }
    )
    result = store.load(path)
    if result is None:
        return None
    if result.get("run_key") != member_run_key(ctx, member) or result.get("suite") != portable(
        suite, ctx.config.data.cache_dir
    ):
        return None
    return RunResult(result, {}, path)


def evaluate(
    config: RunConfig,
    detector: Any = None,
    *,
    members: list[Any] | None = None,
    store: ResultStore | None = None,
    progress: bool = True,
) -> list[RunResult]:
    """Score ``detector`` clean once, then under every member (attack x settings); the results as data.

    ``detector``: a ready :class:`~harness.detectors.Detector` whose weights ``config.checkpoint``
    names (``None``: built from the zoo with ``config.checkpoint``; training a missing demo model
    is the caller's step, :func:`harness.workflow.ensure_detector`). ``members``: evaluate these
    (a filtered suite) instead of the plan from ``config``. Nothing here trains a model or writes
    a leaderboard.

    ``store``: a :class:`~harness.results.ResultStore`. With one, each member's result is saved
    the moment it finishes (an interrupted or failing run keeps the finished ones), every finished
    batch goes to a resume log under the store (re-running the same command after a kill continues
    where it stopped), and a member whose result this exact run already saved is returned, not
    recomputed (``fresh=True`` recomputes). Without one, nothing is written but a temporary resume
    log, and ``RunResult.path`` is ``None``.

    Streams batches from the face cache (memory does not grow with the number of videos); under
    torchrun the batches are shared among the processes by video and rank 0 saves the results.
    A failing member of a multi-member run is reported and the others still run; the run then
    raises :class:`SuiteError` with the failures as data and the finished results.
    """
    from harness import distributed, metrics
    from harness.records import remove

    if config.aggregate not in metrics.AGGREGATIONS:
        raise ValueError(f"aggregate must be one of {metrics.AGGREGATIONS}, got {config.aggregate!r}")
    if config.workers < 0:
        raise ValueError(f"workers must be >= 0, got {config.workers}")
    if config.name:
        raise ValueError("config.name is resolved by harness.workflow.ensure_detector before evaluate")
    planned, suite = attack_plan(config)
    members = planned if members is None else members
    with distributed.process_group(config.device) as w:
        progress = progress and w.main
        if detector is None:
            from harness.detectors import create_detector

            if not config.checkpoint:
                raise ValueError(
                    f"{config.detector}: evaluate needs config.checkpoint (harness.workflow.run trains "
                    "the embedded benchmark's demo model when none is given)"
                )
            detector = create_detector(
                config.detector, checkpoint=config.checkpoint, **config.detector_options
            )
        ctx = prepare(config, detector, store, progress)
        if config.fresh:
            distributed.barrier()
            if w.main:
                remove(ctx.state_dir)
            distributed.barrier()
        # Rank 0 decides what is finished (the others may not see its results folder).
        done = distributed.broadcast({m.key: finished(ctx, m, suite) for m in members} if w.main else None)
        results: list[RunResult] = []
        saved = 0  # members finished by this attempt
        failed: list[MemberFailure] = []
        todo = [m for m in members if done[m.key] is None]
        if w.main and len(todo) < len(members):
            names = ", ".join(m.key for m in members if done[m.key] is not None)
            print(
                f"harness: already finished (same code, data, checkpoint and settings): {names}; "
                "--fresh recomputes",
                file=sys.stderr,
            )
        try:
            if todo:
                from harness.attacks import ATTACKS

                clean_stage(ctx, progress, gradients=any(ATTACKS.get(m.attack).uses_gradients for m in todo))
            for member in members:
                if done[member.key] is not None:
                    results.append(done[member.key])
                    continue
                if len(members) == 1:
                    results.append(dispatch(ctx, member, suite, progress))
                    saved += 1
                    continue
                try:
                    results.append(dispatch(ctx, member, suite, progress, len(members)))
                    saved += 1
                except (RuntimeError, ValueError, FloatingPointError, OSError) as exc:
                    failed.append(MemberFailure(member.key, type(exc).__name__, str(exc)))
                    if w.main:
                        print(f"harness: {member.key} failed, continuing with the others: {exc}")
        except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM under the CLI: say what is kept
            stages = kept(ctx)
            raise Interrupted(saved, stages, shown(ctx.state_dir) if store is not None else None) from exc
        finally:
            if store is None:  # a temporary resume log never outlives its run
                remove(ctx.state_dir)
        if not failed and todo and store is not None:
            distributed.barrier()
            remove(ctx.state_dir)
            for parent in list(ctx.state_dir.parents)[:3]:  # <detector>, <dataset>, .partial
                with contextlib.suppress(OSError):
                    parent.rmdir()  # only when empty
    if failed:
        raise SuiteError(failed, results, len(members))
    return results


def dispatch(
    ctx: RunContext, member: Any, suite: str | None, progress: bool, n_members: int = 1
) -> RunResult:
    """Run one member under its threat model."""
    from harness.threat import member_threat

    threat = member_threat(member.options)
    if threat.pipeline:
        from harness.pipeline import run_pipeline_member

        return run_pipeline_member(ctx, member, suite, progress, threat, n_members)
    return run_member(ctx, member, suite, progress, n_members)
