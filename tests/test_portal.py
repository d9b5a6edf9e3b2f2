"""The web portal in a real browser (Debian's chromium through Playwright) against a real server.

The server runs the test services, the bundled sky-position example and three small services
written here (an X-ray image with a spectrum, a 10,000-row optical catalogue), so that every
kind of result is drawn. Screenshots go to ``$ASTROFLOW_SCREENSHOTS`` when it is set (the
docs/ images are made with ``ASTROFLOW_SCREENSHOTS=docs``), else to a temporary folder.
"""

from __future__ import annotations

import json
import textwrap
import time
from pathlib import Path
from urllib.parse import urlencode

import httpx
import jwt
import portal_browser
import pytest
from server_process import SECRET, TEST_SERVICES, ServerProcess

pytestmark = portal_browser.needs_chromium
browser, shots = portal_browser.browser, portal_browser.shots

REPO = Path(__file__).resolve().parents[1]
API = "/api/v1"

SKY_IMAGE = '''
# %% [markdown]
# # X-ray sky image and spectrum
# A simulated count map around the position, with its WCS, and a power-law spectrum whose
# faint high-energy bins are upper limits.

# %% tags=["parameters"]
src_name = "Crab"  # oda:AstrophysicalObject
RA = 83.633  # oda:PointOfInterestRA
DEC = 22.0145  # oda:PointOfInterestDEC
T1 = 60310.0  # oda:StartTimeMJD
T2 = 60317.0  # oda:EndTimeMJD
pixels = 96  # oda:Integer ; oda:lower_limit 8 ; oda:upper_limit 512 ; oda:label "Image size" ; oda:group "Image" ; oda:description "Pixels per side"
pixel_size = 0.5  # oda:AngleMinutes ; oda:lower_limit 0.01 ; oda:upper_limit 10 ; oda:label "Pixel size" ; oda:group "Image"
band = "0.5-2 keV"  # oda:String ; oda:allowed_value "0.5-2 keV", "2-10 keV" ; oda:label "Energy band" ; oda:group "Image"
smooth = True  # oda:Boolean ; oda:label "Smooth with the PSF" ; oda:group "Image"
photon_index = 2.1  # oda:Float ; oda:lower_limit 0 ; oda:upper_limit 5 ; oda:label "Photon index" ; oda:group "Spectrum"
n_energies = 20  # oda:Integer ; oda:lower_limit 3 ; oda:upper_limit 200 ; oda:label "Energy bins" ; oda:group "Spectrum"

# %%
import numpy as np
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS

import astroflow

rng = np.random.default_rng(3)
wcs = WCS(naxis=2)
wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
wcs.wcs.crval = [RA, DEC]
wcs.wcs.crpix = [pixels / 2 + 0.5, pixels / 2 + 0.5]
wcs.wcs.cdelt = [-pixel_size / 60, pixel_size / 60]
wcs.wcs.cunit = ["deg", "deg"]
y, x = np.mgrid[:pixels, :pixels]
r2 = (x - pixels / 2 + 3) ** 2 + (y - pixels / 2 - 2) ** 2
width = 2.5 if smooth else 1.0
scale = 1.0 if band == "0.5-2 keV" else 0.4
counts = rng.poisson(scale * (0.3 + 300 * np.exp(-r2 / (2 * width**2)) * (T2 - T1) / 7))
image = fits.PrimaryHDU(counts.astype(float), header=wcs.to_header())
image.header["BUNIT"] = "count"
astroflow.progress(stage="spectrum", fraction=0.5)

edges = np.geomspace(0.5, 10, n_energies + 1)
energy = np.sqrt(edges[:-1] * edges[1:])
model = 1e-2 * energy ** (-photon_index)
is_ul = energy > 6
spectrum = Table({
    "energy": energy, "e_min": edges[:-1], "e_max": edges[1:],
    "flux": np.where(is_ul, 3 * model, rng.normal(model, 0.12 * model)),
    "flux_err": np.where(is_ul, np.nan, 0.12 * model),
    "is_ul": is_ul,
})
for name in ("energy", "e_min", "e_max"):
    spectrum[name].unit = "keV"
spectrum["flux"].unit = "ph / (cm2 s keV)"
spectrum["flux_err"].unit = "ph / (cm2 s keV)"

# %% tags=["outputs"]
image  # oda:Image
spectrum  # oda:Spectrum
'''

SOURCE_CATALOGUE = '''
# %% [markdown]
# # Source catalogue
# A simulated optical catalogue of sources within a radius of the position.

# %% tags=["parameters"]
RA = 10.684  # oda:PointOfInterestRA
DEC = 41.269  # oda:PointOfInterestDEC
radius = 30.0  # oda:AngleMinutes ; oda:lower_limit 0.1 ; oda:upper_limit 600 ; oda:label "Search radius"
n_sources = 10000  # oda:Integer ; oda:lower_limit 1 ; oda:upper_limit 100000 ; oda:label "Sources"

# %%
import numpy as np
from astropy.table import Table

rng = np.random.default_rng(7)
r = radius / 60 * np.sqrt(rng.uniform(size=n_sources))
phi = rng.uniform(0, 2 * np.pi, n_sources)
catalogue = Table({
    "id": np.arange(1, n_sources + 1),
    "name": [f"SRC J{i:05d}" for i in range(1, n_sources + 1)],
    "ra": (RA + r * np.cos(phi) / np.cos(np.radians(DEC))) % 360,
    "dec": np.clip(DEC + r * np.sin(phi), -90, 90),
    "mag": rng.uniform(12, 22, n_sources).round(3),
})
catalogue["ra"].unit = "deg"
catalogue["dec"].unit = "deg"
catalogue["mag"].unit = "mag"

# %% tags=["outputs"]
catalogue  # oda:ODAAstropyTable
'''


def _write_services(root: Path) -> Path:
    """Two repositories with a messenger each: they fill the X-rays and Optical/IR tabs."""
    for repo, messenger, name, text in (("xray", "x-rays", "sky_image.py", SKY_IMAGE),
                                        ("optical", "optical", "source_catalogue.py",
                                         SOURCE_CATALOGUE)):
        (root / repo).mkdir(parents=True, exist_ok=True)
        (root / repo / "astroflow.yaml").write_text(f"messenger: {messenger}\n")
        (root / repo / name).write_text(textwrap.dedent(text).lstrip())
    return root


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    extra = _write_services(tmp_path_factory.mktemp("portal-services"))
    process = ServerProcess(tmp_path_factory.mktemp("portal-server"), workers=2,
                            services=[TEST_SERVICES, REPO / "workflows" / "sky-position", extra])
    process.start()
    try:
        page = httpx.get(process.url + "/", timeout=10)
        assert page.status_code == 200 and 'id="querybar"' in page.text, (
            "the portal is not served at / : create_app must call "
            "astroflow.server.routes_portal.mount_portal(app)")
        yield process
    finally:
        process.stop()




@pytest.fixture
def page(browser, server):
    """A fresh visitor (own storage) at 1280×900; any script error fails the test."""
    with portal_browser.visitor(browser, timeout_ms=20_000, accept_downloads=True) as page:
        yield page


def goto(page, server, fragment: str = "") -> None:
    page.goto(f"{server.url}/{fragment}")
    page.wait_for_selector("html[data-ready='true']")


def open_service(page, server, name: str, **params) -> None:
    query = f"?{urlencode(params)}" if params else ""
    goto(page, server, f"#/service/{name}{query}")
    page.wait_for_selector(f".service-list a.current[data-service='{name}']")


def run(page) -> str:
    """Press Run and return the new job's id."""
    page.click(".service-form button[type=submit]")
    page.wait_for_selector(".card.job[data-job]")
    return page.get_attribute(".card.job", "data-job")


def wait_state(page, state: str, timeout: float = 30_000) -> None:
    page.wait_for_selector(f".card.job .state[data-state='{state}']", timeout=timeout)


def plot_points(page, product: str, trace: int = 0) -> int:
    page.wait_for_function(
        f"document.querySelector(\"[data-product='{product}'] .js-plotly-plot\")?.data")
    return page.evaluate(
        f"document.querySelector(\"[data-product='{product}'] .js-plotly-plot\").data[{trace}]"
        ".x.filter(x => x !== null).length")


# --- tests --------------------------------------------------------------------------------

def first_paint(browser, server) -> float:
    """First contentful paint (ms) of the portal for a new visitor (empty cache)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        visitor = context.new_page()
        goto(visitor, server)
        return visitor.evaluate(
            "performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? 1e9")
    finally:
        context.close()


def test_first_paint_is_fast_and_everything_is_served_locally(page, browser, server):
    # The best of three fresh visits: other processes on a loaded test machine only ever
    # make a visit slower, never faster.
    paints = [first_paint(browser, server) for _ in range(3)]
    print(f"\nportal first contentful paint: {', '.join(f'{p:.0f}' for p in paints)} ms")
    assert min(paints) < 1000
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    goto(page, server)
    assert requests and all(u.startswith(server.url) or u.startswith(("data:", "blob:"))
                            for u in requests), [u for u in requests if server.url not in u]
    tabs = page.eval_on_selector_all("[role=tab]", "tabs => tabs.map(t => t.dataset.messenger)")
    assert tabs == ["x-rays", "optical-ir", "other"]
    assert page.inner_text("[role=tab][data-messenger='optical-ir']").startswith("Optical/IR")
    # Keyboard: arrows move between messenger tabs.
    page.focus("[role=tab][aria-selected=true]")
    page.keyboard.press("ArrowRight")
    assert page.get_attribute("[role=tab][aria-selected=true]", "data-messenger") == "optical-ir"
    assert page.evaluate("document.activeElement.dataset.messenger") == "optical-ir"
    # Every control has a label, and the page fits 1024 px without sideways scrolling.
    unlabelled = page.evaluate("""[...document.querySelectorAll('input, select, textarea')]
        .filter(e => e.type !== 'hidden' && !e.labels?.length && !e.getAttribute('aria-label'))
        .map(e => e.id || e.name)""")
    assert unlabelled == []
    page.set_viewport_size({"width": 1024, "height": 800})
    assert page.evaluate("document.documentElement.scrollWidth") <= 1024


def test_static_files_cache_and_compression(server):
    with httpx.Client(base_url=server.url, timeout=30) as http:
        page = http.get("/")
        assert page.headers["cache-control"] == "no-cache"
        vendor = http.get("/static/vendor/plotly/plotly.min.js", headers={"Accept-Encoding": "gzip"})
        assert vendor.status_code == 200
        assert vendor.headers["content-encoding"] == "gzip"
        assert "immutable" in vendor.headers["cache-control"]
        assert int(vendor.headers["content-length"]) < 2_000_000 < len(vendor.content)
        again = http.get("/static/vendor/plotly/plotly.min.js",
                         headers={"Accept-Encoding": "gzip", "If-None-Match": vendor.headers["etag"]})
        assert again.status_code == 304
        module = http.get("/static/app.js", headers={"Accept-Encoding": "identity"})
        assert module.headers["cache-control"] == "no-cache"
        assert "javascript" in module.headers["content-type"] and "content-encoding" not in module.headers
        licence = http.get("/static/vendor/plotly/LICENSE")
        assert licence.headers["content-type"].startswith("text/plain") and "MIT" in licence.text
        assert http.get("/static/%2e%2e/routes_portal.py").status_code == 404  # no way out


def test_coordinate_and_time_conversions_in_the_browser(page, server):
    goto(page, server)
    results = page.evaluate("""async () => {
        const c = await import('./static/js/coords.js');
        const safe = (fn) => { try { return fn(); } catch (e) { return 'error: ' + e.message; } };
        return {
            raHours: c.parseRA('05:34:31.94'), raDegSign: c.parseRA('83d37m59s'),
            decNegZero: c.parseDec('-00 30 00'), decPlain: c.parseDec('-45.5'),
            raWrap: c.formatRA(359.99999999), decText: c.formatDec(-0.5),
            raBad: safe(() => c.parseRA('400')), minutesBad: safe(() => c.parseDec('10:75:00')),
            mjd: c.parseTime('2024-01-01T12:00:00'), isot: c.showTime(60310.25, 'isot'),
            zone: c.parseTime('2024-01-01T01:00:00+01:00'),
            leapDay: c.parseTime('2024-02-29'), badDay: safe(() => c.parseTime('2023-02-29')),
            jd: c.timeForParameter(60310, 'jd', 'number'),
            unix: c.timeForParameter(40587.5, 'unix', 'number'),
            roundTrip: c.timeFromParameter(c.timeForParameter(60310.123456789, 'isot', 'string'), 'isot'),
            arcmin: c.angleTo(1.5, 'arcmin'),
        };
    }""")
    assert abs(results["raHours"] - 83.633083) < 1e-6
    assert abs(results["raDegSign"] - (83 + 37 / 60 + 59 / 3600)) < 1e-9
    assert results["decNegZero"] == -0.5 and results["decPlain"] == -45.5
    assert results["raWrap"] == "00h00m00.00s" and results["decText"] == "−00°30′00.0″"
    assert results["raBad"].startswith("error: RA must lie between")
    assert results["minutesBad"].startswith("error:")
    assert results["mjd"] == 60310.5 and results["isot"] == "2024-01-01T06:00:00.000"
    assert results["zone"] == 60310 and results["leapDay"] == 60369
    assert results["badDay"].startswith("error:")
    assert results["jd"] == 2460310.5 and results["unix"] == 43200
    assert abs(results["roundTrip"] - 60310.123456789) < 1e-8   # a millisecond is 1.2e-8 d
    assert results["arcmin"] == 90


def test_resolve_fills_ra_dec_and_times_convert(page, server):
    open_service(page, server, "sky-position")
    page.fill("#qb-object", "Crab")
    page.click("#qb-resolve-btn")
    page.wait_for_selector("#qb-object-note[data-kind='ok']")
    assert abs(float(page.input_value("#qb-ra")) - 83.633) < 0.01
    assert abs(float(page.input_value("#qb-dec")) - 22.0145) < 0.01
    assert "resolved by" in page.inner_text("#qb-object-note")
    assert page.inner_text("#qb-ra-alt").startswith("05h34m")
    page.fill("#qb-object", "Surely No Such Object 4711")
    page.press("#qb-object", "Enter")
    page.wait_for_selector("#qb-object-note[data-kind='error']")
    assert "not found" in page.inner_text("#qb-object-note").lower()
    # Sexagesimal input shows degrees; ISOT ↔ MJD converts the shown times.
    page.fill("#qb-ra", "05h34m31.94s")
    assert page.inner_text("#qb-ra-alt") == "83.633083°"
    page.fill("#qb-start", "2024-01-01T12:00:00")
    page.fill("#qb-end", "2024-01-03T00:00:00")
    page.click("label[for=qb-fmt-mjd]")
    assert page.input_value("#qb-start") == "60310.5"
    assert page.input_value("#qb-end") == "60312"
    page.click("label[for=qb-fmt-isot]")
    assert page.input_value("#qb-start") == "2024-01-01T12:00:00.000"


def test_submit_shows_live_progress_then_products(page, server, shots):
    open_service(page, server, "slow", seconds=3, tag=f"progress-{time.time()}")
    run(page)
    page.wait_for_function("""() => {
        const bar = document.querySelector('.card.job .progress');
        return bar && Number(bar.getAttribute('aria-valuenow')) >= 20
            && document.querySelector('.card.job .state').dataset.state === 'running'; }""")
    assert "sleeping" in page.inner_text(".card.job .job-stage")
    assert page.inner_text(".card.job .elapsed").endswith("s")
    shots_progress = shots / "portal-progress.png"
    page.locator(".card.job").screenshot(path=str(shots_progress))
    wait_state(page, "done")
    assert page.get_attribute(".card.job .progress", "aria-valuenow") == "100"
    page.wait_for_selector("[data-product='slept'] .scalar .value")
    assert page.inner_text("[data-product='slept'] .scalar .value") == "3"
    assert page.locator(".recent-list a.current .state[data-state='done']").count() == 1


def test_light_curve_plot_log_axes_and_fits_download(page, server, shots):
    from astropy.table import Table

    open_service(page, server, "sky-position", n_bins=37, seed=4)
    page.fill("#qb-object", "Crab")
    run(page)
    wait_state(page, "done")
    assert plot_points(page, "light_curve") == 37
    plot = "[data-product='light_curve'] .js-plotly-plot"
    assert page.evaluate(f"document.querySelector(\"{plot}\").data[0].error_y.array.length") == 37
    page.click("[data-product='light_curve'] .switch:has-text('log y')")
    page.wait_for_function(f"document.querySelector(\"{plot}\").layout.yaxis.type === 'log'")
    page.wait_for_selector("[data-product='positions'] table.data tbody tr")
    assert page.locator("[data-product='positions'] tbody tr").count() == 3
    page.wait_for_selector("[data-product='figure'] img.picture")
    page.wait_for_function(
        "document.querySelector(\"[data-product='figure'] img\").naturalWidth > 0")
    with page.expect_download() as info:
        page.click("[data-product='light_curve'] a[data-format='fits']")
    path = info.value.path()
    table = Table.read(path, format="fits")
    assert len(table) == 37 and "rate" in table.colnames
    page.click("[data-product='light_curve'] .switch:has-text('log y')")
    page.wait_for_function(f"document.querySelector(\"{plot}\").layout.yaxis.type === 'linear'")
    page.screenshot(path=str(shots / "portal-light-curve.png"), full_page=True)


def test_spectrum_upper_limits_and_image_colour_scale(page, server, shots):
    open_service(page, server, "sky-image")
    assert page.locator("fieldset.group legend").all_inner_texts() == ["Image", "Spectrum"]
    assert page.locator(".field[data-param='smooth'] input[role=switch]").is_checked()
    assert page.locator(".field[data-param='band'] select option").count() == 2
    assert page.inner_text(".field[data-param='pixel_size'] .unit") == "arcmin"
    run(page)
    wait_state(page, "done")
    spectrum = "[data-product='spectrum'] .js-plotly-plot"
    page.wait_for_function(f"document.querySelector(\"{spectrum}\")?.data")
    names = page.evaluate(f"document.querySelector(\"{spectrum}\").data.map(t => t.name)")
    assert names == ["flux", "flux upper limit", "flux upper limit arrowhead"]
    limit_symbol = page.evaluate(
        f"document.querySelector(\"{spectrum}\").data[2].marker.symbol")
    assert limit_symbol == "arrow-down"  # one convention for every upper limit: an arrow
    assert page.evaluate(f"document.querySelector(\"{spectrum}\").layout.xaxis.type") == "log"
    image = "[data-product='image'] .js-plotly-plot"
    page.wait_for_function(f"document.querySelector(\"{image}\")?.data")
    title = page.evaluate(f"document.querySelector(\"{image}\").layout.xaxis.title.text")
    assert title.startswith("Right ascension")
    linear_max = page.evaluate(f"Math.max(...document.querySelector(\"{image}\").data[0].z.flat())")
    page.select_option("[data-product='image'] select", "log")
    page.wait_for_selector("[data-product='image'] .plot[data-scale='log']")
    log_max = page.evaluate(f"Math.max(...document.querySelector(\"{image}\").data[0].z.flat())")
    assert abs(log_max - __import__("math").log10(linear_max)) < 0.01
    page.select_option("[data-product='image'] select", "sqrt")
    page.wait_for_selector("[data-product='image'] .plot[data-scale='sqrt']")
    page.set_viewport_size({"width": 1400, "height": 1640})
    page.evaluate("window.scrollTo(0, 0)")
    page.wait_for_timeout(500)   # plots follow the new size
    page.screenshot(path=str(shots / "portal-overview.png"))


def test_invalid_values_show_at_their_fields_and_send_nothing(page, server):
    open_service(page, server, "sky-position")
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    page.fill(".field[data-param='n_bins'] input", "5000")
    page.fill(".field[data-param='rate'] input", "-1")
    page.fill("#qb-ra", "not an angle")
    page.click(".service-form button[type=submit]")
    n_bins_error = page.locator(".field[data-param='n_bins'] .field-error")
    assert n_bins_error.is_visible() and "≤ 1000" in n_bins_error.inner_text()
    assert "≥ 0" in page.inner_text(".field[data-param='rate'] .field-error")
    assert page.is_visible("#qb-ra-error") and "right ascension" in page.inner_text("#qb-ra-error")
    assert page.get_attribute("#qb-ra", "aria-invalid") == "true"
    assert page.is_visible(".form-notice")
    page.fill("#qb-ra", "83.6")
    page.fill("#qb-start", "2024-02-01T00:00:00")
    page.fill("#qb-end", "2024-01-01T00:00:00")
    page.fill(".field[data-param='n_bins'] input", "3.5")
    page.fill(".field[data-param='rate'] input", "1")
    page.click(".service-form button[type=submit]")
    assert "after the start" in page.inner_text("#qb-end-error")
    assert "whole number" in page.inner_text(".field[data-param='n_bins'] .field-error")
    page.wait_for_timeout(300)
    assert posts == [] and page.locator(".card.job").count() == 0


def test_cancel_a_running_job(page, server):
    open_service(page, server, "slow", seconds=60, tag=f"cancel-{time.time()}")
    job_id = run(page)
    wait_state(page, "running")
    page.click(".card.job button:has-text('Cancel')")
    wait_state(page, "cancelled", timeout=15_000)
    assert "cancelled" in page.inner_text(".card.job .failure").lower()
    assert httpx.get(f"{server.url}{API}/jobs/{job_id}").json()["state"] == "cancelled"


def test_a_late_cancel_reply_does_not_revive_a_cancelled_job(page, server):
    """The DELETE's reply (taken while the job still ran) may reach the page after the event
    stream said "cancelled" (CI saw it on a loaded machine); the card must stay cancelled."""
    held = []

    def hold_the_reply(route):
        if route.request.method != "DELETE":
            route.continue_()
            return
        held.append((route, route.fetch()))

    open_service(page, server, "slow", seconds=60, tag=f"late-cancel-{time.time()}")
    job_id = run(page)
    wait_state(page, "running")
    page.route(f"**{API}/jobs/{job_id}", hold_the_reply)
    page.click(".card.job button:has-text('Cancel')")
    wait_state(page, "cancelled", timeout=15_000)
    assert len(held) == 1
    route, reply = held[0]
    assert reply.json()["state"] == "running"  # taken before the runner recorded the end
    route.fulfill(response=reply)
    page.wait_for_function("!document.querySelector('.card.job button.danger').disabled")
    assert page.get_attribute(".card.job .state", "data-state") == "cancelled"
    assert page.locator(".card.job button:has-text('Cancel')").is_hidden()


def test_failures_analysis_notice_and_bug_traceback(page, server):
    open_service(page, server, "boom", mode="analysis")
    run(page)
    wait_state(page, "failed")
    notice = page.inner_text(".card.job .failure")
    assert "No result" in notice and "no data in this time range" in notice
    assert page.locator(".card.job details.traceback").count() == 0
    open_service(page, server, "boom", mode="bug")
    run(page)
    wait_state(page, "failed")
    assert "ValueError: boom" in page.inner_text(".card.job .failure")
    page.click(".card.job details.traceback summary")
    assert "ValueError" in page.inner_text(".card.job details.traceback pre")


def test_shared_links_restore_form_and_results(page, browser, server):
    # A service link with parameters reopens the form with them.
    open_service(page, server, "sky-position", n_bins=12, RA="10.5", T1="2024-03-01T00:00:00.000")
    assert page.input_value(".field[data-param='n_bins'] input") == "12"
    assert page.input_value("#qb-ra") == "10.5"
    assert page.input_value("#qb-start").startswith("2024-03-01T00:00:00")
    # Editing the form rewrites the link, so it can be shared at any moment.
    page.fill(".field[data-param='seed'] input", "9")
    page.wait_for_function("location.hash.includes('seed=9') && location.hash.includes('n_bins=12')")
    # Times typed in MJD reach an ISOT parameter as ISOT; the job link reopens everything.
    page.fill("#qb-object", "Vela")
    page.fill("#qb-dec", "-45d10m35s")
    page.click("label[for=qb-fmt-mjd]")
    page.fill("#qb-start", "60370")
    page.fill("#qb-end", "60371.5")
    job_id = run(page)
    wait_state(page, "done")
    assert f"#/job/{job_id}?time-format=mjd" in page.url
    record = httpx.get(f"{server.url}{API}/jobs/{job_id}").json()
    assert record["parameters"]["T1"] == "2024-03-01T00:00:00.000"
    assert record["parameters"]["T2"] == "2024-03-02T12:00:00.000"
    assert abs(record["parameters"]["DEC"] + 45.17639) < 1e-4
    assert record["parameters"]["src_name"] == "Vela"
    other = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        visitor = other.new_page()
        visitor.goto(page.url)
        visitor.wait_for_selector("html[data-ready='true']")
        visitor.wait_for_selector(f".card.job[data-job='{job_id}'] .state[data-state='done']")
        assert visitor.input_value(".field[data-param='n_bins'] input") == "12"
        assert visitor.input_value("#qb-object") == "Vela"
        assert abs(float(visitor.input_value("#qb-dec")) + 45.17639) < 1e-4
        assert plot_points(visitor, "light_curve") == 12
        # The visitor did not run it: it is not in their history.
        assert visitor.locator(".recent-list li").count() == 0
    finally:
        other.close()


def test_ten_thousand_row_table_pages_quickly(page, server, shots):
    open_service(page, server, "source-catalogue", n_sources=10000)
    run(page)
    wait_state(page, "done")
    view = "[data-product='catalogue'] .table-view"
    page.wait_for_selector(f"{view} tbody tr")
    assert "of 10,000" in page.inner_text(f"{view} .table-summary")
    assert page.locator(f"{view} tbody tr").count() == 50
    elapsed = page.evaluate("""async (selector) => {
        const view = document.querySelector(selector);
        const t0 = performance.now();
        view.querySelector('button[aria-label="Next page"]').click();
        while (view.dataset.offset !== '50') await new Promise(r => setTimeout(r, 2));
        return performance.now() - t0; }""", view)
    print(f"\n10,000-row table: next page shown in {elapsed:.0f} ms")
    assert elapsed < 1000
    assert page.inner_text(f"{view} tbody tr:first-child td:first-child") == "51"
    # Sort by magnitude, brightest last: the first row holds the largest magnitude.
    page.click(f"{view} th button:has-text('mag')")
    page.wait_for_selector(f"{view} th[aria-sort='ascending']")
    page.click(f"{view} th button:has-text('mag')")
    page.wait_for_selector(f"{view} th[aria-sort='descending']")
    mags = [float(t) for t in page.locator(f"{view} tbody td:nth-child(5)").all_inner_texts()]
    assert mags == sorted(mags, reverse=True) and mags[0] > 21.99
    page.fill(f"{view} .page-input", "200")
    page.press(f"{view} .page-input", "Enter")
    page.wait_for_selector(f"{view}[data-offset='9950']")
    assert page.locator(f"{view} tbody tr").count() == 50
    page.fill(f"{view} .page-input", "1")
    page.press(f"{view} .page-input", "Enter")
    page.wait_for_selector(f"{view}[data-offset='0']")
    page.locator("[data-product='catalogue']").screenshot(path=str(shots / "portal-table.png"))


def test_sign_in_shows_restricted_services(page, server):
    # A saved token that has expired: the page says so and offers to sign out.
    expired = jwt.encode({"sub": "vera", "roles": ["secret-team"], "exp": int(time.time()) - 60},
                         SECRET, algorithm="HS256")
    goto(page, server)
    page.evaluate("token => localStorage.setItem('astroflow.token', token)", expired)
    page.reload()
    page.wait_for_selector("#banner:not([hidden])")
    assert "refused" in page.inner_text("#banner")
    page.click("#banner button:has-text('Sign out')")
    page.wait_for_selector("#banner", state="hidden")
    page.wait_for_selector("[data-service]")
    assert page.locator("[data-service='hidden']").count() == 0
    page.click("#signin-btn")
    page.fill("#token-input", "not-a-token")
    page.click("#signin-form button[type=submit]")
    page.wait_for_selector("#token-status[data-kind='error']")
    token = jwt.encode({"sub": "vera", "roles": ["secret-team"], "exp": int(time.time()) + 600},
                       SECRET, algorithm="HS256")
    page.fill("#token-input", token)
    page.click("#signin-form button[type=submit]")
    page.wait_for_selector("#signin-btn[data-signed-in='true']")
    assert page.inner_text("#signin-btn") == "vera"
    page.click("[role=tab][data-messenger='neutrinos']")
    page.click("[data-service='hidden']")
    page.wait_for_selector(".service-form h2:has-text('Hidden')")
    job_id = run(page)
    wait_state(page, "done")
    page.wait_for_selector("[data-product='y'] .scalar .value")
    assert page.inner_text("[data-product='y'] .scalar .value") == "2"
    # Restricted jobs are private: anonymous requests do not see them, the signed-in page
    # downloads them with its token.
    assert httpx.get(f"{server.url}{API}/jobs/{job_id}").status_code == 404
    with page.expect_download() as info:
        page.click("[data-product='y'] a[data-format='json']")
    assert json.loads(Path(info.value.path()).read_text())["value"] == 2


def test_file_parameter_is_uploaded(page, server, tmp_path):
    upload = tmp_path / "sources.txt"
    upload.write_text("# ra dec\n83.63 22.01\n")
    # Uploads need a token on a server that verifies them: sign in first.
    token = jwt.encode({"sub": "ulla", "exp": int(time.time()) + 600}, SECRET, algorithm="HS256")
    goto(page, server)
    page.evaluate("token => localStorage.setItem('astroflow.token', token)", token)
    open_service(page, server, "filestat")
    page.set_input_files(".field[data-param='catalogue'] input[type=file]", str(upload))
    page.wait_for_selector(".field[data-param='catalogue'] .upload-status:has-text('uploaded')")
    job_id = run(page)
    wait_state(page, "done")
    record = httpx.get(f"{server.url}{API}/jobs/{job_id}").json()
    assert str(record["parameters"]["catalogue"]).startswith("upload://")
    page.wait_for_selector("[data-product='n_bytes'] .scalar .value")
    assert page.inner_text("[data-product='n_bytes'] .scalar .value") == str(len(upload.read_bytes()))


def test_python_api_code_panel(page, server, shots):
    open_service(page, server, "quick", x=1.5, n=4)
    run(page)
    wait_state(page, "done")
    page.click(".card.job details.api-code summary")
    page.wait_for_selector(".card.job .api-code pre.code")
    code = page.inner_text(".card.job .api-code pre.code")
    assert "astroflow" in code and "quick" in code
    # MMODA users get the oda_api snippet beside it, through the dispatcher facade.
    page.click(".card.job .code-tab[data-lang='oda_api']")
    page.wait_for_function("document.querySelector('.card.job .api-code pre.code')"
                           ".innerText.includes('DispatcherAPI')")
    assert "/dispatch-data" in page.inner_text(".card.job .api-code pre.code")
    page.click(".card.job .code-tab[data-lang='python']")
    page.locator(".card.job").screenshot(path=str(shots / "portal-code.png"))
    page.click(".service-form button:has-text('Python API code')")
    page.wait_for_selector(".service-form .code-panel pre.code")
    assert "quick" in page.inner_text(".service-form .code-panel pre.code")
