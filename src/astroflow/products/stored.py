"""Write once, convert on demand: the one stored file of a product and the formats made from it.

What is stored, and why:

* **Tables: ECSV.** It is text that keeps everything astropy knows about a table — units,
  dtypes, masks, descriptions, formats, table and column metadata in order, Time columns with
  their format and scale — so FITS and VOTable written from it later are byte for byte the
  files written from the notebook's table. FITS would be more compact for big numeric tables,
  but it drops nested metadata, column formats and descriptions, so an ECSV made from FITS
  would not be the ECSV of today. Right after writing, the ECSV is read back and compared with
  the table (:mod:`astroflow.products.roundtrip`); the rare table it does not give back
  exactly (a string column wider than its longest value, a time printed with fewer digits
  than it holds, an object column, a SkyCoord…) keeps FITS and VOTable written at once.
  A table the notebook wrote as a file keeps that file as it is (plus its ECSV).
* **Images: FITS** (every HDU the notebook gave); the PNG picture is drawn on first download.
* **Scalars: the record itself** (its ``meta`` holds value, unit and dtype); their JSON file
  is written from it on first download, so a job of one number stores no product file. A
  short text (up to ``INLINE_TEXT`` bytes, less than one disk block) is kept so too.
* Longer texts, pictures and other files are stored as they are (they are the product).

Formats not stored are listed in ``Product.derived`` and in ``files`` as before, so clients
ask for them as they always did. They are made into the job's ``derived/`` folder, beside
``products/``: written atomically (concurrent first downloads each read a whole file), and
each serve sets the file's modification time to now, so it is the time of last use. Anything
in ``derived/`` may be deleted at any time (least recently used first); the next download
makes it again.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from astroflow.products import atomic
from astroflow.products.model import TABLE_LIKE, Product, ProductError
from astroflow.products.naming import resolve_in

DERIVED_DIR = "derived"
SCALAR_FIELDS = ("value", "unit", "dtype")
TIME_FIELDS = ("format", "scale")
INLINE_TEXT = 2048  # bytes of UTF-8: a text this short lives in its record (``meta["text"]``)


def derived_dir(products_dir: Path) -> Path:
    """The evictable folder of formats made on demand, beside the job's ``products/``."""
    return Path(products_dir).parent / DERIVED_DIR


def product_path(product: Product, products_dir: Path, key: str) -> Path:
    """The file of ``product`` in format ``key``: stored, or made now (and cached) if derived.

    Raises :class:`ProductError` when a stored file is missing or a format cannot be made,
    ``OSError`` when ``derived/`` cannot be written (see :func:`made_in_memory`).
    """
    products_dir = Path(products_dir)
    name = product.files.get(key)
    if name is None:
        raise ProductError(f"product {product.name!r} has no {key} file")
    if key not in product.derived:
        path = resolve_in(products_dir, name)
        if not path.is_file():
            raise ProductError(f"product {product.name!r}: file {path.name} is missing")
        return path
    path = resolve_in(derived_dir(products_dir), name)
    return cached(path, lambda target: _make(product, products_dir, key, target))


def made_in_memory(product: Product, products_dir: Path, key: str) -> bytes:
    """The derived format ``key`` as bytes, for when ``derived/`` cannot be written (a
    read-only or full store): made in a temporary folder and removed at once."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="astroflow-derived-") as tmp:
        target = Path(tmp) / "made"
        _make(product, Path(products_dir), key, target)
        return target.read_bytes()


def cached(path: Path, make: Callable[[Path], None]) -> Path:
    """``path``, made by ``make(path)`` (atomically) if it is missing; marked as used now."""
    try:
        if path.is_file():
            os.utime(path)  # last use, for least-recently-used eviction
            return path
    except FileNotFoundError:
        pass  # evicted just now: made again below
    path.parent.mkdir(parents=True, exist_ok=True)
    make(path)
    return path


def stored_key(product: Product, *preferred: str) -> str:
    """The first stored format among ``preferred`` (any stored one if none is)."""
    stored = [k for k in product.files if k not in product.derived]
    for key in preferred:
        if key in stored:
            return key
    if not stored:
        raise ProductError(f"product {product.name!r} stores no file")
    return stored[0]


def _make(product: Product, products_dir: Path, key: str, target: Path) -> None:
    """Write the derived format ``key`` of ``product`` to ``target``."""
    try:
        if product.type == "scalar" and key == "json":
            atomic.write_text(target, scalar_json(product.meta))
        elif product.type == "text" and key == "txt":
            atomic.write_text(target, inline_text(product))
        elif product.type in TABLE_LIKE:
            from astroflow.products import tables

            source = product_path(product, products_dir, stored_key(product, "ecsv"))
            tables.write_format(tables.read_stored(source), key, target)
        elif product.type == "image" and key == "png":
            from astroflow.products import images

            source = product_path(product, products_dir, stored_key(product, "fits"))
            png = images.image_png(source, int(product.meta.get("hdu", 0)), product.title)
            atomic.write_bytes(target, png)
        else:
            raise ProductError(f"product {product.name!r}: {key} cannot be made from "
                               "its stored file")
    except ProductError:
        raise
    except Exception as exc:  # noqa: BLE001 - any converter failure: this format is unavailable
        raise ProductError(f"product {product.name!r}: its {key} file could not be made: "
                           f"{type(exc).__name__}: {exc}") from exc


def inline_text(product: Product) -> str:
    """The text a short text product keeps in its record."""
    text = product.meta.get("text")
    if not isinstance(text, str):
        raise ProductError(f"product {product.name!r}: its record holds no text")
    return text


def scalar_json(meta: dict[str, Any]) -> str:
    """The scalar's JSON file, from its record's meta (the fields `write_scalar` wrote)."""
    fields = SCALAR_FIELDS + (TIME_FIELDS if meta.get("dtype") == "time" else ())
    doc = {k: meta.get(k) for k in fields if k in meta or k in SCALAR_FIELDS}
    return json.dumps(doc, allow_nan=False, indent=1) + "\n"


def write_every_format(product: Product, products_dir: Path) -> None:
    """Make each derived format in ``products_dir`` itself, as a permanent file: a run's
    folder on the user's own disk (``astroflow run --out``) has no server to make them later."""
    products_dir = Path(products_dir)
    for key in product.derived:
        target = resolve_in(products_dir, product.files[key])
        if not target.exists():
            products_dir.mkdir(parents=True, exist_ok=True)
            _make(product, products_dir, key, target)
