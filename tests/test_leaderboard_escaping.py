"""Names in the leaderboard come from result files anyone can write: in ``leaderboard.md`` they are
text, never markup (no raw HTML, no table-breaking pipes, no emphasis or links), and the CSV and
HTML page carry them exactly.

The Markdown is checked by rendering it with a CommonMark parser (markdown-it-py, with GFM tables)
and reading the rendered text back: what a reader sees must be the name as it was written.
"""

from __future__ import annotations

import csv
import io
import json
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.leaderboard import text
from harness.leaderboard.board import render
from harness.leaderboard.tables import render_markdown

markdown_it = pytest.importorskip("markdown_it")

HOSTILE = [
    "<script>alert(1)</script>",
    "a|b",
    "**bold** _em_ `code` ~~gone~~",
    "[link](https://example.com) ![img](x.png)",
    "&lt;not-an-entity&gt; &amp;",
    "# heading",
    "- item",
    "1. first",
    "> quote",
    "back\\slash\\|",
    "$x^2$",
    "<img src=x onerror=alert(1)>",
]


class _Page(HTMLParser):
    """Tags, and the text of every ``td``/``th``/``li``/``h3`` element of rendered HTML."""

    CELLS = ("td", "th", "li", "h3")

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.cells: list[tuple[str, str]] = []
        self.rows: list[list[str]] = []
        self._open: list[tuple[str, list[str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "tr":
            self.rows.append([])
        if tag in self.CELLS:
            self._open.append((tag, []))

    def handle_endtag(self, tag: str) -> None:
        if tag in self.CELLS and self._open and self._open[-1][0] == tag:
            _, parts = self._open.pop()
            content = "".join(parts)
            self.cells.append((tag, content))
            if tag in ("td", "th") and self.rows:
                self.rows[-1].append(content)

    def handle_data(self, data: str) -> None:
        for _, parts in self._open:
            parts.append(data)


def rendered(markdown: str) -> _Page:
    html = markdown_it.MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(markdown)
    page = _Page()
    page.feed(html)
    return page


def shown(name: str) -> str:
    """What a reader should see of ``name`` in one line of rendered Markdown."""
    return " ".join(name.split())


@pytest.mark.parametrize("name", HOSTILE)
def test_md_keeps_a_name_literal_in_a_table_cell_and_a_list_item(name: str) -> None:
    page = rendered(
        f"| a | b |\n|---|---|\n| {text.md(name)} | x |\n\n- {text.md(name)}\n\n### {text.md(name)}\n"
    )
    markup = {"script", "img", "strong", "em", "code", "a", "s", "del", "h1", "ol", "blockquote"}
    assert not markup & set(page.tags)
    assert page.rows[1] == [shown(name), "x"]  # still two cells
    assert ("li", shown(name)) in page.cells and ("h3", shown(name)) in page.cells


@settings(max_examples=300, deadline=None)
@given(st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=30))
def test_md_round_trips_any_text_through_a_markdown_table(name: str) -> None:
    page = rendered(f"| a |\n|---|\n| {text.md(name)} |\n")
    assert page.rows[1] == [shown(name)], text.md(name)


@pytest.mark.parametrize("name", ["pgd@eps4of255", "a`b", "``x", "<b>|</b>", "line\nbreak"])
def test_md_code_shows_the_text_as_code(name: str) -> None:
    html = markdown_it.MarkdownIt("commonmark").render(f"Columns: {text.md_code(name)}.")
    assert html.count("<code>") == 1 and "<b>" not in html
    code = html.split("<code>")[1].split("</code>")[0]
    assert code.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&") == shown(name)


def _result(results_dir: Path, detector: str, dataset: str, attack: str, worst: float) -> None:
    path = results_dir / "set" / f"{len(list(results_dir.rglob('*.json')))}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {
        "schema_version": 1,
        "detector": detector,
        "dataset": dataset,
        "attack": attack,
        "budget_tag": "default",
        "metrics": {"auroc_clean": 0.9, "auroc_adv": worst, "n_videos": 10},
    }
    path.write_text(json.dumps(result))


def test_the_leaderboard_of_hostile_results_is_text_in_markdown_csv_and_html(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    results_dir = tmp_path / "results"
    evil = "<script>alert(1)</script>|*x*"
    _result(results_dir, evil, "synthetic", "pgd", 0.4)
    _result(results_dir, "plain", "data|set", "<b>atk</b>", 0.6)
    bad = results_dir / "synthetic" / "<img src=x onerror=alert(1)>|_bad_.json"
    bad.parent.mkdir(parents=True)
    bad.write_text("{not json")
    out = render(results_dir, standard=[])
    capsys.readouterr()

    page = rendered(out.markdown)
    assert "script" not in page.tags and "img" not in page.tags and "em" not in page.tags
    summary = next(r for r in page.rows if r and r[1] == evil)  # detector cell, intact
    assert len(summary) == 10 and summary[2] == "synthetic"
    assert any(r[:2] == ["plain", "data|set"] for r in page.rows)
    assert any("<b>atk</b>" in c for r in page.rows for c in r)  # a column header, as text
    skipped = [c for tag, c in page.cells if tag == "li" and "skipping" in c]
    assert skipped == ["skipping unreadable file synthetic/<img src=x onerror=alert(1)>|_bad_.json"]

    rows = list(csv.DictReader(io.StringIO(out.csv)))
    assert {(r["detector"], r["dataset"]) for r in rows} == {(evil, "synthetic"), ("plain", "data|set")}

    assert "<script>alert" not in out.html and "<img src=x" not in out.html and "<b>atk" not in out.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out.html


def test_flags_and_worst_member_are_escaped_in_markdown() -> None:
    row = {
        "detector": "d",
        "dataset": "s",
        "clean": 0.9,
        "worst": 0.5,
        "worst_member": "<i>pgd</i>@x",
        "mean_drop": 0.2,
        "n_videos": 4,
        "flags": [{"code": "<u>c</u>", "label": "l|1", "message": "*m* <script>"}],
    }
    page = rendered(render_markdown([], [row]))
    assert not {"i", "u", "em", "script"} & set(page.tags)
    assert page.rows[1][5] == "<i>pgd</i>@x" and page.rows[1][9] == "l|1"
    assert ("li", "d / s: <u>c</u>: *m* <script>") in page.cells
