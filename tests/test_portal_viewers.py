"""The viewers of issue 18 in a real browser against a real server, at 1400 and 390 px.

One real job of a test service gives an IceCube-like per-season light curve (livetime, TS,
n_s, flux with its limit), an SED table in the multi-messenger convention (points, a model
band, limits) and a TS map; the page must draw each quantity in its own labelled panel, every
upper limit as a downward arrow, the image with a named colour bar and the target marked,
stream the job's log under "Log", offer "Download all" and show a readable provenance. On
311d7db the light curve was one unlabelled axis, there was no log, archive or provenance view.
Screenshots: docs/portal-light-curve.png, portal-sed.png, portal-image.png, portal-log.png
(with ``ASTROFLOW_SCREENSHOTS=docs``).
"""

from __future__ import annotations

import io
import textwrap
import time
import zipfile
from urllib.parse import urlencode

import portal_browser
import pytest
from server_process import ServerProcess

pytestmark = portal_browser.needs_chromium
browser, shots = portal_browser.browser, portal_browser.shots

VIEWERS = '''
# %% [markdown]
# # Neutrino and gamma-ray viewers
# A per-season neutrino light curve with flux limits, a gamma-ray and neutrino SED and a TS
# map around the position, as the IceCube and multi-messenger services write them.

# %% tags=["parameters"]
src_name = "TXS 0506+056"  # oda:AstrophysicalObject
RA = 77.358  # oda:PointOfInterestRA
DEC = 5.693  # oda:PointOfInterestDEC
pause = 0.4  # oda:Float ; oda:lower_limit 0 ; oda:upper_limit 10 ; oda:label "Pause per season"
tag = "a"  # oda:String

# %%
import time

import astropy.units as u
import numpy as np
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS

from astroflow.products.sed import combine, sed_table

seasons = ["IC79", "IC86_2011", "IC86_2012"]
for name in seasons:
    print(f"fitting season {name} at RA {RA}, Dec {DEC}", flush=True)
    time.sleep(pause)
lc = Table({"season": seasons, "time": [55500.0, 55900.0, 56250.0],
            "time_min": [55350.0, 55700.0, 56060.0], "time_max": [55650.0, 56060.0, 56440.0],
            "livetime": [310.0, 332.0, 330.0], "ts": [0.0, 2.5, 0.0], "ns": [0.0, 4.2, 0.0],
            "flux": [0.0, 1.1e-12, 0.0], "flux_err": [2e-13, 6e-13, 2e-13],
            "flux_ul": [9e-13, 2.4e-12, 8e-13]})
for c in ("time", "time_min", "time_max", "livetime"):
    lc[c].unit = u.d
for c in ("flux", "flux_err", "flux_ul"):
    lc[c].unit = u.Unit("1 / (TeV cm2 s)")
lc.meta["TIMESYS"] = "MJD (UTC)"

gamma = sed_table(energy=[0.3, 3.0, 30.0, 300.0] * u.GeV, energy_min=[0.1, 1, 10, 100] * u.GeV,
                  energy_max=[1.0, 10, 100, 1000] * u.GeV, e2dnde=[4e-12, 5e-12, 3e-12, 2e-12],
                  e2dnde_errn=[5e-13, 5e-13, 6e-13, 0], e2dnde_errp=[5e-13, 5e-13, 6e-13, 0],
                  is_ul=[False, False, False, True], messenger="gamma-rays", instrument="Fermi-LAT")
model = sed_table(energy=np.geomspace(0.1, 1000, 12) * u.GeV,
                  e2dnde=4e-12 * np.geomspace(0.1, 1000, 12) ** -0.08,
                  e2dnde_errn=np.full(12, 8e-13), e2dnde_errp=np.full(12, 8e-13), kind="model",
                  messenger="gamma-rays", instrument="Fermi-LAT")
neutrino = sed_table(energy=np.geomspace(3, 3000, 5) * u.TeV, energy_min=[3.0] * 5 * u.TeV,
                     energy_max=[3000.0] * 5 * u.TeV, e2dnde=[1.5e-12] * 5 * u.Unit("TeV cm-2 s-1"),
                     is_ul=True, kind="limit", messenger="neutrinos", instrument="IceCube",
                     note="per-flavour nu_mu + anti-nu_mu; 90% CL upper limit")
sed = combine([gamma, model, neutrino])

wcs = WCS(naxis=2)
wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
wcs.wcs.crval = [RA, DEC]
wcs.wcs.crpix = [31.0, 31.0]
wcs.wcs.cdelt = [-0.066, 0.066]
wcs.wcs.cunit = ["deg", "deg"]
y, x = np.mgrid[:61, :61]
ts = 9.0 * np.exp(-((x - 30) ** 2 + (y - 31) ** 2) / 40.0)
ts_map = fits.PrimaryHDU(ts, header=wcs.to_header())
ts_map.header["BUNIT"] = ("", "test statistic")
print("done", flush=True)

# %% tags=["outputs"]
lc  # oda:LightCurve ; oda:label "Per-season neutrino light curve"
sed  # oda:Spectrum ; oda:label "Spectral energy distribution"
ts_map  # oda:Image ; oda:label "TS map"
'''


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    repo = tmp_path_factory.mktemp("viewer-portal")
    files = {"astroflow.yaml": "messenger: neutrinos\n", "viewers.py": VIEWERS}
    for name, text in files.items():
        (repo / name).write_text(textwrap.dedent(text).lstrip())
    with ServerProcess(tmp_path_factory.mktemp("viewer-portal-server"),
                       services=[repo]).running() as process:
        yield process


def plot(product: str) -> str:
    return f"[data-product='{product}'] .js-plotly-plot"


def figure(page, product: str) -> dict:
    page.wait_for_function(f"document.querySelector(\"{plot(product)}\")?.data")
    return page.evaluate(f"""(() => {{ const el = document.querySelector("{plot(product)}");
        return {{ data: el.data, layout: el._fullLayout ? JSON.parse(JSON.stringify(
            Object.fromEntries(Object.entries(el.layout)))) : el.layout }}; }})()""")


RUN: dict[str, str] = {}  # the job the wide page ran, which the phone reopens by its link


@pytest.mark.parametrize("width", [1400, 390])
def test_viewers_log_download_and_provenance(browser, server, shots, width):
    height = 900 if width > 600 else 844
    with portal_browser.visitor(browser, width=width, height=height, timeout_ms=30_000,
                                accept_downloads=True) as page:
        if "job" not in RUN:  # run it from the form, and follow its log while it runs
            query = urlencode({"tag": f"{width}-{time.time()}", "pause": 1.0})
            page.goto(f"{server.url}/#/service/viewers?{query}")
            page.wait_for_selector("html[data-ready='true']")
            page.click(".service-form button[type=submit]")
            page.wait_for_selector(".card.job[data-job]")
            RUN["job"] = page.get_attribute(".card.job", "data-job")
            page.click(".card.job .job-log summary")
            page.wait_for_function("""() => /fitting season IC79/.test(
                document.querySelector('.job-log-text')?.textContent || '')""")
            assert page.get_attribute(".card.job .state", "data-state") in ("running", "queued")
            page.locator(".card.job").screenshot(path=str(shots / "portal-log.png"))
        else:  # the job's link shows the ended job, its whole log on demand
            page.goto(f"{server.url}/#/job/{RUN['job']}")
            page.wait_for_selector("html[data-ready='true']")
            page.click(".card.job .job-log summary")
        job_id = RUN["job"]
        page.wait_for_selector(".card.job .state[data-state='done']")
        page.wait_for_selector(".job-log[data-complete='true']")
        log = page.inner_text(".job-log-text")
        assert "fitting season IC86_2012" in log and log.rstrip().endswith("done")

        # Light curve: a labelled panel per quantity on one MJD axis, limits as arrows.
        lc = figure(page, "lc")
        titles = [lc["layout"][k]["title"]["text"] for k in ("yaxis", "yaxis2", "yaxis3", "yaxis4")]
        assert titles == ["livetime [d]", "ts", "ns", "flux [1 / (TeV s cm2)]"]
        assert lc["layout"]["xaxis"]["title"]["text"] == "time (MJD, UTC)"
        (limits,) = [t for t in lc["data"] if t["name"] == "flux upper limit"]
        (heads,) = [t for t in lc["data"] if t["name"] == "flux upper limit arrowhead"]
        assert limits["y"] == [9e-13, 2.4e-12, 8e-13] and limits["yaxis"] == heads["yaxis"] == "y4"
        assert heads["marker"]["symbol"] == "arrow-down" and limits["error_y"]["arrayminus"][0] > 0
        assert page.inner_text("[data-product='lc'] .point-count") == "3 points"
        box = page.locator(plot("lc")).bounding_box()
        assert box["height"] >= 600 and box["width"] <= width
        assert page.locator(f"{plot('lc')} .g-y4title").count() == 1  # drawn, not only data

        # SED: log-log E² dN/dE, the model's band, every limit an arrow.
        sed = figure(page, "sed")
        assert sed["layout"]["xaxis"]["type"] == "log" and sed["layout"]["yaxis"]["type"] == "log"
        assert sed["layout"]["yaxis"]["title"]["text"].startswith("E² dN/dE")
        assert any(t.get("fill") == "toself" for t in sed["data"])
        heads = [t for t in sed["data"] if t["name"].endswith("upper limit arrowhead")]
        assert {t["marker"]["symbol"] for t in heads} == {"arrow-down"} and len(heads) == 2

        # Image: a named colour bar, the target marked.
        image = figure(page, "ts_map")
        heat = image["data"][0]
        assert heat["colorbar"]["title"]["text"] == "test statistic"
        assert image["data"][1]["mode"] == "markers"
        assert page.locator(f"{plot('ts_map')} .colorbar .cbtitle").text_content() == "test statistic"
        assert "target RA 77.3580" in page.inner_text("[data-product='ts_map'] .image-target")

        # Download all: one zip with the products, the notebook and the provenance.
        with page.expect_download() as info:
            page.click(".card.job a.download-all")
        assert info.value.suggested_filename == f"viewers-{job_id}.zip"
        names = set(zipfile.ZipFile(io.BytesIO(info.value.path().read_bytes())).namelist())
        assert {"products/lc.ecsv", "products/sed.ecsv", "products/ts_map.fits",
                "executed.ipynb", "provenance.json", "provenance.provn"} <= names

        # Provenance: readable, no server path.
        page.click(".card.job .provenance summary")
        page.wait_for_selector(".provenance[data-loaded='true'] .prov-table")
        text = page.inner_text(".provenance")
        assert "Who" in text and "anonymous" in text and "viewers.py" in text
        assert "lc.ecsv" in text and str(server.data_dir) not in text and "/tmp/" not in text
        assert page.locator(".provenance a[data-prov='json']").count() == 1

        if width == 1400:
            page.locator(".card.job").screenshot(path=str(shots / "portal-provenance.png"))
            for product, name in (("lc", "portal-light-curve.png"), ("sed", "portal-sed.png"),
                                  ("ts_map", "portal-image.png")):
                page.locator(f"[data-product='{product}']").screenshot(path=str(shots / name))
