"""Product files as Python objects: astropy tables, FITS image HDUs, quantities, text.

This mirrors what the server wrote (ECSV keeps units and times; a scalar file is
``{"value", "unit", "dtype"}``) without importing the server's product code, so the client
needs only httpx, astropy and numpy.
"""

from __future__ import annotations

import io
import json
import math
import warnings
from typing import Any

TABLE_LIKE = frozenset({"table", "lightcurve", "spectrum"})
TABLE_FORMATS = ("ecsv", "fits", "votable", "vot", "csv")
PICTURE_FORMATS = ("png", "jpeg", "jpg", "gif", "svg")
_NON_FINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def best_format(ptype: str, formats: list[str]) -> str | None:
    """The format that round-trips a product of ``ptype`` best, among those offered."""
    preferred: tuple[str, ...] = ()
    if ptype in TABLE_LIKE:
        preferred = TABLE_FORMATS
    elif ptype == "image":
        preferred = ("fits",)
    elif ptype == "scalar":
        preferred = ("json",)
    elif ptype == "text":
        preferred = ("txt",)
    elif ptype == "picture":
        preferred = PICTURE_FORMATS
    return next((f for f in preferred if f in formats), formats[0] if formats else None)


def decode(ptype: str, fmt: str, content: bytes) -> Any:
    """The content of one product file as the natural Python/astropy object."""
    if ptype in TABLE_LIKE:
        return read_table(fmt, content)
    if ptype == "image" and fmt in ("fits", "fit"):
        return image_hdu(content)
    if ptype == "scalar" and fmt == "json":
        return scalar(json.loads(content.decode("utf-8")))
    if ptype == "text" or fmt == "txt":
        return content.decode("utf-8")
    if ptype == "picture" and fmt in ("png", "jpeg", "jpg", "gif"):
        import matplotlib.image as mpimg

        return mpimg.imread(io.BytesIO(content), format=fmt)
    return content


def read_table(fmt: str, content: bytes) -> Any:
    from astropy.table import Table

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # unit and VOTable chatter: the table is what matters
        if fmt == "ecsv":
            return Table.read(content.decode("utf-8"), format="ascii.ecsv")
        if fmt == "csv":
            return Table.read(content.decode("utf-8"), format="ascii.csv")
        if fmt in ("fits", "fit"):
            return Table.read(io.BytesIO(content), format="fits", astropy_native=True)
        if fmt in ("votable", "vot", "xml"):
            return Table.read(io.BytesIO(content), format="votable")
    raise ValueError(f"cannot read a table from {fmt!r}; use one of {', '.join(TABLE_FORMATS)}")


def image_hdu(content: bytes) -> Any:
    """The first HDU holding an image (2-D or more), data in memory, header with its WCS."""
    from astropy.io import fits

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hdul = fits.open(io.BytesIO(content), memmap=False)
        for hdu in hdul:
            if getattr(hdu, "is_image", False) and hdu.data is not None and hdu.data.ndim >= 2:
                return hdu
    raise ValueError("the FITS file holds no image")


def scalar(doc: dict[str, Any]) -> Any:
    """A Python value; a Quantity when it has a unit; an astropy Time for times."""
    value: Any = doc.get("value")
    dtype, unit = doc.get("dtype"), doc.get("unit")
    if dtype == "float":
        value = _float(value)
    elif dtype == "int":
        value = int(value)
    elif dtype == "bool":
        value = bool(value)
    elif dtype == "complex":
        value = complex(_float(value[0]), _float(value[1]))
    elif dtype == "time":
        from astropy.time import Time

        return Time(value, format=doc.get("format", "isot"), scale=doc.get("scale", "utc"))
    if unit and dtype in ("float", "int", "complex"):
        import astropy.units as u

        return u.Quantity(value, unit)
    return value


def _float(value: Any) -> float:
    if isinstance(value, str) and value in _NON_FINITE:
        return _NON_FINITE[value]
    return float(value)
