"""Transfer matrices: attacked AUROC of adversarial examples crafted on one detector (source) and
scored by others (targets), from the results of ``harness transfer``."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.leaderboard.cells import ABSENT, Cell, heat_cell
from harness.leaderboard.rows import oldest_first, value_or_nan
from harness.leaderboard.text import fmt, format_ci, md, slug, strength_label
from harness.results import interval, number

TRANSFER_NOTE = (
    "Adversarial examples crafted once on the source detector (rows) at the stored crop resolution, "
    "through a differentiable resize to the source's input size, delivered as 8-bit crops inside the "
    "budget, and scored by each target detector (columns) through the same uint8 resize as clean "
    "crops (`harness transfer`). Cells: video-level AUROC on the attacked videos, [brackets]: 95% "
    "bootstrap interval resampled by video; the diagonal (bold, outlined on the page) is the "
    "white-box number, off-diagonal cells are transfer. The clean row is each target's clean AUROC on "
    "the same videos."
)


@dataclass(frozen=True)
class TransferMatrix:
    """Source x target attacked AUROC of one (dataset, attack, budget), from transfer results.

    ``cells[(source, target)]``: the target's entry of the source's result (``auroc_adv``,
    ``auroc_adv_ci``, ``auroc_clean``, ``auroc_drop``, ``white_box``, ...); ``clean[target]``:
    the target's clean AUROC and interval (the same videos in every row). Rows: sources sorted
    by name; columns: the targets that are also sources in row order (so the diagonal is the
    white-box one), then the others sorted.
    """

    dataset: str
    attack: str
    budget_tag: str
    label: str  # "pgd ε 4/255"
    sources: tuple[str, ...]
    targets: tuple[str, ...]
    cells: dict[tuple[str, str], dict[str, Any]]
    clean: dict[str, tuple[float, tuple[float, float] | None]]
    n_videos: int | None
    results: dict[str, dict[str, Any]]  # source -> result

    @property
    def key(self) -> str:
        return f"{self.dataset}/{self.attack}@{self.budget_tag}"

    @property
    def title(self) -> str:
        """``pgd ε 4/255 on synthetic, 40 videos``."""
        n = f", {self.n_videos} videos" if self.n_videos is not None else ""
        return f"{self.label} on {self.dataset}{n}"


def transfer_matrices(results: Sequence[Mapping[str, Any]]) -> list[TransferMatrix]:
    """One :class:`TransferMatrix` per (dataset, attack, budget tag); the latest result of a source wins."""
    groups: dict[tuple[str, str, str], dict[str, Mapping[str, Any]]] = {}
    for r in oldest_first(results):
        key = (str(r["dataset"]), str(r["attack"]), str(r["budget_tag"]))
        groups.setdefault(key, {})[str(r["source"])] = r
    out = []
    for (dataset, attack, tag), by_source in sorted(groups.items()):
        sources = tuple(sorted(by_source))
        present = {t for r in by_source.values() for t in r["targets"]}
        targets = tuple(s for s in sources if s in present) + tuple(sorted(present - set(sources)))
        cells: dict[tuple[str, str], dict[str, Any]] = {}
        clean: dict[str, tuple[float, tuple[float, float] | None]] = {}
        for src in sources:
            for tgt, entry in by_source[src]["targets"].items():
                cells[(src, str(tgt))] = dict(entry)
                if str(tgt) not in clean:
                    clean[str(tgt)] = (
                        value_or_nan(entry.get("auroc_clean")),
                        interval(entry.get("auroc_clean_ci")),
                    )
        first = by_source[sources[0]]
        n = first.get("n_videos")
        out.append(
            TransferMatrix(
                dataset=dataset,
                attack=attack,
                budget_tag=tag,
                label=" ".join(x for x in (attack, strength_label(first)) if x),
                sources=sources,
                targets=targets,
                cells=cells,
                clean=clean,
                n_videos=n if isinstance(n, int) else None,
                results={k: dict(v) for k, v in by_source.items()},
            )
        )
    return out


def _auroc(entry: Mapping[str, Any], name: str) -> str:
    """``0.912 [0.85, 0.96]`` of ``entry[name]`` and ``entry[name + "_ci"]``."""
    return format_ci(number(entry.get(name)), interval(entry.get(f"{name}_ci")))


def render_transfer_markdown(matrices: Sequence[TransferMatrix]) -> list[str]:
    """The Markdown section of the transfer matrices (no lines without any)."""
    if not matrices:
        return []
    lines = ["", "## Transfer: attacked AUROC, source (rows) x target (columns)", "", TRANSFER_NOTE]
    for m in matrices:
        n = f", {m.n_videos} videos" if m.n_videos is not None else ""
        lines += ["", f"### {md(m.label)} on {md(m.dataset)}{n}", ""]
        lines.append("| source ↓ · target → | " + " | ".join(md(t) for t in m.targets) + " |")
        lines.append("|---|" + "---|" * len(m.targets))
        clean = [format_ci(*m.clean[t]) if t in m.clean else "" for t in m.targets]
        lines.append("| *clean* | " + " | ".join(clean) + " |")
        for src in m.sources:
            cells = []
            for tgt in m.targets:
                e = m.cells.get((src, tgt))
                if e is None:
                    cells.append("")
                    continue
                text = _auroc(e, "auroc_adv")
                cells.append(f"**{text}**" if e.get("white_box") else text)
            lines.append(f"| {md(src)} | " + " | ".join(cells) + " |")
    lines += ["", "Per cell with the drop and checkpoints: [transfer.csv](transfer.csv)."]
    return lines


def _num(v: Any) -> str:
    n = number(v)
    return "" if n is None else f"{n:.4f}"


def _ci(c: Any) -> list[str]:
    ci = interval(c)
    return [_num(ci[0]), _num(ci[1])] if ci else ["", ""]


def render_transfer_csv(matrices: Sequence[TransferMatrix]) -> str:
    """One line per (dataset, attack, budget, source, target); empty without transfer results."""
    if not matrices:
        return ""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(
        [
            "dataset", "attack", "budget_tag", "source", "target", "white_box",
            "auroc_clean", "auroc_clean_lo", "auroc_clean_hi", "auroc_adv", "auroc_adv_lo", "auroc_adv_hi",
            "auroc_drop", "auroc_drop_lo", "auroc_drop_hi", "n_videos",
            "source_checkpoint_sha256", "target_checkpoint_sha256", "store_key",
        ]
    )  # fmt: skip
    for m in matrices:
        for src in m.sources:
            r = m.results[src]
            for tgt in m.targets:
                e = m.cells.get((src, tgt))
                if e is None:
                    continue
                w.writerow(
                    [
                        m.dataset, m.attack, m.budget_tag, src, tgt, "true" if e.get("white_box") else "false",
                        _num(e.get("auroc_clean")), *_ci(e.get("auroc_clean_ci")),
                        _num(e.get("auroc_adv")), *_ci(e.get("auroc_adv_ci")),
                        _num(e.get("auroc_drop")), *_ci(e.get("auroc_drop_ci")),
                        fmt(e.get("n_videos")),
                        str(r.get("source_checkpoint_sha256") or "")[:12],
                        str(e.get("checkpoint_sha256") or "")[:12],
                        str((r.get("store") or {}).get("key") or "")[:16],
                    ]
                )  # fmt: skip
    return buf.getvalue()


@dataclass(frozen=True)
class MatrixView:
    """A transfer matrix as the page shows it: a heat map, the white-box diagonal outlined."""

    title: str
    id: str
    targets: tuple[str, ...]
    clean: tuple[Cell, ...]
    rows: tuple[tuple[str, tuple[Cell, ...]], ...]  # (source, cells)


def _source_cell(src: str, tgt: str, e: Mapping[str, Any] | None) -> Cell:
    if e is None:
        return ABSENT
    kind = "white-box" if e.get("white_box") else "transfer"
    title = (
        f"crafted on {src}, scored by {tgt} ({kind}): attacked AUROC {_auroc(e, 'auroc_adv')}, clean "
        f"{_auroc(e, 'auroc_clean')}, drop {_auroc(e, 'auroc_drop')}"
    )
    v = value_or_nan(e.get("auroc_adv"))
    return heat_cell(v, interval(e.get("auroc_adv_ci")), title, diag=bool(e.get("white_box")))


def matrix_view(m: TransferMatrix) -> MatrixView:
    """The page's heat map of ``m``: the clean row, then one row per source."""
    clean = []
    for t in m.targets:
        v, c = m.clean.get(t, (math.nan, None))
        clean.append(heat_cell(v, c, f"{t} on clean videos: AUROC {format_ci(v, c)}"))
    rows = tuple(
        (src, tuple(_source_cell(src, tgt, m.cells.get((src, tgt))) for tgt in m.targets))
        for src in m.sources
    )
    return MatrixView(m.title, f"transfer-{slug(m.key)}", m.targets, tuple(clean), rows)
