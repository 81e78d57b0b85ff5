"""``harness app``: the handler called directly, and the page driven in headless chromium.

The browser test starts the app on a free local port, uploads a video of the tiny embedded
benchmark, scores it with the tiny trained cnn under FGSM and reads the scores and the download
off the page; every request that leaves 127.0.0.1 is blocked and recorded (there must be none).
Skipped when chromium or playwright is missing (``make browser`` installs chromium).
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser import ARGS, CHROMIUM, needs_browser

from harness.app import AppError, benchmark_videos, resolve_checkpoint, run_once

PROB = r"(\d\.\d{3})"


@pytest.fixture(scope="module")
def fake_video(tiny: tuple[Any, Path]) -> str:
    """A fake video of the tiny benchmark (its mp4 in the tiny fixture's cache)."""
    videos = benchmark_videos(tiny[0])
    return next(path for name, path in videos.items() if name.endswith("(fake)"))


def test_help_and_ls_do_not_import_gradio(tmp_path: Path) -> None:
    code = (
        "import contextlib, io, json, sys\n"
        "from harness.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    main(['ls', 'attacks'])\n"
        "    try:\n"
        "        main(['app', '--help'])\n"
        "    except SystemExit:\n"
        "        pass\n"
        "print(json.dumps(sorted(m for m in ('gradio', 'torch', 'matplotlib') if m in sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout.splitlines()[-1]) == []


def test_handler_scores_clean_and_attacked_and_writes_the_attacked_video(
    tiny: tuple[Any, Path], fake_video: str
) -> None:
    data, ckpt = tiny
    seen: list[float] = []
    out = run_once(
        fake_video, "cnn", str(ckpt), "fgsm", 8, "haar", 8, data, "cpu", lambda f, m: seen.append(f)
    )
    clean = float(re.search(rf"clean fake probability: {PROB}", out.summary).group(1))
    attacked = float(re.search(rf"attacked fake probability: {PROB}", out.summary).group(1))
    assert 0 <= clean <= 1 and 0 <= attacked <= 1
    assert seen and seen == sorted(seen), "progress is reported, and only forward"
    assert out.video is not None and Path(out.video).stat().st_size > 0
    assert "Grad-CAM" in out.summary
    assert out.heat_maps is not None and out.heat_maps.shape[1] == 5 * 128 + 4 * 4, "5 images a row"
    assert len(out.plot.axes[0].lines) >= 2  # clean and attacked (plus the 0.5 line)


def test_handler_without_an_attack_and_its_errors(tiny: tuple[Any, Path], fake_video: str) -> None:
    data, ckpt = tiny
    out = run_once(fake_video, "cnn", str(ckpt), "none", 4, "haar", 4, data, "cpu")
    assert "clean fake probability" in out.summary and "attacked" not in out.summary
    assert out.video is None
    with pytest.raises(AppError, match="upload a video"):
        run_once(None, "cnn", str(ckpt), "none", 4, "haar", 4, data, "cpu")
    with pytest.raises(AppError, match="harness train --detector vgg16"):
        resolve_checkpoint("vgg16", "", data)  # no demo model in this cache: a message, never training


def test_handler_takes_a_clip_detector(tiny: tuple[Any, Path], fake_video: str, tmp_path: Path) -> None:
    """A clip detector has one probability per clip and none per frame: the page says so."""
    import torch

    from harness.checkpoint import save_checkpoint
    from harness.detectors import create_detector

    torch.manual_seed(0)
    model = create_detector("cnn_lstm", backbone="cnn", input_size=32, hidden_size=8, frames_per_clip=3)
    ckpt = save_checkpoint(tmp_path / "lstm.pt", model)
    out = run_once(fake_video, "cnn_lstm", str(ckpt), "fgsm", 4, "haar", 3, tiny[0], "cpu")
    assert re.search(rf"clean fake probability: {PROB}", out.summary)
    assert re.search(rf"attacked fake probability: {PROB}", out.summary)
    assert "scores the clip as a whole" in out.summary and "one clip" in out.summary
    assert out.heat_maps is not None and out.video is not None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def app_url(tiny: tuple[Any, Path]) -> Iterator[str]:
    from harness.app import launch

    port = _free_port()
    demo = launch("127.0.0.1", port, data=tiny[0], device="cpu", block=False)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    yield url
    demo.close()


def _pick(page: Any, label: str, value: str) -> None:
    """Choose ``value`` in the Gradio dropdown labelled ``label``."""
    box = page.get_by_label(label, exact=True)
    box.click()
    box.fill(value)
    page.get_by_role("option", name=value, exact=True).click()


@pytest.mark.filterwarnings("ignore:.*(no_silent_downcasting|copy keyword)")  # gradio's use of pandas
@needs_browser
def test_page_uploads_a_video_and_shows_the_scores(
    app_url: str, tiny: tuple[Any, Path], fake_video: str
) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        blocked: list[str] = []

        def route(r: Any) -> None:
            if r.request.url.startswith(("http://127.0.0.1", "data:", "blob:")):
                r.continue_()
            else:
                blocked.append(r.request.url)
                r.abort()

        page.route("**/*", route)
        page.goto(app_url, wait_until="load")
        page.locator("#video input[type=file]").set_input_files(fake_video)
        # the upload is done when the player shows it (a click before that sends no video)
        page.locator("#video video").first.wait_for(timeout=60_000)
        # listing the benchmark (also done on page load, which may end after the upload) resets
        # the picker; the uploaded video must survive it
        page.get_by_role("button", name="list benchmark videos").click()
        page.wait_for_timeout(1500)
        _pick(page, "detector", "cnn")
        checkpoint = page.get_by_label("checkpoint")
        expect(checkpoint).to_have_value("")  # a detector other than meso4: its demo model by default
        checkpoint.fill(str(tiny[1]))
        _pick(page, "attack", "fgsm")
        page.get_by_label("haar").check()
        page.locator("#run").click()
        result = page.locator("#result")
        result.get_by_text("attacked fake probability").wait_for(timeout=60_000)
        text = result.inner_text()
        clean = float(re.search(rf"clean fake probability: {PROB}", text).group(1))
        attacked = float(re.search(rf"attacked fake probability: {PROB}", text).group(1))
        assert 0 <= clean <= 1 and 0 <= attacked <= 1
        link = page.locator("#download a").first
        link.wait_for(timeout=10_000)
        assert "attacked_faces" in (link.get_attribute("href") or "")
        # picking a benchmark video puts it in the player (what the user picked, not a reset)
        choice, path = next((k, v) for k, v in benchmark_videos(tiny[0]).items() if k.endswith("(real)"))
        name = Path(path).name
        _pick(page, "or an embedded-benchmark video", choice)
        expect(page.locator("#video video").first).to_have_attribute("src", re.compile(re.escape(name)))
        browser.close()
    assert blocked == [], f"the page tried to reach beyond localhost: {blocked}"
