"""The headless browser the browser tests drive: Debian's chromium through playwright.

``make browser`` installs chromium; playwright comes with the dev extras. Without either, the
tests marked :func:`needs_browser` (or a module with ``pytestmark = MARKS``) skip with a message that says which is missing.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
# headless, and nothing that phones home on its own (updates, sync, QUIC probes)
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
MARKS = [  # `pytestmark = MARKS` for a module of browser tests
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.is_file(), reason="needs /usr/bin/chromium (`make browser` installs it)"),
    pytest.mark.skipif(
        importlib.util.find_spec("playwright") is None, reason="needs playwright (pip install -e '.[dev]')"
    ),
]


def needs_browser(test: Callable[..., None]) -> Callable[..., None]:
    """Mark one test as a browser test (skipped cleanly without chromium or playwright)."""
    for mark in reversed(MARKS):
        test = mark(test)
    return test
