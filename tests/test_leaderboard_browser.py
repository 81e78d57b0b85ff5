"""The HTML leaderboard in a real headless browser (Debian's chromium, driven by playwright).

The page is opened from disk with every non-``file://`` request blocked and recorded: it must not
try to fetch anything (no CDN, no fonts), show every entry, sort by the clicked column (ascending,
then descending) and load its figures. Skipped when chromium or playwright is missing
(``make browser`` installs chromium; playwright comes with the dev extras).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser import ARGS, CHROMIUM, MARKS
from test_leaderboard import build_board

from harness.leaderboard import write_leaderboards

pytestmark = MARKS


@pytest.fixture(scope="module")
def board(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    root = tmp_path_factory.mktemp("board")
    names = build_board(root / "results")
    write_leaderboards(root / "results", root / "leaderboards")
    return root / "leaderboards" / "index.html", names


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any, board: tuple[Path, list[str]]) -> Iterator[tuple[Any, list[str]]]:
    """The page loaded from disk; the list collects every request that was not ``file://``."""
    context = browser.new_context(viewport={"width": 1400, "height": 900}, service_workers="block")
    page = context.new_page()
    blocked: list[str] = []

    def route(r: Any) -> None:
        if r.request.url.startswith("file://"):
            r.continue_()
        else:
            blocked.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto(board[0].as_uri(), wait_until="load")
    yield page, blocked
    assert errors == [], f"the page logged errors: {errors}"
    context.close()


def _column(page: Any, header: str) -> tuple[int, list[str]]:
    heads = page.locator("#board thead th").all_inner_texts()
    index = next(i for i, h in enumerate(heads) if h.split("\n")[0].strip().startswith(header))
    cells = page.locator(f"#board tbody tr td:nth-child({index + 1})")
    return index, [c.get_attribute("data-v") for c in cells.all()]


def _names(page: Any) -> list[str]:
    return [t.strip() for t in page.locator("#board tbody td.name a").all_inner_texts()]


def _as_floats(values: list[str]) -> list[float]:
    return [float(v) if v else math.nan for v in values]


def test_page_makes_no_network_request_and_shows_every_entry(
    page: tuple[Any, list[str]], board: tuple[Path, list[str]]
) -> None:
    p, blocked = page
    p.wait_for_timeout(200)
    assert blocked == [], f"the page tried to reach the network: {blocked}"
    assert p.locator("#board tbody tr").count() == len(board[1])
    assert sorted(_names(p)) == board[1]
    _, worst = _column(p, "worst case")
    assert _as_floats(worst) == sorted(_as_floats(worst), reverse=True), "initially by worst case, best first"
    flags = p.locator("#board tbody tr", has_text="masked-net").locator(".flag").all_inner_texts()
    assert flags == ["gradient-free", "gradient-masking"]


def test_clicking_a_header_sorts_ascending_then_descending(page: tuple[Any, list[str]]) -> None:
    p, _ = page
    for header in ("clean", "ensemble", "mean drop", "pgd"):  # "pgd": the first PGD column (eps 1/255)
        index, _ = _column(p, header)
        th = p.locator("#board thead th").nth(index)
        th.click()
        assert th.get_attribute("aria-sort") == "ascending"
        values = _as_floats(_column(p, header)[1])
        present = [v for v in values if not math.isnan(v)]
        assert present == sorted(present) and values[: len(present)] == present, "ascending, n/a last"
        th.click()
        assert th.get_attribute("aria-sort") == "descending"
        values = _as_floats(_column(p, header)[1])
        present = [v for v in values if not math.isnan(v)]
        assert present == sorted(present, reverse=True) and values[: len(present)] == present
    # a text column, and the rows move as a whole (names follow their numbers)
    index, _ = _column(p, "detector")
    p.locator("#board thead th").nth(index).click()
    assert _names(p) == sorted(_names(p))
    p.locator("#board thead th").nth(index).click()
    assert _names(p) == sorted(_names(p), reverse=True)
    assert p.locator("#board thead th[aria-sort]").count() == 1


def test_ensemble_column_explains_itself_and_lies_below_the_worst_white_box_member(
    page: tuple[Any, list[str]],
) -> None:
    p, _ = page
    index, ensemble = _column(p, "ensemble")
    title = p.locator("#board thead th").nth(index).get_attribute("title")
    assert title.startswith("AutoAttack's per-video worst case over the white-box members")
    assert all(ensemble), "every row of the board has the records of its white-box members"
    _, pgd = _column(p, "pgd")  # PGD at 1/255, a white-box member of every row
    for e, v in zip(_as_floats(ensemble), _as_floats(pgd), strict=True):
        assert math.isnan(v) or e <= v + 1e-9
    cell = p.locator("#board tbody tr", has_text="xception").locator("td").nth(index)
    assert cell.get_attribute("title").startswith("per-video worst case over fgsm@eps1of255, ")


def test_figures_load(page: tuple[Any, list[str]], board: tuple[Path, list[str]]) -> None:
    p, blocked = page
    images = p.locator("figure img")
    assert images.count() == len(board[1])
    for img in images.all():
        img.scroll_into_view_if_needed()
        loaded = img.evaluate("el => el.complete && el.naturalWidth > 0 ? el.naturalWidth : 0")
        assert loaded > 0, f"{img.get_attribute('src')} did not load"
        assert not img.get_attribute("src").startswith(("http:", "https:", "/"))
    # a row's name links to its figure
    p.locator("#board tbody td.name a", has_text="xception").click()
    assert p.evaluate("location.hash") == "#fig-synthetic-xception"
    assert blocked == []
