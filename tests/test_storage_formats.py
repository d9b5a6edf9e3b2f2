"""Products written once, other formats made on first download (issue 22, item 1).

Each format made on demand is compared byte for byte with the file the eager writer of before
made from the notebook's value (astropy's writers called as tables.py/images.py/scalars.py
called them). Then, through a real server: what a trivial job leaves, a derived file made
again after it was deleted, and concurrent first downloads all reading one whole file.
"""

from __future__ import annotations

import io
import json
import os
import threading
import warnings
import zipfile
from pathlib import Path

import astropy.units as u
import httpx
import numpy as np
import pytest
from astropy.io import fits
from astropy.table import MaskedColumn, QTable, Table
from astropy.time import Time
from astropy.wcs import WCS
from server_process import ServerProcess

from astroflow.products import write_product
from astroflow.products.model import Product
from astroflow.products.preview import render_image
from astroflow.products.scalars import to_scalar, write_scalar
from astroflow.products.stored import derived_dir, product_path
from astroflow.products.tables import _votable_friendly
from astroflow.server.formats import download

API = "/api/v1"


def _tables() -> dict[str, Table]:
    plain = Table({"i": [1, 2, 3], "x": [0.5, np.nan, -3.25], "name": ["Crab", "Vela", "M87"]})
    rich = Table({"t": Time([60000.125, 60001.5], format="mjd"),
                  "flux": [1.5e-11, 2.5e-11] * u.erg / u.cm**2 / u.s,
                  "vec": [[0.0, 1.0], [2.0, 3.0]]},
                 meta={"instrument": "HESS", "cuts": {"emax": [10, 20], "emin": 1.0}})
    rich["flux"].description = "integral flux"
    rich["flux"].format = ".3e"
    masked = Table({"n": MaskedColumn([1, 2, 3], mask=[False, True, False]),
                    "f": MaskedColumn([1.5, 2.5, 3.5], mask=[True, False, False]),
                    "b": [True, False, True], "f32": np.array([0.1, 0.2, 0.3], dtype=np.float32)})
    quantities = QTable({"e": [1.0, 10.0, 100.0] * u.TeV, "n": [3, 2, 1],
                         "t": Time([60000.0, 60000.5, 60001.0], format="mjd")})
    return {"plain": plain, "rich": rich, "masked": masked, "qtable": quantities}


def _old_fits(table: Table) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table.write(buf, format="fits")
    return buf.getvalue()


def _old_votable(table: Table) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _votable_friendly(table).write(buf, format="votable")
    return buf.getvalue()


def _old_ecsv(table: Table) -> bytes:
    buf = io.StringIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table.write(buf, format="ascii.ecsv")
    return buf.getvalue().encode()


@pytest.mark.parametrize("name", ["plain", "rich", "masked", "qtable"])
def test_table_formats_made_later_are_the_bytes_written_before(tmp_path: Path, name: str):
    """ECSV is stored; FITS and VOTable, made from it on first download, are byte-identical
    to the files written at once from the notebook's table (no DATE or checksum to strip:
    astropy's table writers put none in)."""
    table = _tables()[name]
    out = tmp_path / "job" / "products"
    product = write_product(name, table, out)
    assert product.derived == ["fits", "vot"]
    assert sorted(p.name for p in out.iterdir()) == [f"{name}.ecsv"]
    assert (out / f"{name}.ecsv").read_bytes() == _old_ecsv(table)
    fits_file = download(product, out, "fits").path
    vot_file = download(product, out, "votable").path
    assert fits_file is not None and fits_file.parent == derived_dir(out)
    assert fits_file.read_bytes() == _old_fits(table)
    assert vot_file is not None and vot_file.read_bytes() == _old_votable(table)


@pytest.mark.parametrize("table", [
    Table({"s": np.array(["a", "bc"], dtype="U10")}),  # wider than its longest value
    Table({"t": Time(["2020-01-01T00:00:00.123456789", "2021-06-01T12:00:00"])}),  # iso digits
    Table({"a": [1]}, meta={"cuts": {"emin": 1, "emax": 2}}),  # ECSV sorts nested keys
], ids=["wide-string", "iso-time", "nested-meta-order"])
def test_a_table_ecsv_does_not_give_back_keeps_every_format_written(tmp_path: Path, table):
    out = tmp_path / "job" / "products"
    product = write_product("t", table, out)
    assert product.derived == []
    assert sorted(p.name for p in out.iterdir()) == ["t.ecsv", "t.fits", "t.vot"]
    assert download(product, out, "fits").path == out / "t.fits"  # served as stored


def test_image_stored_as_fits_and_its_png_drawn_as_before(tmp_path: Path):
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [83.63, 22.01]
    wcs.wcs.crpix = [8, 8]
    wcs.wcs.cdelt = [-0.01, 0.01]
    data = np.arange(256, dtype=float).reshape(16, 16)
    out = tmp_path / "job" / "products"
    product = write_product("sky", (data * u.ct, wcs), out, title="Crab counts")
    assert product.derived == ["png"] and sorted(p.name for p in out.iterdir()) == ["sky.fits"]
    with fits.open(out / "sky.fits") as stored:
        header = stored[0].header
        assert header["BUNIT"] == "count"  # as images.write_image drew it: unit from BUNIT
        png = render_image(stored[0].data, header, header["BUNIT"], "Crab counts")
    assert product_path(product, out, "png").read_bytes() == png


@pytest.mark.parametrize("value", [2.5, 7, True, [1, "a"], float("nan"), 1 + 2j,
                                   3.5e-11 * u.erg / u.cm**2 / u.s,
                                   Time("2024-03-01T12:00:00", scale="utc")],
                         ids=["float", "int", "bool", "json", "nan", "complex", "quantity", "time"])
def test_scalar_json_made_from_the_record_is_the_file_written_before(tmp_path: Path, value):
    out = tmp_path / "job" / "products"
    product = write_product("x", value, out)
    assert product.derived == ["json"] and list(out.iterdir()) == []  # no file stored
    old = tmp_path / "old.json"
    write_scalar(to_scalar(value), old)
    record = json.loads(json.dumps(product.to_dict()))  # as the database gives it back
    again = Product.from_dict(record)
    assert product_path(again, out, "json").read_bytes() == old.read_bytes()


def test_a_deleted_derived_file_is_made_again(tmp_path: Path):
    out = tmp_path / "job" / "products"
    product = write_product("cat", _tables()["plain"], out)
    first = download(product, out, "fits").path
    assert first is not None
    content = first.read_bytes()
    os.utime(first, (1, 1))
    assert download(product, out, "fits").path.stat().st_mtime > 1  # a serve marks its use
    first.unlink()  # evicted
    again = download(product, out, "fits").path
    assert again == first and again.read_bytes() == content


def test_a_derived_folder_that_cannot_be_written_serves_from_memory(tmp_path: Path):
    """A read-only or full store: the format is still served, whole, and nothing is left."""
    out = tmp_path / "job" / "products"
    table = _tables()["plain"]
    product = write_product("cat", table, out)
    derived_dir(out).write_text("not a folder")  # derived/ cannot be made
    got = download(product, out, "fits")
    assert got.path is None and got.content == _old_fits(table)
    assert sorted(p.name for p in (tmp_path / "job").iterdir()) == ["derived", "products"]


TRIVIAL = '''# %% [markdown]
# # Trivial
# One number out.

# %% tags=["parameters"]
x = 1.0  # oda:Float

# %%
y = x * 2

# %% tags=["outputs"]
y  # oda:Float
'''
GREETING = '''# %% [markdown]
# # Greeting
# One text out (a text product, not a string scalar).

# %% tags=["parameters"]
who = "world"  # oda:String

# %%
greeting = f"hello {who}"

# %% tags=["outputs"]
greeting  # oda:ODATextProduct
'''
CATALOGUE = '''# %% [markdown]
# # Catalogue
# A table out.

# %% tags=["parameters"]
n = 3  # oda:Integer

# %%
from astropy.table import Table

print("rows", n)
cat = Table({"i": list(range(n)), "flux": [0.5 * i for i in range(n)]})
cat["flux"].unit = "mJy"

# %% tags=["outputs"]
cat  # oda:ODAAstropyTable
'''


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    services = tmp_path_factory.mktemp("services")
    (services / "trivial.py").write_text(TRIVIAL)
    (services / "greeting.py").write_text(GREETING)
    (services / "catalogue.py").write_text(CATALOGUE)
    with ServerProcess(tmp_path_factory.mktemp("data"), services=[services]).running() as srv:
        yield srv


def _done(http: httpx.Client, service: str, **parameters) -> dict:
    job = http.post(f"{API}/services/{service}/jobs", json={"parameters": parameters}).json()
    done = http.get(f"{API}/jobs/{job['id']}", params={"wait": 30}).json()
    assert done["state"] == "done", done
    return done


def _job_dir(server: ServerProcess, job_id: str) -> Path:
    return next(server.data_dir.rglob(f"jobs/{job_id}"))


def _files(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_size for p in folder.rglob("*")
            if p.is_file()}


def test_trivial_job_leaves_one_small_file_until_a_format_is_asked(server):
    """The value is in the job's record, and so is the run's record once it is in the
    database: the executed notebook alone stays."""
    with httpx.Client(base_url=server.url, timeout=60) as http:
        job = _done(http, "trivial", x=21.0)
        folder = _job_dir(server, job["id"])
        files = _files(folder)
        assert sorted(files) == ["executed.ipynb"], files
        assert sum(files.values()) <= 8000
        base = f"{API}/jobs/{job['id']}"
        # Reading the job, its preview, log and notebook makes no file.
        assert http.get(f"{base}/products/y/preview").json()["value"] == 42.0
        log = http.get(f"{base}/log").json()
        assert log["text"] == "" and log["complete"] is True
        notebook = http.get(f"{base}/notebook")
        assert notebook.status_code == 200 and "cells" in notebook.json()
        assert sorted(_files(folder)) == ["executed.ipynb"]
        # The scalar's file, on first download, into derived/.
        reply = http.get(f"{base}/products/y", params={"format": "json"})
        assert reply.status_code == 200 and json.loads(reply.content)["value"] == 42.0
        assert "derived/y.json" in _files(folder)
        names = set(zipfile.ZipFile(io.BytesIO(http.get(f"{base}/archive").content)).namelist())
        assert {"products/y.json", "executed.ipynb"} <= names


def test_trivial_text_job_leaves_one_file_too(server):
    with httpx.Client(base_url=server.url, timeout=60) as http:
        job = _done(http, "greeting", who="Crab")
        folder = _job_dir(server, job["id"])
        assert sorted(_files(folder)) == ["executed.ipynb"]
        base = f"{API}/jobs/{job['id']}/products/greeting"
        assert http.get(f"{base}/preview").json()["text"] == "hello Crab"
        reply = http.get(base, params={"format": "txt"})
        assert reply.status_code == 200 and reply.content == b"hello Crab"
        assert (folder / "derived" / "greeting.txt").read_bytes() == b"hello Crab"


def test_concurrent_first_downloads_read_one_whole_file(server):
    with httpx.Client(base_url=server.url, timeout=60) as http:
        job = _done(http, "catalogue", n=2000)
    folder = _job_dir(server, job["id"])
    # A table job: its notebook and one ECSV (and the log, as it printed something).
    assert sorted(_files(folder)) == ["executed.ipynb", "products/cat.ecsv", "stdout.log"]
    assert (folder / "stdout.log").read_text() == "rows 2000\n"  # a log with text stays
    url = f"{server.url}{API}/jobs/{job['id']}/products/cat"
    results: dict[tuple[str, int], bytes] = {}
    start = threading.Barrier(12)

    def get(fmt: str, index: int) -> None:
        start.wait()
        results[fmt, index] = httpx.get(url, params={"format": fmt}, timeout=60).content

    threads = [threading.Thread(target=get, args=(fmt, i)) for fmt in ("fits", "votable", "csv")
               for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(results) == 12
    for fmt in ("fits", "votable", "csv"):
        contents = {results[fmt, i] for i in range(4)}
        assert len(contents) == 1, f"{fmt}: different bytes"
    table = Table.read(io.BytesIO(results["fits", 0]), format="fits")
    assert len(table) == 2000 and table["flux"].unit == u.mJy
    assert Table.read(io.BytesIO(results["votable", 0]), format="votable")["i"][-1] == 1999
    made = sorted(p.name for p in (folder / "derived").iterdir())
    assert made == ["cat.ecsv.csv", "cat.fits", "cat.vot"]  # no temporaries left behind
    # Evicted, then asked again: made again, the same bytes.
    (folder / "derived" / "cat.fits").unlink()
    again = httpx.get(url, params={"format": "fits"}, timeout=60)
    assert again.status_code == 200 and again.content == results["fits", 0]
