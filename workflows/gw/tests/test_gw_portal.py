"""The Gravitational waves tab in a real browser (Debian's chromium through Playwright)
against a real `astroflow serve` with the gw and icecube repositories, the offline GW mirror
(synthetic event GW120618_120000: sky map, strain with an injected chirp) and IceCube's real
3-year release: the sky map, the strain spectrogram and the neutrino follow-up drawn.

Screenshots go to ``$ASTROFLOW_SCREENSHOTS`` when set (``ASTROFLOW_SCREENSHOTS=docs`` makes
docs/portal-gw-*.png), else to a temporary folder.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
WORKFLOWS = HERE.parents[1]
sys.path.insert(0, str(WORKFLOWS.parent / "tests"))
sys.path.insert(0, str(WORKFLOWS / "multi-messenger" / "tests"))
sys.path.insert(0, str(HERE.parent))
import portal_browser  # noqa: E402
from server_process import ServerProcess  # noqa: E402

pytestmark = portal_browser.needs_chromium
browser, shots, visitor = portal_browser.browser, portal_browser.shots, portal_browser.visitor
GW_SERVICES = {"gw-event-search", "gw-sky-map", "gw-strain", "gw-neutrino-followup"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from gw_open import mirror
    from mm_server import icecube_cache, place

    root = tmp_path_factory.mktemp("gw-portal")
    data = root / "data"
    place([icecube_cache()], data / "icecube" / "3year")
    mirror.build(data / "gw" / "mirror", log=lambda m: None)
    (data / "gw" / "current.json").write_text(json.dumps({"mode": "mirror", "path": "mirror"}))
    services = root / "services"
    services.mkdir()
    for name in ("gw", "icecube", "grb-detection"):
        (services / name).symlink_to(WORKFLOWS / name)
    with ServerProcess(data, services=[services], workers=2).running() as process:
        yield process


@pytest.fixture
def page(browser):
    with visitor(browser, 1400) as page:
        yield page


def open_gw_service(page, server, name: str) -> None:
    page.goto(f"{server.url}/")
    page.wait_for_selector("html[data-ready='true']")
    page.click("#tab-gravitational-waves")
    page.click(f".service-list a[data-service='{name}']")
    page.wait_for_selector(f".service-list a.current[data-service='{name}']")


def run_defaults(page, timeout: float = 180_000) -> None:
    page.click(".service-form button[type=submit]")
    page.wait_for_selector(".card.job .state[data-state='done']", timeout=timeout)


def drawn(page, product: str) -> None:
    """The product is on the page as a picture, a plot or a table with rows, or (a file)
    offered for download."""
    card = f"[data-product='{product}']"
    page.wait_for_selector(f"{card} img, {card} .js-plotly-plot, {card} table.data tbody tr, "
                           f"{card} .downloads a[href]")


@pytest.mark.timeout(240)
def test_gravitational_waves_tab_lists_the_gw_services(page, server):
    page.goto(f"{server.url}/")
    page.wait_for_selector("html[data-ready='true']")
    assert page.inner_text("#tab-gravitational-waves").strip().startswith("Gravitational")
    page.click("#tab-gravitational-waves")
    listed = set(page.eval_on_selector_all(".service-list a[data-service]",
                                           "links => links.map(a => a.dataset.service)"))
    assert listed >= GW_SERVICES, listed


def outputs(server, name: str) -> list[str]:
    import httpx

    record = httpx.get(f"{server.url}/api/v1/services/{name}", timeout=10).json()
    outs = record["outputs"]
    return list(outs) if isinstance(outs, dict) else [o["name"] for o in outs]


@pytest.mark.timeout(300)
@pytest.mark.parametrize("service, screenshot", [
    ("gw-sky-map", "portal-gw-sky-map.png"),
    ("gw-strain", "portal-gw-strain.png"),
    ("gw-neutrino-followup", "portal-gw-neutrino-followup.png"),
    ("gw-event-search", "portal-gw-event-search.png"),
])
def test_synthetic_event_in_the_browser(page, server, shots, service, screenshot):
    """Each service's form, run with its defaults (the synthetic event), draws every one of
    its products."""
    open_gw_service(page, server, service)
    run_defaults(page)
    for product in outputs(server, service):
        drawn(page, product)
    page.wait_for_timeout(500)  # the plots settle at their size
    page.screenshot(path=str(shots / screenshot), full_page=True)


@pytest.mark.timeout(240)
def test_transient_detection_on_an_uploaded_light_curve(page, server, shots):
    """The transient service: the shipped example light curve uploaded through the form's
    file field by a signed-in user (uploads need a token), its two bursts in the detection
    table and the annotated light curve drawn."""
    import time

    import jwt
    from server_process import SECRET

    token = jwt.encode({"sub": "astronomer", "roles": [], "exp": int(time.time()) + 600},
                       SECRET, algorithm="HS256")
    page.add_init_script(f"localStorage.setItem('astroflow.token', {token!r})")
    example = WORKFLOWS / "grb-detection" / "examples" / "grb_example.ecsv"
    page.goto(f"{server.url}/")
    page.wait_for_selector("html[data-ready='true']")
    page.click("#tab-gamma-rays")
    page.click(".service-list a[data-service='grb-detection']")
    page.wait_for_selector(".service-list a.current[data-service='grb-detection']")
    page.set_input_files(".service-form input[type=file]", str(example))
    page.wait_for_selector(".service-form :text('grb_example.ecsv uploaded')")
    run_defaults(page)
    page.wait_for_selector("[data-product='detections'] table.data tbody tr")
    rows = page.eval_on_selector_all("[data-product='detections'] table.data tbody tr",
                                     "rows => rows.length")
    assert rows == 2, f"{rows} detections in the example (it holds two bursts)"
    drawn(page, "lc_picture")
    drawn(page, "light_curve")
    page.wait_for_timeout(500)
    page.screenshot(path=str(shots / "portal-grb-detection.png"), full_page=True)
