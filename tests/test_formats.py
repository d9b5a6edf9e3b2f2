"""Download formats: stored files, CSV and JSON derived from tables, names and media types."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import astropy.units as u
import numpy as np
import pytest
from astropy.io import fits
from astropy.table import MaskedColumn, Table
from astropy.time import Time

from astroflow.products import ProductError, write_product
from astroflow.products.stored import derived_dir
from astroflow.server.formats import (
    MEDIA_TYPES,
    FormatError,
    available_formats,
    column_values,
    download,
)


def _figure():
    from matplotlib.figure import Figure

    fig = Figure(figsize=(2, 2))
    fig.add_subplot().plot([1, 2, 3])
    return fig


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> tuple[Path, dict]:
    outdir = tmp_path_factory.mktemp("job") / "products"  # derived/ goes beside it
    values = {
        "catalogue": Table({"source": ["Crab", "Vela"], "flux": [1.5, np.nan] * u.mJy,
                            "vec": np.arange(4.0).reshape(2, 2)}),
        "light_curve": Table({"time": Time([60000.0, 60000.5, 60001.0], format="mjd"),
                              "rate": [1.0, 2.0, 3.0] * u.ct / u.s,
                              "rate_err": [0.1, 0.2, 0.3] * u.ct / u.s}),
        "sky_map": np.arange(12.0).reshape(3, 4),
        "figure": _figure(),
        "energy_cut": 3.5 * u.keV,
        "log": "first line\nsecond line\n",
        "blob": b"\x00\x01\x02\xff",
    }
    products = {name: write_product(name, value, outdir) for name, value in values.items()}
    return outdir, products


def test_types_of_fixture(written):
    _, products = written
    assert {name: p.type for name, p in products.items()} == {
        "catalogue": "table", "light_curve": "lightcurve", "sky_map": "image",
        "figure": "picture", "energy_cut": "scalar", "log": "text", "blob": "binary"}


def test_available_formats(written):
    _, products = written
    assert available_formats(products["catalogue"]) == ["ecsv", "fits", "votable", "csv", "json"]
    assert available_formats(products["light_curve"])[:1] == ["ecsv"]
    assert "csv" in available_formats(products["light_curve"])
    assert available_formats(products["sky_map"]) == ["fits", "png"]
    assert available_formats(products["figure"]) == ["png"]
    assert available_formats(products["energy_cut"]) == ["json"]
    assert available_formats(products["log"]) == ["txt"]
    assert available_formats(products["blob"]) == ["bin"]


def test_primary_format_is_first(written):
    outdir, products = written
    got = download(products["catalogue"], outdir, None)
    assert got.path == outdir / "catalogue.ecsv" and got.content is None
    assert got.filename == "catalogue.ecsv"
    assert got.media_type == MEDIA_TYPES["ecsv"] == "text/plain; charset=utf-8"
    image = download(products["sky_map"], outdir, None)
    assert image.media_type == "application/fits" and image.filename == "sky_map.fits"
    assert fits.getdata(image.path).shape == (3, 4)


@pytest.mark.parametrize(("name", "fmt", "media", "filename"), [
    ("catalogue", "votable", "application/x-votable+xml", "catalogue.vot"),
    ("catalogue", "VOT", "application/x-votable+xml", "catalogue.vot"),
    ("catalogue", "fits", "application/fits", "catalogue.fits"),
    ("sky_map", "png", "image/png", "sky_map.png"),
    ("figure", "png", "image/png", "figure.png"),
    ("energy_cut", "json", "application/json", "energy_cut.json"),
    ("log", "txt", "text/plain; charset=utf-8", "log.txt"),
    ("log", "text", "text/plain; charset=utf-8", "log.txt"),
    ("blob", "bin", "application/octet-stream", "blob.bin"),
])
def test_stored_formats(written, name, fmt, media, filename):
    outdir, products = written
    got = download(products[name], outdir, fmt)
    assert (got.media_type, got.filename) == (media, filename)
    assert got.path is not None and got.path.is_file()
    product = products[name]
    stored = next(k for k in product.files if got.path.name == product.files[k])
    # The stored format is served from products/, the others from derived/ beside it.
    expected = derived_dir(outdir) if stored in product.derived else outdir
    assert got.path.parent == expected


def test_votable_reads_back(written):
    outdir, products = written
    table = Table.read(download(products["catalogue"], outdir, "votable").path,
                       format="votable")
    assert list(table["source"]) == ["Crab", "Vela"]


def test_csv_from_ecsv_is_cached(written):
    outdir, products = written
    first = download(products["light_curve"], outdir, "csv")
    assert first.media_type == "text/csv; charset=utf-8"
    assert first.filename == "light_curve.csv"
    assert first.path is not None and first.path.parent == derived_dir(outdir)  # evictable
    rows = list(csv.reader(io.StringIO(first.path.read_text())))
    assert rows[0] == ["time", "rate", "rate_err"]
    assert [float(r[1]) for r in rows[1:]] == [1.0, 2.0, 3.0]
    assert float(rows[1][0]) == 60000.0
    inode = first.path.stat().st_ino
    os.utime(first.path, (1, 1))
    again = download(products["light_curve"], outdir, "CSV")
    assert again.path == first.path and again.path.stat().st_ino == inode  # not made again
    assert again.path.stat().st_mtime > 1  # but marked as used now (eviction goes by it)
    assert not list(derived_dir(outdir).glob(".*.tmp"))  # atomic write left no temporaries


def test_csv_flattens_multidimensional_columns(written):
    outdir, products = written
    text = download(products["catalogue"], outdir, "csv").path.read_text()
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["source", "flux", "vec"]
    assert json.loads(rows[1][2]) == [0.0, 1.0]


def test_json_rows(written):
    outdir, products = written
    got = download(products["catalogue"], outdir, "json")
    assert got.media_type == "application/json" and got.filename == "catalogue.json"
    doc = json.loads(got.path.read_bytes())
    assert doc["nrows"] == 2 and doc["truncated"] is False
    assert [c["name"] for c in doc["columns"]] == ["source", "flux", "vec"]
    assert doc["columns"][1]["unit"] == "mJy"
    assert doc["rows"] == [{"source": "Crab", "flux": 1.5, "vec": [0.0, 1.0]},
                           {"source": "Vela", "flux": None, "vec": [2.0, 3.0]}]


def test_json_rows_of_time_series(written):
    outdir, products = written
    doc = json.loads(download(products["light_curve"], outdir, "json").path.read_bytes())
    assert [r["time"] for r in doc["rows"]] == [60000.0, 60000.5, 60001.0]
    assert doc["columns"][0]["dtype"] == "time"


def test_unknown_format_lists_available(written):
    outdir, products = written
    with pytest.raises(FormatError) as info:
        download(products["sky_map"], outdir, "csv")
    assert info.value.available == ["fits", "png"]
    assert "fits, png" in str(info.value)
    with pytest.raises(FormatError, match="ecsv, fits, votable, csv, json"):
        download(products["catalogue"], outdir, "hdf5")
    with pytest.raises(FormatError, match="json"):
        download(products["energy_cut"], outdir, "csv")


def test_missing_file_is_reported(tmp_path):
    product = write_product("gone", "text " * 1000, tmp_path)  # long: stored as a file
    (tmp_path / product.files["txt"]).unlink()
    with pytest.raises(ProductError, match="missing"):
        download(product, tmp_path, "txt")


def test_unwritable_cache_serves_from_memory(tmp_path):
    outdir = tmp_path / "products"
    product = write_product("lc", Table({"time": [1.0, 2.0], "flux": [3.0, 4.0]}), outdir)
    blocker = derived_dir(outdir) / f"{product.files['ecsv']}.csv"
    blocker.mkdir(parents=True)  # the cache cannot be written
    got = download(product, outdir, "csv")
    assert got.path is None and got.content.startswith(b"time,flux")
    assert not list(derived_dir(outdir).glob(".*.tmp"))


def test_column_values_masks_and_non_finite():
    col = MaskedColumn([1.0, 2.0, np.inf], mask=[False, True, False])
    assert column_values(col) == [1.0, None, None]
    times = Time(["2024-01-01T00:00:00", "2024-01-02T00:00:00"])
    assert column_values(times) == ["2024-01-01T00:00:00.000", "2024-01-02T00:00:00.000"]
    assert column_values(np.array([b"a", b"b"])) == ["a", "b"]
    assert column_values([1, 2] * u.m) == [1.0, 2.0]
