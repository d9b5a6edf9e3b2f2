"""Previews: Plotly figures for light curves, spectra and images; table pages; the rest."""

from __future__ import annotations

import json
from pathlib import Path

import astropy.units as u
import numpy as np
import pytest
from astropy.io import fits
from astropy.table import MaskedColumn, Table
from astropy.time import Time
from astropy.wcs import WCS

from astroflow.ontology import resolve
from astroflow.products import Product, write_product
from astroflow.server.preview import MAX_IMAGE_SIDE, PreviewError, preview

FLUX = u.Unit("1 / (cm2 s keV)")


def strict(doc: dict) -> dict:
    """The preview must survive strict JSON (no NaN, no numpy types) unchanged."""
    assert json.loads(json.dumps(doc, allow_nan=False)) == doc
    return doc


def traces(doc: dict) -> list[dict]:
    assert doc["kind"] == "plotly"
    return doc["figure"]["data"]


def by_name(doc: dict) -> dict[str, dict]:
    return {t["name"]: t for t in traces(doc)}


def assert_arrows(doc: dict, name: str) -> dict:
    """Every upper limit is an arrow: a bar at the limit value (the trace called ``name``,
    holding the limits), a shaft down from it and a downward head at the shaft's end."""
    data = by_name(doc)
    bar, head = data[name], data[f"{name} arrowhead"]
    assert bar["marker"]["symbol"] == "line-ew" and head["marker"]["symbol"] == "arrow-down"
    shaft = bar["error_y"]["arrayminus"]
    assert all(s > 0 for s in shaft) and bar["error_y"]["array"] == [0.0] * len(shaft)
    assert head["y"] == pytest.approx([y - s for y, s in zip(bar["y"], shaft, strict=True)])
    assert head["x"] == bar["x"] and head["showlegend"] is False
    return bar


# --- light curves ---------------------------------------------------------------------------

def test_lightcurve_with_errors_bins_and_upper_limits(tmp_path):
    lc = Table({"time": Time([60000.0, 60001.0, 60002.0, 60003.0], format="mjd", scale="tt"),
                "timedel": [1.0, 1.0, 0.5, 1.0] * u.d,
                "rate": [1.0, 2.0, 3.0, 4.0] * u.ct / u.s,
                "rate_err": [0.1, 0.2, 0.3, 0.4] * u.ct / u.s,
                "is_ul": [False, True, False, False]})
    product = write_product("lc", lc, tmp_path)
    assert product.type == "lightcurve"
    doc = strict(preview(product, tmp_path))
    data = by_name(doc)
    assert set(data) == {"rate", "rate upper limit", "rate upper limit arrowhead"}
    main, limit = data["rate"], data["rate upper limit"]
    assert main["type"] == "scatter" and main["mode"] == "markers"
    assert main["x"] == [60000.0, 60001.0, 60002.0, 60003.0]
    assert main["y"] == [1.0, None, 3.0, 4.0]  # the limit is not drawn as a measurement
    assert main["error_y"]["array"] == main["error_y"]["arrayminus"] == [0.1, 0.2, 0.3, 0.4]
    assert main["error_x"]["array"] == [0.5, 0.5, 0.25, 0.5]  # half the bin width
    assert limit["x"] == [60001.0] and limit["y"] == [2.0]
    assert_arrows(doc, "rate upper limit")
    assert "error_x" not in limit
    layout = doc["figure"]["layout"]
    assert layout["xaxis"]["title"]["text"] == "time (MJD, TT)"
    assert layout["yaxis"]["title"]["text"] == "rate [ct / s]"
    assert layout["yaxis"]["type"] == "linear"
    assert "template" not in layout


def test_lightcurve_numeric_time_with_edges_in_seconds(tmp_path):
    lc = Table({"tstart": [0.0, 10.0, 20.0] * u.s, "tstop": [10.0, 20.0, 40.0] * u.s,
                "flux": [5.0, 6.0, 7.0] * u.ct, "flux_err_lo": [1.0, 1.0, 1.0] * u.ct,
                "flux_err_hi": [2.0, 2.0, 2.0] * u.ct})
    product = write_product("lc", lc, tmp_path, resolve("oda:LightCurve"))
    assert product.type == "lightcurve"
    main = by_name(strict(preview(product, tmp_path)))["flux"]
    assert main["x"] == [5.0, 15.0, 30.0]  # bin centres, not starts
    assert main["error_x"]["arrayminus"] == [5.0, 5.0, 10.0]
    assert main["error_x"]["array"] == [5.0, 5.0, 10.0]
    assert main["error_y"]["arrayminus"] == [1.0, 1.0, 1.0]
    assert main["error_y"]["array"] == [2.0, 2.0, 2.0]


def test_lightcurve_of_the_example_manifest(tmp_path):
    """Roles are read from the manifest (a meta written by another run), not re-detected."""
    lc = Table({"time": [1.0, 2.0, 3.0] * u.d, "rate": [1.0, np.nan, 2.0] / u.h,
                "rate_err": [0.1, 0.1, 0.1] / u.h, "other": [9.0, 9.0, 9.0]})
    product = write_product("light_curve", lc, tmp_path)
    manifest_entry = product.to_dict()
    manifest_entry["meta"]["value_columns"] = ["rate"]  # the writer's decision wins
    doc = strict(preview(Product.from_dict(manifest_entry), tmp_path))
    assert [t["name"] for t in traces(doc)] == ["rate"]
    assert traces(doc)[0]["y"] == [1.0, None, 2.0]
    assert doc["figure"]["layout"]["xaxis"]["title"]["text"] == "time [d]"


def test_lightcurve_without_roles_detects_them(tmp_path):
    lc = Table({"time": [1.0, 2.0], "rate": [3.0, 4.0], "rate_err": [0.5, 0.5]})
    written = write_product("lc", lc, tmp_path)
    bare = Product(name="lc", type="lightcurve", title="lc", files=written.files)
    main = traces(strict(preview(bare, tmp_path)))[0]
    assert main["y"] == [3.0, 4.0] and main["error_y"]["array"] == [0.5, 0.5]


def test_lightcurve_with_iso_date_strings(tmp_path):
    lc = Table({"time": ["2024-01-01T00:00:00", "2024-01-02T12:00:00"], "flux": [1.0, 2.0]})
    product = write_product("lc", lc, tmp_path, resolve("oda:LightCurve"))
    doc = strict(preview(product, tmp_path))
    assert traces(doc)[0]["x"] == [60310.0, 60311.5]
    assert doc["figure"]["layout"]["xaxis"]["title"]["text"] == "time (MJD, UTC)"
    lc["time"] = ["early", "late"]  # not dates: the table itself is shown
    lc.write(tmp_path / product.files["ecsv"], format="ascii.ecsv", overwrite=True)
    assert preview(product, tmp_path)["kind"] == "table"


def test_long_lightcurve_uses_webgl(tmp_path):
    n = 20_000
    lc = Table({"time": np.arange(n, dtype=float) * u.s, "rate": np.ones(n) * u.ct / u.s})
    product = write_product("lc", lc, tmp_path)
    main = traces(strict(preview(product, tmp_path)))[0]
    assert main["type"] == "scattergl" and len(main["x"]) == n


# --- spectra --------------------------------------------------------------------------------

def test_spectrum_log_axes_asymmetric_errors_and_limits(tmp_path):
    spectrum = Table({"e_min": [1.0, 2.0, 4.0] * u.keV, "e_max": [2.0, 4.0, 8.0] * u.keV,
                      "flux": [1.0, 0.5, np.nan] * FLUX,
                      "flux_errn": [0.1, 0.05, np.nan] * FLUX,
                      "flux_errp": [0.2, 0.1, np.nan] * FLUX,
                      "flux_ul": [np.nan, np.nan, 0.3] * FLUX})
    product = write_product("spectrum", spectrum, tmp_path)
    assert product.type == "spectrum"
    doc = strict(preview(product, tmp_path))
    layout = doc["figure"]["layout"]
    assert layout["xaxis"]["type"] == "log" and layout["yaxis"]["type"] == "log"
    assert layout["xaxis"]["title"]["text"] == "Energy [keV]"
    # A differential flux is drawn as an SED: E² dN/dE in erg cm-2 s-1.
    assert layout["yaxis"]["title"]["text"] == "E² dN/dE [erg cm⁻² s⁻¹] (E² × flux)"
    data = by_name(doc)
    main = data["flux"]
    e = np.array([2 ** 0.5, 8 ** 0.5, 32 ** 0.5])
    assert main["x"] == pytest.approx(e)  # geometric centres
    assert main["error_x"]["arrayminus"][0] == pytest.approx(2 ** 0.5 - 1)
    assert main["error_x"]["array"][0] == pytest.approx(2 - 2 ** 0.5)
    keV = u.keV.to(u.erg)  # E² (keV²) × 1/(cm2 s keV) = keV cm-2 s-1
    assert main["error_y"]["arrayminus"][:2] == pytest.approx(e[:2] ** 2 * [0.1, 0.05] * keV)
    assert main["error_y"]["array"][:2] == pytest.approx(e[:2] ** 2 * [0.2, 0.1] * keV)
    assert main["y"][:2] == pytest.approx(e[:2] ** 2 * [1.0, 0.5] * keV) and main["y"][2] is None
    limit = assert_arrows(doc, "flux upper limit")
    assert limit["y"] == pytest.approx([32 * 0.3 * keV]) and limit["x"] == pytest.approx([32 ** 0.5])


def test_spectrum_with_negative_flux_is_linear_in_y(tmp_path):
    spectrum = Table({"energy": [1.0, 10.0, 100.0] * u.GeV, "flux": [1.0, -0.5, 0.2] * FLUX,
                      "flux_err": [0.1, 0.2, 0.1] * FLUX})
    product = write_product("spec", spectrum, tmp_path, resolve("oda:Spectrum"))
    layout = strict(preview(product, tmp_path))["figure"]["layout"]
    assert layout["xaxis"]["type"] == "log" and layout["yaxis"]["type"] == "linear"


def test_spectrum_converts_bin_units_to_the_axis_unit(tmp_path):
    spectrum = Table({"energy": [1.0, 2.0] * u.MeV, "e_min": [500.0, 1500.0] * u.keV,
                      "e_max": [1500.0, 2500.0] * u.keV, "flux": [3.0, 4.0] * FLUX})
    product = write_product("spec", spectrum, tmp_path, resolve("oda:Spectrum"))
    main = traces(strict(preview(product, tmp_path)))[0]
    assert main["x"] == [1.0, 2.0]
    assert main["error_x"]["arrayminus"] == pytest.approx([0.5, 0.5])


# --- images ---------------------------------------------------------------------------------

def _sky_image(shape: tuple[int, int]) -> fits.PrimaryHDU:
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [83.633, 22.0145]
    wcs.wcs.crpix = [shape[1] / 2, shape[0] / 2]
    wcs.wcs.cdelt = [-0.01, 0.01]
    wcs.wcs.cunit = ["deg", "deg"]
    data = np.arange(shape[0] * shape[1], dtype=float).reshape(shape)
    hdu = fits.PrimaryHDU(data, header=wcs.to_header())
    hdu.header["BUNIT"] = "ct"
    return hdu


def test_image_heatmap_with_world_ticks(tmp_path):
    product = write_product("sky", _sky_image((40, 60)), tmp_path)
    doc = strict(preview(product, tmp_path))
    heat, target = traces(doc)  # the reference point (CRVAL) is marked: no target was given
    assert target["x"] == [29.0] and target["y"] == [19.0] and doc["target"].startswith("ref")
    assert heat["type"] == "heatmap"
    assert len(heat["z"]) == 40 and len(heat["z"][0]) == 60 and doc["step"] == 1
    assert heat["z"][1][0] == 60.0
    layout = doc["figure"]["layout"]
    assert layout["xaxis"]["title"]["text"] == "Right ascension [deg]"
    assert layout["yaxis"]["title"]["text"] == "Declination [deg]"
    assert layout["xaxis"]["tickmode"] == "array"
    labels = layout["xaxis"]["ticktext"]
    assert len(labels) == len(layout["xaxis"]["tickvals"]) and labels[0].endswith("°")
    ras = [float(t.rstrip("°")) for t in labels]
    assert ras == sorted(ras, reverse=True)  # RA grows to the left
    assert 83.0 < ras[-1] < ras[0] < 84.3
    decs = [float(t.rstrip("°")) for t in layout["yaxis"]["ticktext"]]
    assert decs == sorted(decs) and 21.7 < decs[0] < decs[-1] < 22.3
    assert layout["yaxis"]["scaleanchor"] == "x"
    assert heat["colorbar"]["title"]["text"] == "sky [ct]"  # no BTYPE: the product title


def test_large_image_is_decimated(tmp_path):
    side = 3 * MAX_IMAGE_SIDE - 10
    data = np.random.default_rng(1).random((side, side // 2))
    product = write_product("big", data, tmp_path)
    doc = strict(preview(product, tmp_path))
    (heat,) = traces(doc)
    assert doc["step"] == 3 and doc["shape"] == [side, side // 2]
    assert len(heat["z"]) <= MAX_IMAGE_SIDE and len(heat["z"][0]) <= MAX_IMAGE_SIDE
    assert len(heat["z"]) == len(heat["y"]) and len(heat["z"][0]) == len(heat["x"])
    assert heat["x"][:3] == [0.0, 3.0, 6.0]  # original pixel coordinates
    assert heat["z"][1][1] == pytest.approx(data[3, 3], abs=1e-5)  # rounded to the range
    layout = doc["figure"]["layout"]
    assert layout["xaxis"]["title"]["text"] == "x [pixel]" and "tickvals" not in layout["xaxis"]


def test_image_scales(tmp_path):
    data = np.array([[0.0, 1.0], [100.0, -4.0]])
    product = write_product("img", data, tmp_path)
    log = traces(strict(preview(product, tmp_path, scale="log")))[0]
    assert log["z"] == [[None, 0.0], [2.0, None]]
    sqrt = traces(strict(preview(product, tmp_path, scale="sqrt")))[0]
    assert sqrt["z"] == [[0.0, 1.0], [10.0, None]]
    linear = traces(strict(preview(product, tmp_path)))[0]
    assert linear["z"] == [[0.0, 1.0], [100.0, -4.0]]
    with pytest.raises(PreviewError, match="linear, log, sqrt"):
        preview(product, tmp_path, scale="asinh")


def test_cube_shows_first_plane(tmp_path):
    cube = np.stack([np.full((4, 5), 1.0), np.full((4, 5), 2.0)])
    product = write_product("cube", cube, tmp_path)
    doc = strict(preview(product, tmp_path))
    assert doc["shape"] == [2, 4, 5]
    assert traces(doc)[0]["z"] == [[1.0] * 5] * 4


# --- tables ---------------------------------------------------------------------------------

@pytest.fixture
def catalogue(tmp_path) -> tuple[Product, Path]:
    table = Table({"name": ["Crab", "Vela", "Geminga", "Cyg X-1", "Sco X-1"],
                   "flux": MaskedColumn([3.0, np.nan, 1.0, 5.0, 2.0],
                                        mask=[False, False, False, False, True], unit="mJy"),
                   "seen": Time(["2024-01-03", "2024-01-01", "2024-01-05", "2024-01-02",
                                 "2024-01-04"])})
    return write_product("catalogue", table, tmp_path, resolve("oda:ODAAstropyTable")), tmp_path


def test_table_first_page(catalogue):
    product, outdir = catalogue
    doc = strict(preview(product, outdir))
    assert doc["kind"] == "table" and doc["nrows"] == 5
    assert [c["name"] for c in doc["columns"]] == ["name", "flux", "seen"]
    assert doc["columns"][1]["unit"] == "mJy" and doc["columns"][2]["dtype"] == "time"
    assert doc["rows"][0] == ["Crab", 3.0, "2024-01-03 00:00:00.000"]
    assert doc["rows"][1][1] is None and doc["rows"][4][1] is None  # NaN and masked


def test_table_paging(catalogue):
    product, outdir = catalogue
    page = strict(preview(product, outdir, offset=2, limit=2))
    assert [r[0] for r in page["rows"]] == ["Geminga", "Cyg X-1"]
    assert page["offset"] == 2 and page["limit"] == 2 and page["nrows"] == 5
    assert preview(product, outdir, offset=10)["rows"] == []
    with pytest.raises(PreviewError):
        preview(product, outdir, limit=0)
    with pytest.raises(PreviewError):
        preview(product, outdir, offset=-1)


def test_table_sorting_puts_blanks_last(catalogue):
    product, outdir = catalogue
    up = preview(product, outdir, sort="flux")
    assert [r[0] for r in up["rows"]] == ["Geminga", "Crab", "Cyg X-1", "Vela", "Sco X-1"]
    down = preview(product, outdir, sort="flux", descending=True)
    assert [r[0] for r in down["rows"][:3]] == ["Cyg X-1", "Crab", "Geminga"]
    assert {r[0] for r in down["rows"][3:]} == {"Vela", "Sco X-1"}
    by_time = preview(product, outdir, sort="seen", descending=True, limit=2)
    assert [r[0] for r in by_time["rows"]] == ["Geminga", "Sco X-1"]
    by_name_page = preview(product, outdir, sort="name", offset=1, limit=2)
    assert [r[0] for r in by_name_page["rows"]] == ["Cyg X-1", "Geminga"]
    with pytest.raises(PreviewError, match="cannot sort by 'nope'"):
        preview(product, outdir, sort="nope")


def test_lightcurve_without_values_falls_back_to_table(tmp_path):
    table = Table({"time": [1.0, 2.0], "label": ["a", "b"]})
    written = write_product("t", Table({"time": [1.0, 2.0], "rate": [1.0, 2.0]}), tmp_path)
    table.write(tmp_path / written.files["ecsv"], format="ascii.ecsv", overwrite=True)
    bare = Product(name="t", type="lightcurve", title="t", files={"ecsv": written.files["ecsv"]})
    doc = strict(preview(bare, tmp_path))
    assert doc["kind"] == "table" and doc["rows"] == [[1.0, "a"], [2.0, "b"]]


# --- scalars, text, pictures, binaries ------------------------------------------------------

def test_scalar(tmp_path):
    doc = strict(preview(write_product("cut", 3.5 * u.keV, tmp_path), tmp_path))
    assert doc == {"kind": "scalar", "value": 3.5, "unit": "keV", "dtype": "float"}
    when = strict(preview(write_product("t0", Time("2024-01-01T00:00:00"), tmp_path), tmp_path))
    assert when["kind"] == "scalar" and when["dtype"] == "time"
    assert when["value"].startswith("2024-01-01")


def test_text_is_cut_at_100_kB(tmp_path):
    short = strict(preview(write_product("log", "hello\nworld\n", tmp_path), tmp_path))
    assert short == {"kind": "text", "text": "hello\nworld\n", "truncated": False}
    long_text = "é" * 60_000  # two bytes each: the cut falls inside a character
    doc = strict(preview(write_product("long", long_text, tmp_path), tmp_path))
    assert doc["truncated"] is True and doc["text"] == "é" * 50_000


def test_picture_and_binary(tmp_path):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(2, 1), dpi=100)
    fig.add_subplot().plot([0, 1])
    picture = strict(preview(write_product("fig", fig, tmp_path), tmp_path))
    assert picture["kind"] == "picture" and picture["format"] == "png"
    assert picture["width"] > 0 and picture["height"] > 0
    blob = strict(preview(write_product("blob", b"\x00\x01", tmp_path), tmp_path))
    assert blob == {"kind": "download", "formats": ["bin"], "bytes": 2}


def test_sed_table_one_series_per_instrument_limits_as_arrows(tmp_path):
    """An SED table (astroflow-sed/1) from several services: log–log, a series per
    instrument coloured by messenger, the model as a band, limits as arrows, the notes shown."""
    from astroflow.products.sed import combine, sed_table

    fermi = sed_table(energy=[1.0, 10.0, 100.0] * u.GeV, energy_min=[0.5, 5, 50] * u.GeV,
                      energy_max=[2.0, 20, 200] * u.GeV, e2dnde=[3e-12, 2e-12, 1e-12],
                      e2dnde_errn=[3e-13, 2e-13, 0], e2dnde_errp=[4e-13, 2e-13, 0],
                      is_ul=[False, False, True], messenger="gamma-rays", instrument="Fermi-LAT")
    model = sed_table(energy=[1.0, 100.0] * u.GeV, e2dnde=[3e-12, 1e-12],
                      e2dnde_errn=[1e-13, 2e-13], e2dnde_errp=[1e-13, 2e-13], kind="model",
                      messenger="gamma-rays", instrument="Fermi-LAT")
    icecube = sed_table(energy=[2.0, 60.0, 2000.0] * u.TeV, energy_min=[2.0] * 3 * u.TeV,
                        energy_max=[2000.0] * 3 * u.TeV,
                        e2dnde=[1e-12] * 3 * u.Unit("TeV cm-2 s-1"), is_ul=True, kind="limit",
                        messenger="neutrinos", instrument="IceCube",
                        note="per-flavour nu_mu + anti-nu_mu")
    product = write_product("sed", combine([fermi, model, icecube]), tmp_path,
                            resolve("oda:Spectrum"))
    doc = strict(preview(product, tmp_path))
    layout = doc["figure"]["layout"]
    assert layout["xaxis"]["type"] == "log" and layout["yaxis"]["type"] == "log"
    assert "nu_mu + anti-nu_mu" in layout["annotations"][0]["text"]
    data = by_name(doc)
    points = data["Fermi-LAT (gamma-rays)"]
    assert points["x"] == pytest.approx([1e-3, 1e-2]) and points["y"] == [3e-12, 2e-12]
    assert points["error_y"]["array"] == pytest.approx([4e-13, 2e-13])
    assert points["error_x"]["arrayminus"] == pytest.approx([5e-4, 5e-3])
    band = next(t for t in doc["figure"]["data"] if t.get("fill") == "toself")
    assert band["y"] == pytest.approx([2.9e-12, 0.8e-12, 1.2e-12, 3.1e-12])
    assert data["Fermi-LAT (gamma-rays) model"]["y"] == [3e-12, 1e-12]
    assert_arrows(doc, "Fermi-LAT (gamma-rays) upper limit")
    assert_arrows(doc, "IceCube (neutrinos) upper limit")
    nu = data["IceCube (neutrinos) upper limit"]
    assert nu["mode"] == "lines+markers" and nu["x"] == pytest.approx([2.0, 60.0, 2000.0])
    assert nu["y"] == pytest.approx([1e-12 * u.TeV.to(u.erg)] * 3)
    assert nu["marker"]["color"] != points["marker"]["color"]


# --- viewers (issue 18) ---------------------------------------------------------------------

def _icecube_season_lc() -> Table:
    """The table `icecube_ps.service.season_light_curve` writes: 3 seasons, a float MJD time
    with its bins, livetime in days, TS, n_s and a flux ~1e-12 with its error and its limit."""
    flux_unit = u.Unit("1 / (TeV cm2 s)")
    t = Table({"season": ["IC79", "IC86_2011", "IC86_2012"],
               "time": [55500.0, 55900.0, 56250.0], "time_min": [55350.0, 55700.0, 56060.0],
               "time_max": [55650.0, 56060.0, 56440.0], "livetime": [310.0, 332.0, 330.0],
               "ts": [0.0, 2.5, 0.0], "ns": [0.0, 4.2, 0.0],
               "flux": [0.0, 1.1e-12, 0.0], "flux_err": [2e-13, 6e-13, 2e-13],
               "flux_ul": [9e-13, 2.4e-12, 8e-13]})
    for c in ("time", "time_min", "time_max", "livetime"):
        t[c].unit = u.d
    for c in ("flux", "flux_err", "flux_ul"):
        t[c].unit = flux_unit
    t.meta["TIMESYS"] = "MJD (UTC)"
    return t


def test_icecube_season_light_curve_one_panel_per_quantity(tmp_path):
    """Defect 3: livetime, TS, n_s and flux were one linear y axis with no title, the flux
    flat at 0, no limits, "12 points" for 3 seasons and "time [d]" for MJDs (fails on
    311d7db)."""
    product = write_product("season_lc", _icecube_season_lc(), tmp_path,
                            resolve("oda:LightCurve"))
    doc = strict(preview(product, tmp_path))
    assert doc["rows"] == 3  # what the portal counts, not points summed over traces
    layout = doc["figure"]["layout"]
    assert layout["xaxis"]["title"]["text"] == "time (MJD, UTC)"
    titles = {key: layout[key]["title"]["text"] for key in layout if key.startswith("yaxis")}
    assert titles == {"yaxis": "livetime [d]", "yaxis2": "ts", "yaxis3": "ns",
                      "yaxis4": "flux [1 / (TeV s cm2)]"}
    domains = [layout[k]["domain"] for k in ("yaxis", "yaxis2", "yaxis3", "yaxis4")]
    assert all(a[0] > b[1] for a, b in zip(domains, domains[1:], strict=False))  # stacked
    data = by_name(doc)
    assert data["flux"]["yaxis"] == "y4" and data["livetime"].get("yaxis", "y") == "y"
    assert data["flux"]["y"] == [0.0, 1.1e-12, 0.0]
    limits = assert_arrows(doc, "flux upper limit")
    assert limits["yaxis"] == "y4" and limits["y"] == [9e-13, 2.4e-12, 8e-13]
    assert data["flux upper limit arrowhead"]["yaxis"] == "y4"
    assert limits["x"] == [55500.0, 55900.0, 56250.0]


@pytest.mark.parametrize("layout", ["flag_and_value", "flag_only", "value_only", "sed"])
def test_every_limit_convention_is_drawn_as_arrows(tmp_path, layout):
    """Defect 15: one convention for upper limits whatever the table says they are (a boolean
    `is_ul`, a `*_ul` column, the SED convention): always downward arrows at the limit."""
    time = [60000.0, 60001.0, 60002.0] * u.d
    flux = [1.0, 2.0, 3.0] * u.ct / u.s
    if layout == "sed":
        from astroflow.products.sed import sed_table

        table = sed_table(energy=[1.0, 10.0] * u.TeV, e2dnde=[1e-12, 2e-12], is_ul=True,
                          kind="limit", messenger="neutrinos", instrument="IceCube")
        product = write_product("sed", table, tmp_path, resolve("oda:Spectrum"))
        expect = [1e-12, 2e-12]
    else:
        table = Table({"time": time, "flux": flux})
        if layout != "value_only":
            table["is_ul"] = [False, True, False]
        if layout != "flag_only":
            table["flux_ul"] = [5.0, 6.0, 7.0] * u.ct / u.s
        product = write_product("lc", table, tmp_path, resolve("oda:LightCurve"))
        expect = {"flag_and_value": [6.0], "flag_only": [2.0], "value_only": [5.0, 6.0, 7.0]}[layout]
    doc = strict(preview(product, tmp_path))
    limits = [t for t in traces(doc) if t["name"].endswith("upper limit")]
    assert len(limits) == 1
    assert assert_arrows(doc, limits[0]["name"])["y"] == pytest.approx(expect)


def test_image_colour_bar_names_quantity_and_unit_and_marks_the_target(tmp_path):
    """Images: the colour bar says what the pixels are (BTYPE / BUNIT's comment, BUNIT) and
    the job's position is marked when it lies inside, not when outside."""
    hdu = _sky_image((40, 60))
    hdu.header["BUNIT"] = ("", "test statistic")
    product = write_product("ts_map", hdu, tmp_path)
    doc = strict(preview(product, tmp_path, target=(83.633, 22.0145 + 0.05)))
    heat, target = traces(doc)
    assert heat["colorbar"]["title"]["text"] == "test statistic"
    assert target["x"] == [pytest.approx(29.0)] and target["y"] == [pytest.approx(24.0)]
    assert doc["target"] == "target RA 83.6330°, Dec 22.0645°"
    hdu.header["BUNIT"] = "ct"
    hdu.header["BTYPE"] = "counts"
    product = write_product("counts", hdu, tmp_path)
    doc = strict(preview(product, tmp_path, target=(120.0, -30.0), scale="log"))
    assert [t["type"] for t in traces(doc)] == ["heatmap"] and doc["target"] is None
    assert doc["colorbar"] == "log10 counts [ct]"


def test_sed_axes_keep_the_tables_units(tmp_path):
    """An SED in TeV cm-2 s-1 (as H.E.S.S. writes it) is drawn in those units, labelled so;
    the combined multi-messenger table stays in erg cm-2 s-1 (fails on 311d7db: always erg)."""
    from astroflow.products.sed import sed_table

    hess = sed_table(energy=[1.0, 10.0] * u.TeV, e2dnde=[2e-12, 1e-12] * u.Unit("TeV cm-2 s-1"),
                     e2dnde_errn=[2e-13, 1e-13] * u.Unit("TeV cm-2 s-1"),
                     e2dnde_errp=[2e-13, 1e-13] * u.Unit("TeV cm-2 s-1"),
                     messenger="gamma-rays", instrument="H.E.S.S.")
    hess["e2dnde"] = hess["e2dnde"].to("TeV cm-2 s-1")
    for c in ("e2dnde_errn", "e2dnde_errp"):
        hess[c] = hess[c].to("TeV cm-2 s-1")
    product = write_product("sed", hess, tmp_path, resolve("oda:Spectrum"))
    doc = strict(preview(product, tmp_path))
    layout = doc["figure"]["layout"]
    assert layout["yaxis"]["title"]["text"] == "E² dN/dE [TeV cm⁻² s⁻¹]"
    assert layout["xaxis"]["title"]["text"] == "Energy [TeV]"
    assert by_name(doc)["H.E.S.S. (gamma-rays)"]["y"] == pytest.approx([2e-12, 1e-12])


def test_photon_spectrum_is_drawn_as_e2dnde_and_counts_are_not(tmp_path):
    """Spectra MMODA users read as SEDs: ph cm-2 s-1 keV-1 becomes E² dN/dE in erg cm-2 s-1;
    counts per channel-like units stay as they are (fails on 311d7db: always the raw flux)."""
    spectrum = Table({"energy": [1.0, 10.0] * u.keV,
                      "flux": [2.0, 0.02] * u.Unit("ph / (cm2 s keV)")})
    product = write_product("spec", spectrum, tmp_path, resolve("oda:Spectrum"))
    main = by_name(strict(preview(product, tmp_path)))["flux"]
    assert main["y"] == pytest.approx([2.0 * u.keV.to(u.erg), 2.0 * u.keV.to(u.erg)])
    counts = Table({"energy": [1.0, 10.0] * u.keV, "rate": [5.0, 1.0] * u.ct / u.s})
    product = write_product("counts", counts, tmp_path, resolve("oda:Spectrum"))
    doc = strict(preview(product, tmp_path))
    assert by_name(doc)["rate"]["y"] == [5.0, 1.0]
    assert doc["figure"]["layout"]["yaxis"]["title"]["text"] == "rate [ct / s]"


@pytest.mark.parametrize(("meta", "title"), [
    ({"TIMESYS": "MJD (UTC)"}, "time (MJD, UTC)"),                 # IceCube's season_lc
    ({"time_format": "mjd", "time_scale": "tt"}, "time (MJD, TT)"),  # H.E.S.S., Fermi-LAT
    ({"TIMESYS": "TT", "MJDREF": 0.0}, "time (MJD, TT)"),            # FITS keywords
    ({}, "time (MJD)"),                                              # days in the MJD range
    ({"MJDREF": 51910.0}, "time [d since MJD 51910]"),
])
def test_numeric_time_axis_says_its_format(tmp_path, meta, title):
    """Defect 3/9: float MJDs were titled "time [d]" (fails on 311d7db)."""
    lc = Table({"time": [55500.0, 55900.0] * u.d, "flux": [1.0, 2.0] * u.ct / u.s}, meta=meta)
    product = write_product("lc", lc, tmp_path, resolve("oda:LightCurve"))
    layout = strict(preview(product, tmp_path))["figure"]["layout"]
    assert layout["xaxis"]["title"]["text"] == title
