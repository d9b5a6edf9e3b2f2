"""The full-sky scan (`icecube_ps.allsky`) and its notebook, on the small synthetic release."""

from __future__ import annotations

import io
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from icecube_ps import allsky, data, release
from icecube_ps.sky import angular_distance

HERE = Path(__file__).resolve().parents[1]
# Few spots per band: each refinement costs ~130 fits.
QUICK = allsky.HotspotSearch(max_per_band=3)


@pytest.fixture(scope="module")
def sky8(analysis) -> allsky.SkyMap:
    return allsky.scan_sky(analysis, nside=8, workers=1)


def test_chunked_parallel_scan_equals_the_serial_one(analysis, sky8):
    forked = allsky.scan_sky(analysis, nside=8, workers=2, chunk_size=100)
    with ThreadPoolExecutor(2) as ex, allsky.Pool(analysis, 2, executor=ex) as pool:
        threaded = allsky.scan_sky(nside=8, pool=pool, chunk_size=64)
    for other in (forked, threaded):
        for a, b in ((sky8.ts, other.ts), (sky8.ns, other.ns), (sky8.gamma, other.gamma)):
            assert np.array_equal(a, b, equal_nan=True)
    assert forked.workers == 2 and sky8.workers == 1
    # One chunk is one independent unit of work.
    pix = np.arange(100, 140)
    ts, ns, gamma = allsky.scan_chunk(analysis, pix, 8)
    assert np.array_equal(ts, sky8.ts[pix]) and np.array_equal(ns, sky8.ns[pix])
    assert np.all(np.isnan(gamma[ns == 0])) and np.all(ts >= 0)


def test_injected_source_is_the_hottest_spot(small_release, analysis, source):
    res = allsky.run(small_release, nside=8, post_trials=0, search=QUICK, workers=2,
                     analysis=analysis)
    t = res.hotspots
    assert len(t) >= 1 and t["TS"][0] == t["TS"].max() and t["band"][0] == "north"
    assert angular_distance(t["ra"][0], t["dec"][0], source.ra, source.dec) < 1.0
    assert t["TS"][0] > 100 and 1.5 < t["gamma"][0] < 2.7 and 30 < t["n_s"][0] < 90
    # Refinement climbs above the map pixel it starts from (7.3 deg pixels at nside 8).
    assert np.all(t["TS"] >= t["TS_map_pixel"])
    assert t["p_local"][0] < 1e-20 and np.isnan(t["p_post"][0])
    assert "asymptotic" in t["method"][0] and "no scrambled scans" in t["method"][0]
    assert {"scan", "refine", "total"} <= set(res.timings)
    assert res.peak_rss_mb["parent"] > 0 and res.peak_rss_mb["worker"] > 0


@pytest.mark.validation  # statistical: `make validate`, not `make test`
def test_no_small_post_trial_p_value_on_background(small_release):
    """An RA-scrambled copy of the release is a background sky: its hotspots, corrected
    with scrambled scans of it, are unremarkable (and the estimates are consistent)."""
    bg = allsky.scrambled_release(small_release, np.random.default_rng(11))
    res = allsky.run(bg, nside=8, post_trials=3, search=QUICK, workers=2, seed=3)
    t = res.hotspots
    assert len(t) > 0 and res.background.n == 3
    assert np.all(t["p_post"] > 0.02) and np.all(t["p_post_scans"] >= 0.2)
    assert np.all(t["p_post"] >= t["p_local"])
    for band in ("north", "south"):
        n_eff, err = res.background.n_eff(band)
        assert n_eff >= 1 and err == pytest.approx(n_eff / np.sqrt(3))
        assert res.meta[f"N_EFF_{band.upper()}"] == n_eff
    assert "effective trials" in t["method"][0] and "3 RA-scrambled nside-8" in t["method"][0]
    # A spot as hot as the hottest of the scrambled skies: one scan of 3 reaches it.
    hottest = res.background.hottest["north"]
    p_et, p_scans = res.background.p_post("north", float(hottest.max()))
    assert p_scans == pytest.approx(2 / 4) and 0.0 < p_et < 1.0


def test_scrambled_release_keeps_everything_but_ra(small_release):
    """Only RA changes; the analysis of the scrambled sky finds its events where they now
    are (the sky index follows the new RAs). (Against a release prepared from scratch with
    the same RAs the TS agree to 1e-13; not run here: preparing takes ~15 s.)"""
    from icecube_ps.likelihood import PointSourceAnalysis

    bg = allsky.scrambled_release(small_release, np.random.default_rng(1))
    assert bg.n_events == small_release.n_events
    for col in ("dec", "log_e", "mjd", "ang_err"):
        assert np.array_equal(bg.events[col], small_release.events[col])
    assert not np.array_equal(bg.events["ra"], small_release.events["ra"])
    ana = PointSourceAnalysis(bg)
    for ra, dec in ((150.0, 20.0), (10.0, -60.0), (300.0, 85.0)):
        near = np.flatnonzero(angular_distance(ana.ra, ana.dec, ra, dec) < 3.0)
        found = ana.index.cone_candidates(ra, dec, 3.0)
        assert near.size > 0 and set(near) <= set(found)


def test_healpix_fits_map(sky8, tmp_path):
    hdul = allsky.healpix_hdulist(sky8, {"RELEASE": "synthetic", "MJD_MIN": 54562.0,
                                         "MJD_MAX": 58309.0, "N_EVENTS": 10})
    path = tmp_path / "map.fits"
    hdul.writeto(path)
    with fits.open(path) as f:
        h = f[1].header
        assert (h["PIXTYPE"], h["ORDERING"], h["NSIDE"], h["COORDSYS"], h["INDXSCHM"]) == (
            "HEALPIX", "RING", 8, "C", "IMPLICIT")
        assert h["FIRSTPIX"] == 0 and h["LASTPIX"] == 767 and h["TSTART"] == 54562.0
        assert len(f[1].data) == 12 * 8**2 == sky8.npix
        assert f[1].columns.names == ["TS", "NS", "GAMMA"]
        assert np.allclose(f[1].data["TS"], sky8.ts, rtol=1e-6)


def test_pixels_and_local_maxima():
    ra, dec = allsky.pixel_centres(64)
    assert ra.size == 49152 and -90 < dec.min() < dec.max() < 90
    assert allsky.resolution_deg(64) == pytest.approx(0.916, abs=1e-3)
    ts = np.zeros(allsky.n_pixels(8))
    ts[[10, 300, 301]] = [5.0, 9.0, 4.0]           # 300 and 301 are neighbours
    assert set(allsky.local_maxima(ts, 8)) == {10, 300}
    with pytest.raises(allsky.AnalysisError, match="power of two"):
        allsky.pixel_centres(12)


def test_sky_figure(sky8):
    from astropy.table import Table

    spots = Table({"ra": [150.0], "dec": [20.0]})
    fig = allsky.sky_figure(sky8, spots)
    assert fig.axes[0].name == "mollweide"
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=50)
    assert buf.getvalue()[:4] == b"\x89PNG"


def test_notebook_declares_its_service():
    nbformat = pytest.importorskip("nbformat")
    workflow = pytest.importorskip("astroflow.workflow")
    import make_allsky_notebook

    committed = nbformat.read(HERE / "allsky.ipynb", as_version=4)
    built = make_allsky_notebook.build()
    assert [c.source for c in committed.cells] == [c.source for c in built.cells]
    wf = workflow.Workflow.from_path(HERE / "allsky.ipynb")
    assert {"T1", "T2", "data_release", "nside", "post_trials"} <= set(wf.parameters)
    assert wf.parameters["nside"].enum == (32, 64, 128)
    assert set(wf.outputs) == {"ts_map", "hotspots", "sky_plot"}
    assert wf.time_limit and wf.run_limits.memory


def test_notebook_runs(tmp_path, small_release_dir, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    store = tmp_path / "icecube"
    (store / "synthetic").mkdir(parents=True)
    shutil.copy(small_release_dir / release.CACHE_NAME, data.cache_path(store, "synthetic"))
    monkeypatch.setenv("ASTROFLOW_DATA_DIR", str(tmp_path))
    # The kernel runs in tmp_path (where the map is written) and imports the package from here.
    monkeypatch.setenv("PYTHONPATH", str(HERE))
    nb = nbformat.read(HERE / "allsky.ipynb", as_version=4)
    params = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    # nside 8 (not a service choice) keeps the test fast.
    params.source += ("\ndata_release = 'synthetic'\nnside = 8\npost_trials = 0"
                      "\nT1 = '2008-04-06T00:00:00'\nT2 = '2018-07-10T00:00:00'")
    nb.cells.append(nbformat.v4.new_code_cell(
        "from astropy.io import fits\n"
        "assert fits.getheader(ts_map, 1)['NSIDE'] == 8\n"
        "assert hotspots['TS'][0] > 100 and len(hotspots) > 1\n"
        "assert sky_plot.axes[0].name == 'mollweide'"))
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    assert (tmp_path / "allsky_ts_map.fits").is_file()
