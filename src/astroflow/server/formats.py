"""Download formats of a product: its stored file, the formats made from it on first request.

Each product stores one file (:mod:`astroflow.products.stored`); the other formats its record
lists (FITS and VOTable of a table, the PNG of an image, a scalar's JSON) are made on first
download into the job's evictable ``derived/`` folder. Spreadsheets and scripts also want
tables as CSV or JSON, so those are made from the stored table the same way (atomically, so
concurrent requests never read half a file; each serve marks the file as used now).
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from astroflow.errors import AstroflowError
from astroflow.products import atomic
from astroflow.products.columns import describe_columns
from astroflow.products.load import load_product
from astroflow.products.model import TABLE_LIKE, Product
from astroflow.products.naming import resolve_in, safe_stem
from astroflow.products.stored import (
    cached,
    derived_dir,
    made_in_memory,
    product_path,
    stored_key,
)

_TEXT = "text/plain; charset=utf-8"
MEDIA_TYPES: dict[str, str] = {
    "fits": "application/fits",
    "ecsv": _TEXT,  # ECSV has no registered media type; it is plain UTF-8 text
    "votable": "application/x-votable+xml",
    "vot": "application/x-votable+xml",
    "csv": "text/csv; charset=utf-8",
    "png": "image/png",
    "jpeg": "image/jpeg",
    "jpg": "image/jpeg",
    "gif": "image/gif",
    "svg": "image/svg+xml",
    "json": "application/json",
    "txt": _TEXT,
    "bin": "application/octet-stream",
    "ipynb": "application/x-ipynb+json",
    "html": "text/html; charset=utf-8",
}
# Names clients may use for a format → the key products store it under.
ALIASES: dict[str, str] = {"votable": "vot", "xml": "vot", "jpg": "jpeg", "fit": "fits",
                           "text": "txt"}
_PUBLIC_NAMES: dict[str, str] = {"vot": "votable"}
MAX_JSON_ROWS = 100_000  # a JSON download of a bigger table is cut (and says so)


class FormatError(AstroflowError):
    """A format the product cannot be served in; the message lists those it can."""

    def __init__(self, product: str, fmt: str, available: Sequence[str]) -> None:
        self.product = product
        self.format = fmt
        self.available = list(available)
        super().__init__(f"product {product!r} is not available as {fmt!r}; "
                         f"available formats: {', '.join(available) or 'none'}")


@dataclass
class Download:
    """What to send: a file (``path``) or bytes built in memory (``content``)."""

    path: Path | None
    content: bytes | None
    media_type: str
    filename: str


def media_type(fmt: str) -> str:
    """The HTTP media type of a format key; unknown formats are opaque bytes."""
    return MEDIA_TYPES.get(fmt.lower(), "application/octet-stream")


def available_formats(product: Product) -> list[str]:
    """The formats the API serves for ``product``, the stored (primary) one first."""
    names = [_PUBLIC_NAMES.get(key, key) for key in product.files]
    if product.type in TABLE_LIKE:
        names += ["csv", "json"]
    return list(dict.fromkeys(names))


def download(product: Product, products_dir: Path, fmt: str | None = None) -> Download:
    """The file or bytes of ``product`` in ``fmt`` (``None``: its primary format).

    Raises :class:`FormatError` for a format the product does not have and
    :class:`ProductError` when a listed file is missing from ``products_dir``.
    """
    products_dir = Path(products_dir)
    if not product.files:
        raise FormatError(product.name, fmt or "any format", [])
    requested = (fmt or next(iter(product.files))).strip().lower()
    key = _stored_key(product, requested)
    if key is not None:
        name = product.files[key]
        try:
            path = product_path(product, products_dir, key)
        except OSError:  # derived/ cannot be written (read-only or full): serve from memory
            if key not in product.derived:
                raise
            content = made_in_memory(product, products_dir, key)
            return Download(None, content, media_type(key), _filename(product, name, key))
        return Download(path, None, media_type(key), _filename(product, name, key))
    if product.type in TABLE_LIKE and requested in ("csv", "json"):
        return _derived(product, products_dir, requested)
    raise FormatError(product.name, requested, available_formats(product))


def _stored_key(product: Product, requested: str) -> str | None:
    for key in (requested, ALIASES.get(requested)):
        if key is not None and key in product.files:
            return key
    if requested in ("vot", "votable"):  # also the long name if a writer used it
        return next((k for k in ("votable", "vot") if k in product.files), None)
    return None


def _filename(product: Product, stored: str, key: str) -> str:
    """``<product name>.<extension>``, keeping compound suffixes such as ``.fits.gz``."""
    suffix = stored.partition(".")[2] or key
    return f"{safe_stem(product.name)}.{suffix}"


def _derived(product: Product, products_dir: Path, fmt: str) -> Download:
    """CSV or JSON rows built from the stored table, cached in the job's ``derived/`` folder
    as ``<stored file>.<fmt>`` (no format a product lists is named so)."""
    source = product.files[stored_key(product, "ecsv")]
    cache = resolve_in(derived_dir(products_dir), f"{source}.{fmt}")
    filename = f"{safe_stem(product.name)}.{fmt}"

    def make(target: Path) -> None:
        table = load_product(product, products_dir)
        atomic.write_bytes(target, _csv_bytes(table) if fmt == "csv" else _json_bytes(table))

    try:
        return Download(cached(cache, make), None, media_type(fmt), filename)
    except OSError:  # a read-only artifact store: serve from memory, uncached
        table = load_product(product, products_dir)
        content = _csv_bytes(table) if fmt == "csv" else _json_bytes(table)
        return Download(None, content, media_type(fmt), filename)


def _csv_bytes(table: Any) -> bytes:
    import io

    flat = table.copy(copy_data=False)
    flat.meta.clear()
    for name in flat.colnames:  # CSV cells are scalars: multidimensional columns become text
        col = flat[name]
        if len(getattr(col, "shape", ())) > 1:
            flat[name] = [json.dumps(strict_json(row.tolist())) for row in col]
    buf = io.StringIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        flat.write(buf, format="ascii.csv")
    return buf.getvalue().encode("utf-8")


def _json_bytes(table: Any) -> bytes:
    nrows = len(table)
    shown = table[:MAX_JSON_ROWS]
    values = {name: column_values(shown[name]) for name in shown.colnames}
    rows = [{name: values[name][i] for name in shown.colnames} for i in range(len(shown))]
    doc = {"columns": describe_columns(table), "nrows": nrows,
           "truncated": nrows > MAX_JSON_ROWS, "rows": rows}
    return json.dumps(doc, allow_nan=False, ensure_ascii=False).encode("utf-8")


def column_values(col: Any) -> list[Any]:
    """A table column as strict-JSON values: masked and non-finite cells become ``null``.

    Times keep their own format (MJD numbers, ISO strings …), quantities drop their unit
    (the column description carries it), byte strings are decoded.
    """
    import numpy as np

    from astroflow.products.values import is_quantity, is_time

    mask = None
    if is_time(col):
        values = col.value
        mask = np.asarray(col.mask) if np.any(col.mask) else None
        values = getattr(values, "unmasked", values)
    elif is_quantity(col):
        values = col.value
    elif isinstance(col, np.ma.MaskedArray):
        return [strict_json(v) for v in col.tolist()]  # masked cells come back as None
    else:
        values = col
    out = np.asarray(values).tolist()
    if mask is not None:
        out = [None if m else v for v, m in zip(out, mask.tolist(), strict=True)]
    return [strict_json(v) for v in out]


def strict_json(value: Any) -> Any:
    """``value`` with NaN/inf replaced by ``None`` and bytes decoded, recursively."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, list | tuple):
        return [strict_json(v) for v in value]
    return value
