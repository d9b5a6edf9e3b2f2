"""The portal draws the multi-messenger SED (Debian's chromium through Playwright): the
Multi-messenger tab, TXS 0506+056 resolved, Run, both instruments on the plot. The screenshot
goes to ``$ASTROFLOW_SCREENSHOTS`` when set (``ASTROFLOW_SCREENSHOTS=docs`` makes
docs/portal-multi-messenger-sed.png), else to a temporary folder."""

from __future__ import annotations

import os
from pathlib import Path

import portal_browser
import pytest
from mm_server import FERMI, T1, T2

pytestmark = portal_browser.needs_chromium
browser = portal_browser.browser
PLOT = "[data-product='sed'] .js-plotly-plot"


@pytest.fixture
def page(browser, server):
    with portal_browser.visitor(browser, timeout_ms=20_000) as page:
        yield page


@pytest.mark.timeout(150)
def test_portal_multi_messenger_sed(page, server, client, tmp_path):
    page.goto(f"{server.url}/")
    page.wait_for_selector("html[data-ready='true']")
    page.click("#tab-multi-messenger")
    page.click(".service-list a[data-service='multi-messenger-sed']")
    page.wait_for_selector(".service-list a.current[data-service='multi-messenger-sed']")
    page.fill("#qb-object", "TXS 0506+056")
    page.click("#qb-resolve-btn")
    page.wait_for_selector("#qb-object-note[data-kind='ok']")
    assert abs(float(page.input_value("#qb-ra")) - 77.358) < 0.05
    assert abs(float(page.input_value("#qb-dec")) - 5.693) < 0.05
    page.fill("#qb-start", T1)
    page.fill("#qb-end", T2)
    page.click(".service-form button[type=submit]")
    page.wait_for_selector(".card.job .state[data-state='done']", timeout=120_000)
    page.wait_for_function(f"document.querySelector(\"{PLOT}\")?.data")
    names = page.evaluate(f"document.querySelector(\"{PLOT}\").data.map(t => t.name)")
    assert any(n.startswith("IceCube") for n in names)
    fermi = FERMI in {s.name for s in client.services()}
    if fermi:
        assert any(n.startswith("Fermi-LAT") for n in names)
    layout = page.evaluate(f"document.querySelector(\"{PLOT}\").layout")
    assert layout["xaxis"]["type"] == "log" and layout["yaxis"]["type"] == "log"
    page.wait_for_selector("[data-product='status'] table.data tbody tr")
    page.wait_for_timeout(500)   # the plot settles at its size
    shots = Path(os.environ.get("ASTROFLOW_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shots / "portal-multi-messenger-sed.png"), full_page=True)
