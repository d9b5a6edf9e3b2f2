"""The Gamma-rays tab in a real browser (Debian's chromium through Playwright) against a real
`astroflow serve` with the hess and cta repositories and the synthetic H.E.S.S. release:
the Crab-like source's spectrum, sky map and light curve drawn, and the CTAO planner's form.

Screenshots go to ``$ASTROFLOW_SCREENSHOTS`` when set (``ASTROFLOW_SCREENSHOTS=docs`` makes
docs/portal-hess-*.png), else to a temporary folder.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import httpx
import pytest

HERE = Path(__file__).resolve().parent
WORKFLOWS = HERE.parents[1]
sys.path.insert(0, str(WORKFLOWS.parent / "tests"))
import portal_browser  # noqa: E402
from server_process import ServerProcess  # noqa: E402

pytestmark = portal_browser.needs_chromium
browser, shots, visitor = portal_browser.browser, portal_browser.shots, portal_browser.visitor
CRAB = {"RA": "83.633", "DEC": "22.0145"}


@pytest.fixture(scope="module")
def server(tmp_path_factory, synthetic_release):
    """A server whose data folder holds a copy of the synthetic release (runs read only
    their data folders: a link to the test cache would be outside them)."""
    from hess_dl3.data import write_current

    root = tmp_path_factory.mktemp("hess-portal")
    data = root / "data"
    shutil.copytree(synthetic_release, data / "hess" / "synthetic")
    write_current(data / "hess", "synthetic")
    services = root / "services"
    services.mkdir()
    for name in ("hess", "cta", "multi-messenger"):
        (services / name).symlink_to(WORKFLOWS / name)
    with ServerProcess(data, services=[services], workers=2).running() as process:
        yield process


@pytest.fixture
def page(browser):
    with visitor(browser) as page:
        yield page


def open_gamma_service(page, server, name: str) -> None:
    page.goto(f"{server.url}/")
    page.wait_for_selector("html[data-ready='true']")
    page.click("#tab-gamma-rays")
    page.click(f".service-list a[data-service='{name}']")
    page.wait_for_selector(f".service-list a.current[data-service='{name}']")


def run_crab(page, timeout: float = 120_000) -> None:
    page.fill("#qb-ra", CRAB["RA"])
    page.fill("#qb-dec", CRAB["DEC"])
    page.click(".service-form button[type=submit]")
    page.wait_for_selector(".card.job .state[data-state='done']", timeout=timeout)


def plotted(page, product: str) -> list:
    selector = f"[data-product='{product}'] .js-plotly-plot"
    page.wait_for_function(f"document.querySelector(\"{selector}\")?.data")
    return page.evaluate(f"document.querySelector(\"{selector}\").data")


@pytest.mark.timeout(240)
def test_gamma_rays_tab_lists_hess_and_ctao(page, server):
    page.goto(f"{server.url}/")
    page.wait_for_selector("html[data-ready='true']")
    page.click("#tab-gamma-rays")
    listed = set(page.eval_on_selector_all(".service-list a[data-service]",
                                           "links => links.map(a => a.dataset.service)"))
    assert {"hess-spectrum", "hess-sky-map", "hess-light-curve",
            "cta-observation-plan"} <= listed, listed


def points(trace: dict) -> int:
    return len([x for x in trace.get("x", []) if x is not None])


def check_spectrum(page) -> None:
    assert any(points(t) >= 3 for t in plotted(page, "sed"))
    page.wait_for_selector("[data-product='fit_results'] table.data tbody tr")
    page.wait_for_selector("[data-product='spectrum_plot'] img")


def check_sky_map(page) -> None:
    traces = plotted(page, "significance_map")
    assert traces[0]["type"] == "heatmap"
    z = [v for row in traces[0]["z"] for v in row if v is not None]
    assert max(z) > 5, "the Crab-like source stands out of the significance map"


def check_light_curve(page) -> None:
    assert sum(points(t) for t in plotted(page, "light_curve")) >= 2


def check_plan(page) -> None:
    page.wait_for_selector("[data-product='plan_plot'] img")
    page.wait_for_selector("[data-product='sensitivity_curve'] table.data tbody tr")


@pytest.mark.timeout(240)
@pytest.mark.parametrize("service, check, screenshot", [
    ("hess-spectrum", check_spectrum, "portal-hess-spectrum.png"),
    ("hess-sky-map", check_sky_map, "portal-hess-sky-map.png"),
    ("hess-light-curve", check_light_curve, "portal-hess-light-curve.png"),
    ("cta-observation-plan", check_plan, "portal-cta-plan.png"),
])
def test_crab_in_the_browser(page, server, shots, service, check, screenshot):
    """Each service's form, run for the Crab-like source, draws its products."""
    open_gamma_service(page, server, service)
    run_crab(page)
    check(page)
    page.wait_for_timeout(500)  # the plots settle at their size
    page.screenshot(path=str(shots / screenshot), full_page=True)


@pytest.mark.timeout(240)
def test_hess_spectrum_joins_the_multi_messenger_sed(server):
    """The spectrum's `sed` output is in the SED convention: the multi-messenger service
    takes it as a sub-job's result, H.E.S.S. points and model in the combined table."""
    parameters = {"src_name": "Crab", "RA": 83.633, "DEC": 22.0145,
                  "T1": "2004-01-01T00:00:00", "T2": "2026-12-01T00:00:00",
                  "services": "hess-spectrum"}
    with httpx.Client(base_url=server.url, timeout=60) as client:
        job = client.post("/api/v1/services/multi-messenger-sed/jobs",
                          json={"parameters": parameters}).json()
        deadline = 200
        while job["state"] not in ("done", "failed") and deadline > 0:
            job = client.get(f"/api/v1/jobs/{job['id']}", params={"wait": 10}).json()
            deadline -= 10
        assert job["state"] == "done", job.get("error")
        download = client.get(f"/api/v1/jobs/{job['id']}/products/sed",
                              params={"format": "ecsv"})
    assert download.status_code == 200
    from astropy.table import Table

    sed = Table.read(download.text, format="ascii.ecsv")
    hess = sed[sed["instrument"] == "H.E.S.S."]
    assert {"point", "model"} <= set(hess["kind"]) and len(hess) >= 10
