"""What every portal test in a real browser shares: Debian's chromium through Playwright.

A test module imports the fixtures it uses (``from portal_browser import browser, shots``)
and sets ``pytestmark = portal_browser.needs_chromium``; pages come from `visitor`, which
fails the test on any script error in the page.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync"]
needs_chromium = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                    reason="chromium is not installed (apt install chromium)")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go: ``$ASTROFLOW_SCREENSHOTS`` (``docs`` refreshes docs/), else a
    temporary folder."""
    folder = Path(os.environ.get("ASTROFLOW_SCREENSHOTS") or tmp_path_factory.mktemp("shots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@contextlib.contextmanager
def visitor(browser: Any, width: int = 1280, height: int = 900, timeout_ms: int = 30_000,
            **context_options: Any) -> Iterator[Any]:
    """A fresh visitor's page (own storage); a script error in it fails the test."""
    context = browser.new_context(viewport={"width": width, "height": height},
                                  **context_options)
    page = context.new_page()
    page.set_default_timeout(timeout_ms)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield page
    finally:
        context.close()
    assert not errors, f"script errors in the page: {errors}"
