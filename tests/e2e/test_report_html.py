"""`report --html`: one self-contained page, opened in a real browser (Debian's Chromium driven
by Playwright): every chart and thumbnail loads, nothing is fetched, no console error."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.e2e.test_analysis import log, run_dir, write_results  # noqa: F401 (fixtures)
from tests.support.command import cli
from tests.support.requires import requires

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# The flags a closed machine needs (no sandbox as root, no background network, no GPU).
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]  # fmt: skip


def _browser_missing() -> str:
    if not Path(CHROMIUM).exists():
        return "no Chromium (apt-get install chromium; .ci/run installs it)"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[test]')"
    return ""


# Under CI (.ci/run installs Chromium) a missing browser fails the test instead of skipping it.
needs_browser = requires(_browser_missing())


@pytest.fixture
def page_file(capsys, log, run_dir: Path, tmp_path: Path) -> Path:  # noqa: F811
    write_results(tmp_path / "results.csv", log)
    page = tmp_path / "report.html"
    results = str(tmp_path / "results.csv")
    code, out, err = cli(capsys, "report", str(run_dir / "_blur_log"), "--results", results,
                         "--html", str(page), "--gallery", "4")  # fmt: skip
    assert code == 0, err
    assert "worst bin:" in out and f"page written to {page}" in err
    return page


def test_page_is_self_contained(page_file: Path):
    text = page_file.read_text()
    sources = re.findall(r'src="([^"]*)"', text)
    assert len(sources) >= 4  # two charts and thumbnails of the worst and best bins
    assert all(s.startswith("data:image/") for s in sources)
    assert not re.search(r"https?://", text)  # nothing to fetch, nothing to leak
    for part in ("Per sigma bin", "Errors by stage", "decode", "Run parameters", "max_sigma"):
        assert part in text


@needs_browser
def test_page_opens_in_chromium_with_every_image_loaded(page_file: Path, tmp_path: Path):
    widths, messages, requests = open_in_chromium(page_file, tmp_path / "report.png")
    assert len(widths) >= 4 and all(w > 0 for w in widths), widths
    assert not [m for m in messages if m.startswith(("error", "pageerror"))], messages
    assert all(u.startswith(("file:", "data:")) for u in requests), requests
    assert (tmp_path / "report.png").stat().st_size > 10_000


def open_in_chromium(page_file: Path, screenshot: Path) -> tuple[list[int], list[str], list[str]]:
    """The widths of the page's images once loaded, its console messages and its requests."""
    from playwright.sync_api import sync_playwright

    messages: list[str] = []
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: messages.append(f"{m.type}: {m.text}"))
            page.on("pageerror", lambda e: messages.append(f"pageerror: {e}"))
            requests: list[str] = []
            page.on("request", lambda r: requests.append(r.url))
            page.goto(page_file.as_uri(), wait_until="load")
            widths = page.eval_on_selector_all(
                "img", "images => images.map(i => i.complete ? i.naturalWidth : 0)"
            )
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    return widths, messages, requests
