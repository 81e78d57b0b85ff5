"""Writing the leaderboard folder: tables, page and figures, replaced together atomically."""

from __future__ import annotations

import fcntl
from pathlib import Path

from harness.fileio import same_content, write_files_atomic
from harness.leaderboard.board import render
from harness.leaderboard.figures import FIGURES_DIR, draw_figure, figure_comment


def write_leaderboards(results_dir: Path, leaderboard_dir: Path) -> list[Path]:
    """Regenerate ``leaderboard.md``, ``leaderboard.csv``, ``index.html``, ``threats.csv`` and
    ``transfer.csv`` (when there are such results) and ``figures/*.png`` from every result in
    ``results_dir``; figures no longer referred to are removed. Returns the paths written or kept.

    Serialized by an exclusive lock on ``leaderboard_dir/.lock``: two runs finishing at once
    regenerate one after the other, and since each run writes its result before it takes the
    lock, the last regeneration sees every result (none is lost from the tables).
    """
    leaderboard_dir = Path(leaderboard_dir)
    leaderboard_dir.mkdir(parents=True, exist_ok=True)
    with open(leaderboard_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _write(Path(results_dir), leaderboard_dir)


def _write(results_dir: Path, leaderboard_dir: Path) -> list[Path]:
    """Render everything in memory, then replace every changed file together (all or nothing:
    a full disk leaves the old tables, page and figures, never a mix), then remove stale ones."""
    out = render(results_dir)
    files: dict[Path, bytes] = {}  # what to write: changed files only
    paths, stale = [], []
    for name, text in (
        ("leaderboard.md", out.markdown),
        ("leaderboard.csv", out.csv),
        ("index.html", out.html),
        ("threats.csv", out.threats_csv),
        ("transfer.csv", out.transfer_csv),
    ):
        path = leaderboard_dir / name
        if text:
            data = text.encode("utf-8")  # UTF-8 whatever the locale: the page says so
            if not same_content(path, data):
                files[path] = data
            paths.append(path)
        else:  # no pipeline or transfer results (any more): no stale table
            stale.append(path)
    keep = set()
    for plan in sorted(out.figures.values(), key=lambda p: p.path):
        path = leaderboard_dir / plan.path
        if not _current(path, figure_comment(plan, out.records)):  # unchanged rows are not redrawn
            files[path] = draw_figure(plan, out.records)
        keep.add(path.name)
        paths.append(path)
    if out.certified_figure is not None:  # certified AUROC vs radius (harness certify results)
        path = leaderboard_dir / out.certified_figure.path
        if not _current(path, out.certified_figure.comment()):
            files[path] = out.certified_figure.draw()
        keep.add(path.name)
        paths.append(path)
    fig_dir = leaderboard_dir / FIGURES_DIR
    if fig_dir.is_dir():
        stale += [p for p in sorted(fig_dir.glob("*.png")) if p.name not in keep]
    write_files_atomic(files)
    for path in stale:
        path.unlink(missing_ok=True)
    return paths


def _current(path: Path, comment: bytes) -> bool:
    """Whether the PNG at ``path`` was drawn from the same inputs (it carries their digest)."""
    try:
        return comment in path.read_bytes()
    except OSError:
        return False
