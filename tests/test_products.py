"""Products: every accepted value form written, read back and checked for content."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import astropy.units as u
import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from astropy.nddata import CCDData, NDData
from astropy.table import QTable, Table
from astropy.time import Time
from astropy.wcs import WCS
from matplotlib.figure import Figure

from astroflow.ontology.model import ODA, ClassInfo
from astroflow.products import (
    MANIFEST_NAME,
    Product,
    ProductError,
    atomic,
    load_product,
    product_type_of,
    read_manifest,
    write_manifest,
    write_product,
)
from astroflow.products.stored import product_path

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def product_class(name: str, ptype: str) -> ClassInfo:
    return ClassInfo(uri=ODA + name, name=name, kind="product", product_type=ptype)


def parameter_class(name: str, python_type: type, **kw) -> ClassInfo:
    return ClassInfo(uri=ODA + name, name=name, kind="parameter", python_type=python_type, **kw)


LIGHTCURVE = product_class("LightCurve", "lightcurve")
SPECTRUM = product_class("Spectrum", "spectrum")
TABLE = product_class("ODAAstropyTable", "table")
IMAGE = product_class("Image", "image")
PICTURE = product_class("Picture", "picture")
BINARY = product_class("BinaryProduct", "binary")
TEXT = product_class("TextProduct", "text")
FILE = product_class("File", "file")
FLOAT = parameter_class("Float", float)
INTEGER = parameter_class("Integer", int)
STRING = parameter_class("String", str)
ENERGY_GEV = parameter_class("Energy_GeV", float, unit="GeV")


@pytest.fixture
def out(tmp_path: Path) -> Path:
    return tmp_path / "out"


def crab_wcs() -> WCS:
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [83.633, 22.0145]
    wcs.wcs.crpix = [8.5, 8.5]
    wcs.wcs.cdelt = [-0.01, 0.01]
    return wcs


def sky(shape=(16, 16)) -> np.ndarray:
    y, x = np.mgrid[: shape[0], : shape[1]]
    return np.exp(-((x - 8.0) ** 2 + (y - 8.0) ** 2) / 8.0)


def figure() -> Figure:
    fig = Figure(figsize=(3, 2))
    fig.add_subplot().plot([1, 2, 3], [1, 4, 9])
    return fig


def png_bytes() -> bytes:
    import io

    fig = figure()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=50)
    return buf.getvalue()


def no_temp_files(outdir: Path) -> bool:
    return not [p for p in outdir.iterdir() if p.name.startswith(".") or p.suffix == ".tmp"]


# --- scalars --------------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "info", "expected", "dtype"), [
    (3, INTEGER, 3, "int"),
    (2.5, FLOAT, 2.5, "float"),
    (True, parameter_class("Boolean", bool), True, "bool"),
    ("Crab", STRING, "Crab", "str"),
    (np.float32(1.5), None, 1.5, "float"),
    (np.int64(7), None, 7, "int"),
    (np.bool_(False), None, False, "bool"),
    (np.array(4.25), None, 4.25, "float"),
    (5, FLOAT, 5.0, "float"),
    (6.0, INTEGER, 6, "int"),
    (1 + 2j, None, 1 + 2j, "complex"),
])
def test_scalar_round_trip(out, value, info, expected, dtype):
    product = write_product("x", value, out, info)
    assert product.type == "scalar"
    assert product.files == {"json": "x.json"}
    assert product.meta["dtype"] == dtype
    back = load_product(product, out)
    assert back == expected and type(back) is type(expected)
    doc = json.loads(product_path(product, out, "json").read_text())
    assert set(doc) >= {"value", "unit"}


def test_scalar_quantity_keeps_unit(out):
    product = write_product("flux", 3.5e-11 * u.erg / u.cm**2 / u.s, out)
    assert product.type == "scalar"
    assert u.Unit(product.unit) == u.erg / u.cm**2 / u.s
    assert product.meta["value"] == pytest.approx(3.5e-11)
    back = load_product(product, out)
    assert back.unit == u.erg / u.cm**2 / u.s and back.value == pytest.approx(3.5e-11)


def test_scalar_quantity_converted_to_annotated_unit(out):
    product = write_product("e_min", 500 * u.MeV, out, ENERGY_GEV)
    assert product.unit == "GeV" and product.meta["value"] == pytest.approx(0.5)
    assert load_product(product, out).to_value(u.GeV) == pytest.approx(0.5)


def test_scalar_plain_number_takes_annotated_unit(out):
    product = write_product("e_min", 20.0, out, ENERGY_GEV)
    assert product.unit == "GeV"
    assert load_product(product, out) == 20.0 * u.GeV


def test_scalar_non_finite_float_is_strict_json(out):
    product = write_product("ts", float("nan"), out, FLOAT)
    json.loads(product_path(product, out, "json").read_text(), parse_constant=pytest.fail)
    assert np.isnan(load_product(product, out))
    inf = write_product("big", -np.inf, out)
    assert load_product(inf, out) == -np.inf


def test_scalar_time(out):
    product = write_product("t0", Time("2024-03-01T12:00:00", scale="utc"), out)
    assert product.type == "scalar" and product.meta["value"] == "2024-03-01T12:00:00.000"
    back = load_product(product, out)
    assert isinstance(back, Time) and back.isot == "2024-03-01T12:00:00.000"


def test_scalar_time_in_annotated_format(out):
    info = parameter_class("StartTimeMJD", float, format="mjd")
    product = write_product("t0", Time(60000.5, format="mjd"), out, info)
    assert product.meta["value"] == pytest.approx(60000.5)
    assert load_product(product, out).mjd == pytest.approx(60000.5)


def test_scalar_incompatible_unit_is_error(out):
    with pytest.raises(ProductError, match=r"'e_min'.*km.*GeV"):
        write_product("e_min", 3 * u.km, out, ENERGY_GEV)


def test_scalar_wrong_python_type_is_error(out):
    with pytest.raises(ProductError, match=r"'n'.*oda:Integer.*not a int"):
        write_product("n", "many", out, INTEGER)


def test_json_dict_becomes_scalar(out):
    product = write_product("pars", {"index": 2.1, "names": ["a", "b"]}, out)
    assert product.type == "scalar" and product.meta["dtype"] == "json"
    assert load_product(product, out) == {"index": 2.1, "names": ["a", "b"]}


# --- text -----------------------------------------------------------------------------------

def test_text_unannotated_and_annotated(out):
    plain = write_product("summary", "Crab detected at 42 σ\nsecond line\n", out)
    assert plain.type == "text" and plain.files == {"txt": "summary.txt"}
    assert load_product(plain, out) == "Crab detected at 42 σ\nsecond line\n"
    assert plain.meta["lines"] == 2
    note = write_product("note", "x", out, TEXT)
    assert note.type == "text" and load_product(note, out) == "x"
    assert note.ontology == ODA + "TextProduct"


def test_text_file_relative_to_cwd(tmp_path, out):
    work = tmp_path / "work"
    work.mkdir()
    (work / "report.txt").write_text("all good\n")
    product = write_product("report", "report.txt", out, cwd=work)
    assert product.type == "text" and product.files == {"txt": "report.txt"}
    assert load_product(product, out) == "all good\n"


def test_string_not_naming_a_file_is_text(tmp_path, out):
    assert write_product("s", "missing.txt", out, cwd=tmp_path).type == "text"


def test_unknown_object_falls_back_to_text(out):
    class Source:
        def __str__(self) -> str:
            return "Crab Nebula"

    product = write_product("src", Source(), out)
    assert product.type == "text" and load_product(product, out) == "Crab Nebula"
    assert product.meta["python_type"].endswith("Source")


# --- tables ---------------------------------------------------------------------------------

def catalogue() -> Table:
    return Table({"name": ["Crab", "Vela"], "ra": [83.63, 128.84] * u.deg,
                  "flux": [2.1e-11, 1.5e-11] * u.erg / u.cm**2 / u.s})


def check_catalogue(product: Product, out: Path) -> None:
    assert product.type == "table"
    assert set(product.files) == {"ecsv", "fits", "vot"}
    assert product.meta["nrows"] == 2
    cols = {c["name"]: c for c in product.meta["columns"]}
    assert cols["ra"]["unit"] == "deg" and cols["name"]["dtype"] == "str"
    assert cols["ra"]["dtype"] == "float64"
    back = load_product(product, out)
    assert list(back["name"]) == ["Crab", "Vela"] and back["ra"].unit == u.deg
    for fmt in ("fits", "votable"):
        key = "vot" if fmt == "votable" else fmt
        other = Table.read(product_path(product, out, key), format=fmt)
        assert other["ra"].unit == u.deg
        assert np.allclose(other["flux"], [2.1e-11, 1.5e-11])


@pytest.mark.filterwarnings("ignore:The unit 'erg' has been deprecated")
def test_table_from_astropy_table(out):
    check_catalogue(write_product("catalogue", catalogue(), out, TABLE), out)


@pytest.mark.filterwarnings("ignore:The unit 'erg' has been deprecated")
def test_table_from_qtable(out):
    product = write_product("catalogue", QTable(catalogue()), out)
    check_catalogue(product, out)


def test_table_from_dataframe(out):
    frame = pd.DataFrame({"name": ["Crab", "Vela"], "ra": [83.63, 128.84]})
    product = write_product("df", frame, out)
    assert product.type == "table" and [c["name"] for c in product.meta["columns"]] == [
        "name", "ra"]
    back = load_product(product, out)
    assert list(back["name"]) == ["Crab", "Vela"] and back["ra"][1] == pytest.approx(128.84)


def test_table_from_dataframe_keeps_named_index(out):
    frame = pd.DataFrame({"flux": [1.0, 2.0]}, index=pd.Index(["Crab", "Vela"], name="source"))
    back = load_product(write_product("df", frame, out), out)
    assert list(back.colnames) == ["source", "flux"] and list(back["source"]) == ["Crab", "Vela"]


def test_table_from_structured_array(out):
    rec = np.array([(1, 2.5), (2, 3.5)], dtype=[("id", "i4"), ("value", "f8")])
    product = write_product("rec", rec, out)
    assert product.type == "table"
    back = load_product(product, out)
    assert list(back["id"]) == [1, 2] and list(back["value"]) == [2.5, 3.5]


def test_table_from_list_of_dicts(out):
    rows = [{"source": "Crab", "ts": 1200.0}, {"source": "Mrk 421", "ts": 310.5}]
    product = write_product("detections", rows, out)
    assert product.type == "table"
    back = load_product(product, out)
    assert list(back["source"]) == ["Crab", "Mrk 421"] and back["ts"][1] == 310.5


def test_table_from_dict_of_columns(out):
    product = write_product("cols", {"id": [1, 2, 3], "ra": np.array([1.0, 2.0, 3.0]) * u.deg},
                            out, TABLE)
    back = load_product(product, out)
    assert back["ra"].unit == u.deg and list(back["id"]) == [1, 2, 3]


def test_one_dimensional_array_is_a_one_column_table(out):
    product = write_product("energies", np.array([1.0, 2.0, 4.0]) * u.TeV, out)
    assert product.type == "table"
    back = load_product(product, out)
    assert back.colnames == ["energies"] and back["energies"].unit == u.TeV


def test_table_time_column_survives_every_format(out):
    tab = Table({"obs": Time([60000.0, 60001.0], format="mjd"), "id": [1, 2]})
    product = write_product("obs", tab, out, TABLE)
    assert set(product.files) == {"ecsv", "fits", "vot"}
    back = load_product(product, out)
    assert isinstance(back["obs"], Time) and back["obs"].mjd[1] == pytest.approx(60001.0)
    vot = Table.read(product_path(product, out, "vot"), format="votable")
    assert vot["obs"].unit == u.day and vot["obs"][0] == pytest.approx(60000.0)


def test_table_with_unfitsable_column_keeps_ecsv(out):
    tab = Table({"nested": np.array([{"a": 1}, None], dtype=object), "n": [1, 2]})
    product = write_product("odd", tab, out)
    assert "ecsv" in product.files
    assert list(load_product(product, out)["n"]) == [1, 2]


def test_table_annotation_rejects_figure(out):
    fig = figure()
    with pytest.raises(ProductError, match=r"'t' is annotated as oda:ODAAstropyTable.*table"):
        write_product("t", fig, out, TABLE)


# --- light curves ---------------------------------------------------------------------------

@pytest.mark.parametrize("time_name", ["time", "TIME", "mjd", "MJD", "t"])
def test_lightcurve_time_column_names(out, time_name):
    tab = Table({time_name: [60000.0, 60001.0, 60002.0] * u.d, "rate": [1.0, 2.0, 1.5],
                 "rate_err": [0.1, 0.2, 0.1]})
    product = write_product("lc", tab, out, LIGHTCURVE)
    assert product.type == "lightcurve" and set(product.files) == {"ecsv", "fits", "vot"}
    assert product.meta["time_column"] == time_name
    assert product.meta["value_columns"] == ["rate"]
    assert product.meta["errors"] == {"rate": ["rate_err"]}
    back = load_product(product, out)
    assert back[time_name].unit == u.d and list(back["rate"]) == [1.0, 2.0, 1.5]


def test_lightcurve_with_time_object_and_upper_limits(out):
    tab = QTable({
        "obs_time": Time(["2024-01-01T00:00:00", "2024-01-02T00:00:00"], scale="utc"),
        "flux": [1e-11, 3e-12] * u.erg / u.cm**2 / u.s,
        "flux_err": [1e-12, 0.0] * u.erg / u.cm**2 / u.s,
        "is_ul": [False, True],
    })
    product = write_product("lc", tab, out, LIGHTCURVE)
    meta = product.meta
    assert meta["time_column"] == "obs_time" and meta["time_format"] == "isot"
    assert meta["upper_limit_column"] == "is_ul"
    assert meta["error_columns"] == ["flux_err"]
    assert meta["units"]["flux"] == u.Unit("erg / (cm2 s)").to_string()
    back = load_product(product, out)
    assert isinstance(back["obs_time"], Time) and list(back["is_ul"]) == [False, True]
    assert back["flux"].unit == u.erg / u.cm**2 / u.s


def test_lightcurve_from_dict_of_columns(out):
    product = write_product("lc", {"mjd": [1.0, 2.0], "mag": [12.1, 12.3]}, out, LIGHTCURVE)
    assert product.meta["time_column"] == "mjd" and product.meta["value_columns"] == ["mag"]
    assert list(load_product(product, out)["mag"]) == [12.1, 12.3]


def test_lightcurve_from_dataframe(out):
    frame = pd.DataFrame({"TIME": [0.0, 10.0], "RATE": [3.0, 4.0], "ERROR": [0.5, 0.6]})
    product = write_product("lc", frame, out, LIGHTCURVE)
    assert product.meta["errors"] == {"RATE": ["ERROR"]}


def test_unannotated_table_with_time_and_flux_is_a_lightcurve(out):
    tab = Table({"time": [1.0, 2.0], "flux": [3.0, 4.0]})
    assert product_type_of(tab, None) == "lightcurve"
    events = Table({"time": [1.0, 2.0], "energy": [3.0, 4.0]})
    assert product_type_of(events, None) == "table"
    assert write_product("events", events, out).type == "table"


def test_lightcurve_without_time_column_is_error(out):
    tab = Table({"energy": [1.0, 2.0], "flux": [3.0, 4.0]})
    with pytest.raises(ProductError, match=r"'lc'.*oda:LightCurve.*no time column"):
        write_product("lc", tab, out, LIGHTCURVE)


def test_lightcurve_annotation_rejects_float(out):
    with pytest.raises(ProductError, match=r"'lc' is annotated as oda:LightCurve.*float"):
        write_product("lc", 2.5, out, LIGHTCURVE)
    assert not out.exists() or not list(out.iterdir())


# --- spectra --------------------------------------------------------------------------------

def test_spectrum_energy_axis(out):
    tab = QTable({"e_ref": [1.0, 3.0, 10.0] * u.TeV, "e_min": [0.5, 2.0, 5.0] * u.TeV,
                  "e_max": [2.0, 5.0, 20.0] * u.TeV,
                  "dnde": [1e-11, 2e-12, 1e-13] * u.Unit("cm-2 s-1 TeV-1"),
                  "dnde_err": [1e-12, 2e-13, 5e-14] * u.Unit("cm-2 s-1 TeV-1"),
                  "is_ul": [False, False, True]})
    product = write_product("sed", tab, out, SPECTRUM)
    meta = product.meta
    assert product.type == "spectrum"
    assert (meta["axis"], meta["axis_column"]) == ("energy", "e_ref")
    assert meta["axis_bin_columns"] == ["e_min", "e_max"]
    assert meta["value_columns"] == ["dnde"] and meta["errors"] == {"dnde": ["dnde_err"]}
    assert meta["upper_limit_column"] == "is_ul"
    back = load_product(product, out)
    assert back["e_ref"].unit == u.TeV and back["dnde"].unit == u.Unit("cm-2 s-1 TeV-1")


def test_spectrum_detected_from_bin_edges_and_frequency(out):
    edges = Table({"e_min": [1.0, 2.0], "e_max": [2.0, 4.0], "flux": [5.0, 3.0]})
    assert product_type_of(edges, None) == "spectrum"
    radio = Table({"frequency": [1.4, 5.0] * u.GHz, "flux_density": [1.0, 0.5] * u.Jy})
    product = write_product("radio", radio, out)
    assert product.type == "spectrum" and product.meta["axis"] == "frequency"


def test_spectrum_axis_found_by_unit_when_annotated(out):
    tab = Table({"x": [5000.0, 6000.0] * u.AA, "y": [1.0, 2.0]})
    product = write_product("spec", tab, out, SPECTRUM)
    assert product.meta["axis"] == "wavelength" and product.meta["axis_column"] == "x"


def test_spectrum_without_axis_is_error(out):
    with pytest.raises(ProductError, match="no energy, frequency or wavelength column"):
        write_product("spec", Table({"a": [1.0], "b": [2.0]}), out, SPECTRUM)


# --- images ---------------------------------------------------------------------------------

def check_image(product: Product, out: Path, shape=(16, 16), wcs=True) -> fits.ImageHDU:
    assert product.type == "image"
    assert product_path(product, out, "png").read_bytes().startswith(PNG_MAGIC)
    assert product.meta["shape"] == list(shape)
    hdu = load_product(product, out)
    assert hdu.data.shape == shape
    if wcs:
        assert hdu.header["CTYPE1"] == "RA---TAN" and hdu.header["CTYPE2"] == "DEC--TAN"
        assert hdu.header["CRVAL1"] == pytest.approx(83.633)
        assert product.meta["wcs"]["CTYPE1"] == "RA---TAN"
        assert float(product.meta["wcs"]["CRVAL2"]) == pytest.approx(22.0145)
    return hdu


def test_image_from_plain_array(out):
    product = write_product("counts", sky(), out)
    assert product.files == {"fits": "counts.fits", "png": "counts.png"}
    hdu = check_image(product, out, wcs=False)
    assert "wcs" not in product.meta
    assert np.allclose(hdu.data, sky())


def test_image_cube(out):
    cube = np.stack([sky(), 2 * sky(), 3 * sky()])
    hdu = check_image(write_product("cube", cube, out, IMAGE), out, shape=(3, 16, 16), wcs=False)
    assert np.allclose(hdu.data[2], 3 * sky())


def test_image_from_quantity_sets_bunit(out):
    product = write_product("flux_map", sky() * u.Jy, out)
    assert product.unit == "Jy" and load_product(product, out).header["BUNIT"] == "Jy"


def test_image_from_array_and_wcs_tuple(out):
    check_image(write_product("skymap", (sky(), crab_wcs()), out, IMAGE), out)


def test_image_from_primary_hdu(out):
    hdu = fits.PrimaryHDU(sky(), header=crab_wcs().to_header())
    hdu.header["BUNIT"] = "ct"
    product = write_product("skymap", hdu, out)
    check_image(product, out)
    assert product.unit == "ct"


def test_image_from_image_hdu_and_hdulist(out):
    ext = fits.ImageHDU(sky(), header=crab_wcs().to_header(), name="SCI")
    product = write_product("single", ext, out)
    assert product.meta["hdu"] == 1
    check_image(product, out)
    hdul = fits.HDUList([fits.PrimaryHDU(), ext.copy(), fits.ImageHDU(np.zeros((4, 4)),
                                                                      name="EXPOSURE")])
    product = write_product("multi", hdul, out)
    assert product.meta["hdus"] == ["PRIMARY", "SCI", "EXPOSURE"]
    check_image(product, out)


def test_image_from_ccddata_and_nddata(out):
    ccd = CCDData(sky(), unit="adu", wcs=crab_wcs())
    product = write_product("ccd", ccd, out)
    check_image(product, out)
    assert product.unit == "adu"
    nd = NDData(sky(), wcs=crab_wcs(), unit=u.Jy)
    product = write_product("nd", nd, out)
    check_image(product, out)
    assert product.unit == "Jy"


def test_image_from_fits_path(tmp_path, out):
    src = tmp_path / "input map.fits"
    fits.PrimaryHDU(sky(), header=crab_wcs().to_header()).writeto(src)
    annotated = write_product("skymap", str(src), out, IMAGE)
    assert annotated.files == {"fits": "skymap.fits", "png": "skymap.png"}
    check_image(annotated, out)
    plain = write_product("raw", src, out)
    assert plain.type == "image" and plain.files["fits"] == "input_map.fits"
    check_image(plain, out)


def test_bool_mask_image_written_as_integers(out):
    mask = sky() > 0.5
    hdu = load_product(write_product("mask", mask, out, IMAGE), out)
    assert hdu.data.dtype.kind in "iu" and (hdu.data.astype(bool) == mask).all()


def test_image_annotation_rejects_1d_array(out):
    with pytest.raises(ProductError, match=r"'img'.*oda:Image.*2-D or 3-D"):
        write_product("img", np.arange(5.0), out, IMAGE)


# --- pictures -------------------------------------------------------------------------------

def test_picture_from_pyplot_figure(out):
    import matplotlib.pyplot as plt

    plt.switch_backend("Agg")
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([1, 2, 3], [1, 4, 9])
    product = write_product("plot", fig, out)
    plt.close(fig)
    assert product.type == "picture" and product.files == {"png": "plot.png"}
    data = load_product(product, out)
    assert data.startswith(PNG_MAGIC)
    assert product.meta["format"] == "png" and product.meta["width"] > 100
    assert product.meta["height"] > 50 and product.meta["bytes"] == len(data)


def test_picture_from_png_bytes(out):
    data = png_bytes()
    product = write_product("plot", data, out, PICTURE)
    assert product.files == {"png": "plot.png"} and load_product(product, out) == data


def test_picture_from_jpeg_bytes(out):
    import io

    fig = figure()
    buf = io.BytesIO()
    fig.savefig(buf, format="jpeg", dpi=40)
    product = write_product("photo", buf.getvalue(), out)
    assert product.type == "picture" and product.files == {"jpeg": "photo.jpg"}
    assert product.meta["width"] == 120 and product.meta["height"] == 80
    assert load_product(product, out)[:3] == b"\xff\xd8\xff"


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".jpeg", ".svg"])
def test_picture_from_file(tmp_path, out, suffix):
    fig = figure()
    src = tmp_path / f"plot{suffix}"
    fig.savefig(src, dpi=40)
    product = write_product("plot_out", str(src), out)
    assert product.type == "picture"
    assert list(product.files.values()) == [f"plot{suffix}"]
    assert load_product(product, out) == src.read_bytes()
    if suffix == ".svg":
        assert product.meta["format"] == "svg"
    else:
        assert product.meta["width"] == 120


def test_picture_annotation_rejects_other_bytes(out):
    with pytest.raises(ProductError, match=r"not a PNG, JPEG, GIF or SVG"):
        write_product("plot", b"plain bytes", out, PICTURE)


# --- binary and files -----------------------------------------------------------------------

@pytest.mark.parametrize("value", [b"\x00\x01\x02", bytearray(b"\x00\x01\x02"),
                                   memoryview(b"\x00\x01\x02")])
def test_binary_from_bytes(out, value):
    product = write_product("blob", value, out)
    assert product.type == "binary" and product.files == {"bin": "blob.bin"}
    assert load_product(product, out) == b"\x00\x01\x02" and product.meta["bytes"] == 3


def test_png_bytes_annotated_binary_stay_binary(out):
    assert write_product("raw", png_bytes(), out, BINARY).type == "binary"


def test_binary_from_path_annotated(tmp_path, out):
    src = tmp_path / "model.h5"
    src.write_bytes(b"\x89HDF\r\n")
    product = write_product("model", src, out, BINARY)
    assert product.type == "binary" and product.files == {"h5": "model.h5"}
    assert load_product(product, out) == b"\x89HDF\r\n"


def test_binary_annotation_rejects_float(out):
    with pytest.raises(ProductError, match=r"'blob'.*oda:BinaryProduct.*not binary"):
        write_product("blob", 1.0, out, BINARY)


def test_file_keeps_original_base_name(tmp_path, out):
    work = tmp_path / "work"
    work.mkdir()
    (work / "events.dat").write_bytes(b"\x01\x02")
    product = write_product("events", "events.dat", out, cwd=work)
    assert product.type == "file" and product.files == {"dat": "events.dat"}
    assert product.meta["original_name"] == "events.dat"
    assert load_product(product, out) == b"\x01\x02"
    annotated = write_product("again", Path("events.dat"), out, FILE, cwd=work)
    assert annotated.type == "file" and annotated.files == {"dat": "events-2.dat"}


def test_file_csv_becomes_table(tmp_path, out):
    src = tmp_path / "sources.csv"
    src.write_text("name,ra\nCrab,83.63\nVela,128.84\n")
    product = write_product("sources", str(src), out)
    assert product.type == "table"
    assert product.files == {"csv": "sources.csv", "ecsv": "sources.ecsv"}
    assert list(load_product(product, out)["name"]) == ["Crab", "Vela"]


def test_file_fits_table_becomes_table_or_lightcurve(tmp_path, out):
    src = tmp_path / "lc.fits"
    Table({"TIME": [0.0, 1.0], "RATE": [3.0, 4.0], "ERROR": [0.1, 0.2]}).write(src)
    product = write_product("lc_file", src, out)
    assert product.type == "lightcurve" and product.files["fits"] == "lc.fits"
    assert product.meta["time_column"] == "TIME"
    assert list(load_product(product, out)["RATE"]) == [3.0, 4.0]
    cat = tmp_path / "cat.fits"
    Table({"ra": [1.0], "dec": [2.0]}).write(cat)
    assert write_product("cat", cat, out).type == "table"


def test_file_already_in_outdir_is_not_copied(out):
    out.mkdir()
    (out / "result.dat").write_bytes(b"data")
    product = write_product("result", out / "result.dat", out)
    assert product.files == {"dat": "result.dat"}
    assert sorted(p.name for p in out.iterdir()) == ["result.dat"]


def test_missing_path_object_is_error(tmp_path, out):
    with pytest.raises(ProductError, match="does not exist"):
        write_product("f", tmp_path / "nope.fits", out)
    with pytest.raises(ProductError, match=r"'f'.*oda:File.*does not exist"):
        write_product("f", "nope.fits", out, FILE, cwd=tmp_path)


def test_none_is_error(out):
    with pytest.raises(ProductError, match="'result' is None"):
        write_product("result", None, out)
    with pytest.raises(ProductError, match="is None"):
        product_type_of(None)


def test_value_that_is_no_product_is_error(out):
    with pytest.raises(ProductError, match=r"'hyper'.*neither a table column nor an image"):
        write_product("hyper", np.zeros((2, 2, 2, 2)), out)


# --- oda_api products (attribute shapes of oda_api.data_products, no oda_api install) --------

class _OdaTable:
    def __init__(self, table):
        self.table = table


class _OdaPicture:
    def __init__(self, data):
        self.binary_data = data


class _OdaLightCurve:
    def to_fits_hdu_list(self):
        rec = np.rec.fromarrays([[0.0, 1.0], [2.0, 3.0], [0.1, 0.1]],
                                names=("TIME", "RATE", "ERROR"))
        return fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU(rec, name="LC")])


for _cls, _name in ((_OdaTable, "ODAAstropyTable"), (_OdaPicture, "PictureProduct"),
                    (_OdaLightCurve, "LightCurveDataProduct")):
    _cls.__module__ = "oda_api.data_products"
    _cls.__name__ = _cls.__qualname__ = _name


class _BrokenOdaProduct:
    def to_fits_hdu_list(self):
        raise RuntimeError("an exception occurred in oda_api")


_BrokenOdaProduct.__module__ = "oda_api.data_products"


def test_oda_api_product_that_cannot_unwrap_is_error(out):
    with pytest.raises(ProductError, match=r"'lc': cannot unwrap.*exception occurred"):
        write_product("lc", _BrokenOdaProduct(), out, LIGHTCURVE)


def test_oda_api_products_are_unwrapped(out):
    assert write_product("t", _OdaTable(catalogue()), out).type == "table"
    assert write_product("p", _OdaPicture(png_bytes()), out).type == "picture"
    lc = write_product("lc", _OdaLightCurve(), out, LIGHTCURVE)
    assert lc.meta["time_column"] == "TIME" and lc.meta["errors"] == {"RATE": ["ERROR"]}


# --- detection ------------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "info", "expected"), [
    (1.5, None, "scalar"),
    (1.5 * u.deg, None, "scalar"),
    ("hello", None, "text"),
    ("hello", STRING, "scalar"),
    (b"\x00", None, "binary"),
    (PNG_MAGIC + b"rest", None, "picture"),
    (np.zeros((3, 3)), None, "image"),
    (np.zeros((3, 3)), TABLE, "table"),
    (catalogue(), None, "table"),
    (catalogue(), TABLE, "table"),
    (Table({"time": [1.0], "rate": [2.0]}), TABLE, "table"),
    (2.5, LIGHTCURVE, "scalar"),  # annotation impossible: detected type, write_product raises
    ({"a": 1}, None, "scalar"),
    ([{"a": 1}], None, "table"),
    (catalogue(), product_class("Other", None), "table"),
])
def test_product_type_of(value, info, expected):
    assert product_type_of(value, info) == expected


def test_product_type_of_figure():
    fig = figure()
    assert product_type_of(fig, None) == "picture"


# --- manifest -------------------------------------------------------------------------------

def test_manifest_round_trip(out):
    products = [
        write_product("lc", Table({"time": [1.0, 2.0], "flux": [np.nan, 1.0]}), out, LIGHTCURVE,
                      title="Crab light curve", description="daily bins"),
        write_product("ts", float("inf"), out, FLOAT),
        write_product("counts", (sky(), crab_wcs()), out),
    ]
    path = write_manifest(products, out)
    assert path == out / MANIFEST_NAME
    json.loads(path.read_text(), parse_constant=pytest.fail)  # strict JSON
    back = read_manifest(out)
    assert [p.to_dict() for p in back] == [p.to_dict() for p in products]
    assert back[0].title == "Crab light curve" and back[0].description == "daily bins"
    assert back[0].ontology == ODA + "LightCurve"
    assert back[2].meta["wcs"]["CTYPE1"] == "RA---TAN"
    assert np.isinf(load_product(back[1], out))
    assert no_temp_files(out)


def test_manifest_default_title_and_rewrite(out):
    first = write_product("spectral_index", 2.3, out)
    assert first.title == "spectral index"
    write_manifest([first], out)
    write_manifest([], out)
    assert read_manifest(out) == []


def test_manifest_errors(out):
    out.mkdir()
    with pytest.raises(FileNotFoundError):
        read_manifest(out)
    (out / MANIFEST_NAME).write_text("{not json")
    with pytest.raises(ProductError, match="not valid JSON"):
        read_manifest(out)
    (out / MANIFEST_NAME).write_text(json.dumps({"version": 99, "products": []}))
    with pytest.raises(ProductError, match="version 99"):
        read_manifest(out)
    (out / MANIFEST_NAME).write_text(json.dumps({"products": [{"name": "x", "type": "movie"}]}))
    with pytest.raises(ProductError, match="unknown type 'movie'"):
        read_manifest(out)
    p = Product(name="a", type="text", title="a", files={"txt": "a.txt"})
    with pytest.raises(ProductError, match="share the name"):
        write_manifest([p, p], out)


def test_load_refuses_paths_outside_outdir(tmp_path, out):
    (tmp_path / "secret.txt").write_text("no")
    out.mkdir()
    evil = Product(name="x", type="text", title="x", files={"txt": "../secret.txt"})
    with pytest.raises(ProductError, match="not a plain base name"):
        load_product(evil, out)


# --- atomic writes and names ----------------------------------------------------------------

def test_no_temp_files_after_every_kind_of_write(tmp_path, out):
    fig = figure()
    write_product("a", catalogue(), out)
    write_product("b", fig, out)
    write_product("c", (sky(), crab_wcs()), out)
    write_product("d", 1.0, out)
    write_product("e", "text", out)
    write_product("f", b"\x00", out)
    assert no_temp_files(out)
    # One file a product (none for a scalar or a short text, kept in their records): the
    # other formats are made on first download.
    assert {p.name for p in out.iterdir()} == {"a.ecsv", "b.png", "c.fits", "f.bin"}


def test_failed_atomic_write_leaves_nothing(tmp_path):
    final = tmp_path / "x.fits"

    def broken(tmp: Path) -> None:
        tmp.write_bytes(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic.write_with(final, broken)
    assert list(tmp_path.iterdir()) == []


def test_failed_table_write_leaves_no_temp(out):
    class Exploding(Table):
        def write(self, *args, **kwargs):
            Path(args[0]).write_text("partial")
            raise RuntimeError("boom")

    with pytest.raises(ProductError, match=r"'t'.*boom"):
        write_product("t", Exploding({"a": [1]}), out)
    assert list(out.iterdir()) == []


def test_failure_after_some_files_removes_them(out, monkeypatch):
    from astroflow.products import tables

    def broken(table):
        raise RuntimeError("column inspection failed")

    monkeypatch.setattr(tables, "describe_columns", broken)
    with pytest.raises(ProductError, match=r"'cat'.*column inspection failed"):
        write_product("cat", catalogue(), out)
    assert list(out.iterdir()) == []


@pytest.mark.parametrize(("name", "stem"), [
    ("../../evil", "evil"),
    ("a/b", "a_b"),
    ("/etc/passwd", "etc_passwd"),
    ("..", "product"),
    ("flux map (Crab)", "flux_map_Crab"),
    ("λ", "product"),
])
def test_file_names_are_sanitised(tmp_path, name, stem):
    out = tmp_path / "deep" / "out"
    product = write_product(name, "text " * 1000, out)  # long: stored as a file
    assert product.name == name and product.files == {"txt": f"{stem}.txt"}
    assert [p.name for p in out.iterdir()] == [f"{stem}.txt"]
    assert sorted(p.name for p in (tmp_path / "deep").iterdir()) == ["out"]


def test_copied_file_names_are_sanitised(tmp_path, out):
    src = tmp_path / "my data;rm -rf.dat"
    src.write_bytes(b"x")
    product = write_product("f", src, out)
    assert product.files == {"dat": "my_data_rm_-rf.dat"}


def test_same_name_twice_does_not_overwrite(out):
    reserved: set[str] = set()  # names of formats not made yet are only known so
    first = write_product("x", 1.0, out, reserved=reserved)
    second = write_product("x", 2.0, out, reserved=reserved)
    assert first.files == {"json": "x.json"} and second.files == {"json": "x-2.json"}
    assert load_product(first, out) == 1.0 and load_product(second, out) == 2.0


def test_manifest_name_is_never_taken(tmp_path, out):
    src = tmp_path / "products.json"
    src.write_text("{}")
    product = write_product("products", src, out)
    assert MANIFEST_NAME not in product.files.values()


# --- import cost ----------------------------------------------------------------------------

def test_import_loads_no_heavy_library():
    code = ("import sys, astroflow.products; "
            "print([m for m in ('matplotlib', 'pandas', 'astropy.io.votable', 'astropy.table', "
            "'numpy') if m in sys.modules])")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=env, timeout=60, check=True)
    assert result.stdout.strip() == "[]"
