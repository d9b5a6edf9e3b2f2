"""Type probes that never import a library just to ask a question.

A value can only be, say, a pandas DataFrame if pandas is already imported in this process, so
each probe looks the class up in ``sys.modules`` instead of importing it; that keeps
``write_product`` free of matplotlib, pandas or astropy start-up costs it does not need.
"""

from __future__ import annotations

import sys
from numbers import Complex
from typing import Any


def loaded(module: str, attr: str) -> type | None:
    """``module.attr`` if ``module`` is imported already, else ``None``."""
    mod = sys.modules.get(module)
    return getattr(mod, attr, None) if mod is not None else None


def isa(value: Any, module: str, *attrs: str) -> bool:
    """``isinstance(value, module.attr)`` for any of ``attrs``, without importing ``module``."""
    for attr in attrs:
        cls = loaded(module, attr)
        if isinstance(cls, type) and isinstance(value, cls):
            return True
    return False


def is_ndarray(value: Any) -> bool:
    return isa(value, "numpy", "ndarray")


def is_figure(value: Any) -> bool:
    return isa(value, "matplotlib.figure", "Figure")


def is_table(value: Any) -> bool:
    return isa(value, "astropy.table", "Table")


def is_pandas(value: Any) -> bool:
    return isa(value, "pandas", "DataFrame", "Series")


def is_quantity(value: Any) -> bool:
    return isa(value, "astropy.units", "Quantity")


def is_time(value: Any) -> bool:
    return isa(value, "astropy.time", "Time")


def is_hdulist(value: Any) -> bool:
    return isa(value, "astropy.io.fits", "HDUList")


def is_image_hdu(value: Any) -> bool:
    return isa(value, "astropy.io.fits", "PrimaryHDU", "ImageHDU", "CompImageHDU")


def is_table_hdu(value: Any) -> bool:
    return not is_image_hdu(value) and isa(value, "astropy.io.fits", "BinTableHDU", "TableHDU")


def is_nddata(value: Any) -> bool:
    return isa(value, "astropy.nddata", "NDData")


def is_wcs(value: Any) -> bool:
    return isa(value, "astropy.wcs", "WCS")


def is_header(value: Any) -> bool:
    return isa(value, "astropy.io.fits", "Header")


def is_structured(value: Any) -> bool:
    """A numpy record array (FITS_rec and recarray included)."""
    return is_ndarray(value) and value.dtype.names is not None


def is_bytes(value: Any) -> bool:
    return isinstance(value, bytes | bytearray | memoryview)


def is_scalar(value: Any) -> bool:
    """A single number or boolean: Python, numpy, 0-d array, scalar Quantity or Time."""
    if isinstance(value, bool | Complex) and not isinstance(value, str):
        return True
    if is_quantity(value) or is_time(value):
        return bool(value.isscalar)
    if is_ndarray(value):
        return value.ndim == 0 and value.dtype.names is None and value.dtype.kind in "biufcUS"
    np = sys.modules.get("numpy")
    return (np is not None and isinstance(value, np.generic)
            and not isinstance(value, np.void | np.str_ | np.bytes_))


def type_name(value: Any) -> str:
    """``module.Class`` of a value, for error messages and metadata."""
    cls = type(value)
    mod = cls.__module__
    return cls.__qualname__ if mod == "builtins" else f"{mod}.{cls.__qualname__}"


def describe(value: Any) -> str:
    """A short phrase for error messages: ``"a float (2.5)"``, ``"an array of shape (3,)"``."""
    if value is None:
        return "None"
    if is_ndarray(value) or is_quantity(value):
        return f"{type_name(value)} of shape {tuple(value.shape)}"
    if isinstance(value, bool | int | float | complex):
        return f"{type(value).__name__} ({value!r})"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"str ({shown!r})"
    return type_name(value)
