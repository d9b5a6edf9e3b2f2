"""Products in the encodings ``oda_api`` 1.3.x decodes (``DataCollection.from_response_json``).

========================  ===================================  ===============================
astroflow product         key of the ``products`` answer       ``oda_api`` class it becomes
========================  ===================================  ===============================
table                     ``astropy_table_product_ascii_list``  ``ODAAstropyTable`` (ECSV text)
lightcurve, spectrum,     ``numpy_data_product_list``          ``NumpyDataProduct`` (one data
image                                                          unit per HDU of the FITS file)
picture                   ``binary_image_product_list``        ``PictureProduct``
binary, file              ``binary_data_product_list``         ``BinaryProduct``
text, scalar              ``text_product_list``                ``TextLikeProduct``
========================  ===================================  ===============================

Light curves, spectra and images travel as ``NumpyDataProduct`` because that is what MMODA
gives for them (a ``LightCurveDataProduct`` is one), so code written for MMODA keeps working.
Tables travel as ECSV text, never pickled. An array reaches ``oda_api`` as the text of a
Python literal that its decoder evaluates; only arrays that literal cannot carry (1-D image
data, variable-length columns) are pickled, and only from astroflow's own FITS files: nothing
received from a client is ever unpickled.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import pickle
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from astroflow.products.model import Product, ProductError
from astroflow.products.stored import inline_text, product_path

NUMPY = "numpy_data_product_list"
TABLES = "astropy_table_product_ascii_list"
BINARIES = "binary_data_product_list"
PICTURES = "binary_image_product_list"
TEXTS = "text_product_list"
LISTS = (NUMPY, TABLES, BINARIES, PICTURES, TEXTS)

# Keywords that describe a table's columns or an array's layout: the decoder rebuilds them
# from the data itself, and stale copies would contradict it.
_LAYOUT_KEY = re.compile(r"^(SIMPLE|EXTEND|XTENSION|BITPIX|NAXIS\d*|PCOUNT|GCOUNT|TFIELDS|"
                         r"THEAP|BZERO|BSCALE|BLANK|CHECKSUM|DATASUM|T[A-Z]{3,5}\d+)$")
_COMMENTARY = frozenset({"", "COMMENT", "HISTORY"})
_PICTURE_TYPES = {"png": "png", "jpeg": "jpg", "jpg": "jpg", "gif": "gif", "svg": "svg"}


def encode_products(products: Iterable[Product], products_dir: Path) -> dict[str, Any]:
    """The ``products`` part of a done ``run_analysis`` answer (without its parameters)."""
    answer: dict[str, Any] = {key: [] for key in LISTS}
    uris: dict[str, str | None] = {}
    for product in products:
        key, encoded = encode_product(product, Path(products_dir))
        answer[key].append(encoded)
        uris[product.name] = product.ontology
    answer["prod_uris"] = uris
    return answer


def encode_product(product: Product, products_dir: Path) -> tuple[str, dict[str, Any]]:
    """``(list key, encoded product)`` for one product."""
    kind = product.type
    if kind in ("lightcurve", "spectrum", "image") and "fits" in product.files:
        return NUMPY, numpy_product(product, _file(product, products_dir, "fits"))
    if kind in ("table", "lightcurve", "spectrum"):
        return TABLES, table_product(product, _file(product, products_dir, "ecsv"))
    if kind == "picture":
        return picture_or_binary(product, products_dir)
    if kind in ("binary", "file", "image"):
        return BINARIES, binary_product(own_name(product),
                                        _file(product, products_dir).read_bytes())
    if kind == "text":
        text = (inline_text(product) if "txt" in product.derived
                else _file(product, products_dir, "txt").read_text("utf-8"))
        # MMODA's plugin names texts by their output, whatever the object calls itself
        return TEXTS, {"name": product.name, "value": text, "meta_data": _meta(product)}
    if kind == "scalar":
        return TEXTS, scalar_product(product, products_dir)
    raise ProductError(f"product {product.name!r} of type {kind!r} has no oda_api encoding")


def plain_json(product: Product, products_dir: Path) -> Any:
    """A table the notebook gave as plain JSON, back in that form: a dict of columns or a
    list of row dicts (a row's masked cells were keys it did not have)."""
    from astropy.table import Table

    table = Table.read(_file(product, products_dir, "ecsv"), format="ascii.ecsv")
    if product.meta.get("json_form") == "columns":
        return {name: table[name].tolist() for name in table.colnames}
    rows = []
    for row in table:
        mask = row.mask if getattr(row, "mask", None) is not None else None
        rows.append({name: _item(row[name]) for name in table.colnames
                     if mask is None or not mask[name]})
    return rows


def as_returned(encoded: dict[str, Any], own: dict[str, Any] | None) -> dict[str, Any]:
    """``encoded`` as the notebook's own oda_api object encodes itself (``own``: the fields
    the runtime kept, see `astroflow.products.oda.own_fields`), which is what nb2workflow
    answers; the dispatcher's DataCollection keeps the output names instead."""
    if not own:
        return encoded
    out = dict(encoded)
    meta = own.get("meta_data") or {}
    if own.get("class") == "PictureProduct":
        out.update(name=own.get("name"), metadata=meta)
        if own.get("filename"):
            out["filename"] = own["filename"]
        else:
            out.pop("filename", None)
        return out
    if "name" in own:
        out["name"] = own["name"]
    if "meta_data" in out:
        out["meta_data"] = json.dumps(meta) if "ascii" in out else meta
    return out


def _item(value: Any) -> Any:
    return value.tolist() if hasattr(value, "tolist") else value


def _file(product: Product, products_dir: Path, key: str | None = None) -> Path:
    if key is None:
        key = next(iter(product.files), None)
    if key not in product.files:
        raise ProductError(f"product {product.name!r} has no {key} file")
    return product_path(product, products_dir, key)  # a derived format is made now


def own_name(product: Product) -> str:
    """The name ``DataCollection`` gives the product: the ``name`` of the ``oda_api`` object the
    notebook returned (kept in ``meta["oda"]`` when the product was written), as MMODA's
    plugin passes it on; the output's name when the object has none or it was no such object."""
    name = _own(product).get("name")
    return str(name) if isinstance(name, str) and name.strip() else product.name


def _own(product: Product) -> dict[str, Any]:
    """What the notebook's ``oda_api`` object said of itself (products/oda.py), or nothing."""
    own = product.meta.get("oda") if isinstance(product.meta, dict) else None
    return own if isinstance(own, dict) else {}


def _meta(product: Product) -> dict[str, Any]:
    """What ``oda_api`` keeps as ``meta_data``: the ``meta_data`` of the notebook's own
    ``oda_api`` object (its ``src_name`` and ``product`` enter ``DataCollection`` names, as
    from MMODA), then the class URI."""
    own = _own(product).get("meta_data")
    meta: dict[str, Any] = dict(own) if isinstance(own, dict) else {}
    meta["uri"] = product.ontology
    if product.unit:
        meta["unit"] = product.unit
    if product.description:
        meta["description"] = product.description
    return meta


# --- tables, texts, scalars, files ----------------------------------------------------------

def table_product(product: Product, ecsv: Path) -> dict[str, Any]:
    """``ODAAstropyTable.encode()`` in its ASCII form: the stored ECSV file as it is."""
    return {"ascii": ecsv.read_text("utf-8"), "binary": None, "name": own_name(product),
            "meta_data": _meta(product)}


def scalar_product(product: Product, products_dir: Path) -> dict[str, Any]:
    """A value as MMODA sends parameter products: ``{name, value, meta_data: {uri}}``."""
    import json

    if "json" in product.derived:  # a scalar's value is in its record
        stored: Any = product.meta
    else:
        stored = json.loads(_file(product, products_dir, "json").read_text("utf-8"))
    value = stored.get("value") if isinstance(stored, dict) else stored
    meta = _meta(product)
    if isinstance(stored, dict) and stored.get("unit"):
        meta["unit"] = stored["unit"]
    return {"name": product.name, "value": _finite(value), "meta_data": meta}


def binary_product(name: str, data: bytes) -> dict[str, Any]:
    """``BinaryProduct.encode()``: URL-safe base64 with its MD5 (which the decoder checks)."""
    return {"name": name, "data": base64.urlsafe_b64encode(data).decode("ascii"),
            "md5": hashlib.md5(data).hexdigest()}  # noqa: S324 - a checksum oda_api verifies


def picture_or_binary(product: Product, products_dir: Path) -> tuple[str, dict[str, Any]]:
    """``PictureProduct.encode()``; a picture ``oda_api`` would not recognise goes as binary."""
    fmt = next((k for k in product.files if k in _PICTURE_TYPES), None)
    path = _file(product, products_dir, fmt)
    data = path.read_bytes()
    if fmt is None or (fmt == "svg" and not data.lstrip().startswith(b"<?xml")):
        return BINARIES, binary_product(own_name(product), data)
    return PICTURES, {"img_type": _PICTURE_TYPES[fmt],
                      "b64data": base64.urlsafe_b64encode(data).decode("ascii"),
                      "metadata": _meta(product), "name": own_name(product)}


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, list):
        return [_finite(v) for v in value]
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    return value


# --- arrays ---------------------------------------------------------------------------------

def numpy_product(product: Product, fits_path: Path) -> dict[str, Any]:
    """``NumpyDataProduct.encode()``: one data unit per HDU of the product's FITS file."""
    from astropy.io import fits

    with warnings.catch_warnings(), fits.open(fits_path, memmap=False) as hdul:
        warnings.simplefilter("ignore")
        units = [data_unit(hdu) for hdu in hdul]
    return {"data_unit_list": units, "name": own_name(product), "meta_data": _meta(product)}


def data_unit(hdu: Any) -> dict[str, Any]:
    """``NumpyDataUnit.encode()`` of one HDU (``use_pickle=False`` whenever possible)."""
    from astropy.io import fits

    if isinstance(hdu, fits.PrimaryHDU):
        kind = "primary"
    elif isinstance(hdu, fits.ImageHDU | fits.CompImageHDU):
        kind = "image"
    elif isinstance(hdu, fits.BinTableHDU):
        kind = "bintable"
    elif isinstance(hdu, fits.TableHDU):
        kind = "table"
    else:
        raise ProductError(f"HDU {hdu.name!r} of type {type(hdu).__name__} has no oda_api form")
    units = None
    if kind in ("bintable", "table"):
        array = _table_array(hdu)
        units = {c.name: c.unit for c in hdu.columns if c.unit} or None
    else:
        array = None if hdu.data is None else _native(hdu.data)
    literal, pickled = array_literal(array)
    return {"data": literal, "dt": dtype_text(array), "name": hdu.name or "table",
            "header": header_dict(hdu.header), "binarys": pickled, "meta_data": {},
            "hdu_type": kind, "units_dict": units}


def _table_array(hdu: Any) -> Any:
    """The table as a plain structured array: booleans, scaled and null values resolved."""
    import numpy as np
    from astropy.table import Table

    if hdu.data is None:
        return None
    array = Table(hdu.data, copy=True).as_array()
    if isinstance(array, np.ma.MaskedArray):
        array = array.filled()
    return _native(array)


def _native(array: Any) -> Any:
    """The array in this machine's byte order (FITS is big-endian)."""
    import numpy as np

    array = np.asarray(array)
    return array.astype(array.dtype.newbyteorder("="), copy=False)


def dtype_text(array: Any) -> str | None:
    """The dtype as ``oda_api`` reads it back: ``numpy.dtype(text)``, else ``eval(text)``."""
    if array is None:
        return None
    if array.dtype.names is not None:
        return repr(array.dtype.descr)
    return array.dtype.str


def header_dict(header: Any) -> dict[str, Any]:
    """Header cards as a JSON object, without the layout keywords the data itself defines."""
    from astropy.io.fits.card import Undefined

    cards: dict[str, Any] = {}
    for key, value in header.items():
        if key in _COMMENTARY or _LAYOUT_KEY.match(key) or isinstance(value, Undefined):
            continue
        if isinstance(value, float) and not math.isfinite(value):
            continue
        cards[key] = value if isinstance(value, bool | int | float | str) else str(value)
    return cards


def array_literal(array: Any) -> tuple[str | None, str | None]:
    """``(data, binarys)``: the array as the text of a Python literal, or pickled if it must.

    ``oda_api`` rebuilds ``data`` with ``numpy.asanyarray([tuple(row) for row in
    eval(data)], dtype)``, so an array qualifies when it has rows (2-D or more, or a
    structured array) and only numbers, booleans, strings and bytes in its cells.
    """
    if array is None:
        return None, None
    structured = array.dtype.names is not None
    if (structured or array.ndim >= 2) and not _has_objects(array.dtype):
        rows = array.tolist()
        return "[" + ", ".join(_python(row) for row in rows) + "]", None
    return None, base64.b64encode(pickle.dumps(array, protocol=4)).decode("ascii")


def _has_objects(dtype: Any) -> bool:
    if dtype.names is not None:
        return any(_has_objects(dtype.fields[name][0]) for name in dtype.names)
    if dtype.subdtype is not None:
        return _has_objects(dtype.subdtype[0])
    return dtype.kind in "OVMm"


def _python(value: Any) -> str:
    """A Python literal for a cell; non-finite floats as expressions that evaluate to them.

    ``oda_api`` turns every ``null`` of the answer's text into ``None`` before decoding, so
    that word is written with an escape inside strings (it never occurs outside them here).
    """
    if value is None or isinstance(value, bool | int):
        return repr(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "(1e999-1e999)"
        if math.isinf(value):
            return "1e999" if value > 0 else "-1e999"
        return repr(value)
    if isinstance(value, complex):
        return f"complex({_python(value.real)}, {_python(value.imag)})"
    if isinstance(value, str | bytes):
        return repr(value).replace("null", "nu\\x6cl")
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_python(v) for v in value) + "]"
    if callable(getattr(value, "tolist", None)):  # a sub-array cell, a numpy scalar
        return _python(value.tolist())
    raise ProductError(f"cannot write a {type(value).__name__} cell for oda_api")


# --- HTML for callers other than oda_api ----------------------------------------------------

def html_products(products: Iterable[Product], products_dir: Path, product_name: str, *,
                  none_valued: Mapping[str, str] | None = None,
                  order: Sequence[str] = ()) -> dict[str, Any]:
    """What the MMODA plugin returns to a caller without ``api`` (its web front end):
    ``image`` (one ``{"image": {"div", "script"}}`` per product, a dict when there is one),
    ``name``, ``file_name``, ``download_file_name`` and ``prod_process_message``.

    ``none_valued`` (output name → class URI) are value outputs the notebook left as ``None``:
    the plugin draws them too (``value: None``); ``order`` is the outputs' declared order,
    the plugin's."""
    import html

    drawn: list[tuple[str, str, list[str]]] = [
        (product.name, product_html(product, Path(products_dir)), list(product.files.values()))
        for product in products]
    drawn += [(name, f"<br>value: None<br>uri: {html.escape(uri)}", [])
              for name, uri in (none_valued or {}).items()]
    rank = {name: i for i, name in enumerate(order)}
    drawn.sort(key=lambda item: rank.get(item[0], len(rank)))
    images = [{"image": {"div": div, "script": ""}} for _, div, _ in drawn]
    files = [f for _, _, product_files in drawn for f in product_files]
    return {"image": images[0] if len(images) == 1 else images,
            "name": [name for name, _, _ in drawn], "file_name": files,
            "download_file_name": f"{files[0]}.gz" if len(files) == 1
            else f"{product_name}.tar.gz",
            "prod_process_message": ""}


def product_html(product: Product, products_dir: Path) -> str:
    """One product's preview as the plugin draws it: a picture inline, a text in a ``<p>``, a
    value with its class URI, a table as HTML, anything else "No preview available"."""
    import html

    kind = product.type
    if kind == "picture":
        key, encoded = picture_or_binary(product, products_dir)
        if key == PICTURES:
            data = encoded["b64data"].replace("-", "+").replace("_", "/")
            return (f'<br><img src="data:image/{encoded["img_type"]};base64,{data}" '
                    'class="img-responsive">')
    if kind == "text":
        text = (inline_text(product) if "txt" in product.derived
                else _file(product, products_dir, "txt").read_text("utf-8"))
        return f'<p style="white-space: pre-wrap;">{html.escape(text)}</p>'
    if kind == "scalar":
        value = scalar_product(product, products_dir)["value"]
        return f"<br>value: {html.escape(str(value))}<br>uri: {html.escape(str(product.ontology))}"
    if "ecsv" in product.files and kind in ("table", "lightcurve", "spectrum"):
        from astropy.table import Table

        table = Table.read(_file(product, products_dir, "ecsv"), format="ascii.ecsv")
        from io import StringIO

        out = StringIO()
        table[:1000].write(out, format="html")
        body = out.getvalue()
        start, end = body.find("<table"), body.rfind("</table>")
        return "<br><br>" + (body[start:end + 8] if start >= 0 and end >= 0 else body)
    return "<br>No preview available"
