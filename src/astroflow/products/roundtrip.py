"""Does a table read back from its ECSV file equal the table the notebook gave?

When it does, FITS and VOTable files written later from the ECSV file are the very bytes they
would have been when written from the notebook's table, so they need not be stored. The test
is on what the writers see: column names and order, classes, dtypes and shapes, units, formats,
descriptions, column and table metadata (in order), masks, fill values and the values
themselves (NaN equal to NaN); for times also format, scale, precision, sub-formats, location
and both Julian-date halves. Anything it does not know how to compare is "not equal", so the
cost of a doubt is only disk: the formats are then written at once, as before.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from astroflow.products.values import is_time

_INFO = ("unit", "format", "description")
_TIME = ("format", "scale", "precision", "in_subfmt", "out_subfmt")


def same_table(a: Any, b: Any) -> bool:
    """``True`` when ``a`` and ``b`` would be written as the same bytes."""
    if type(a) is not type(b) or a.colnames != b.colnames or not same_meta(a.meta, b.meta):
        return False
    return all(_same_column(a[name], b[name]) for name in a.colnames)


def same_meta(a: Any, b: Any) -> bool:
    """Equal metadata, dict keys in the same order (headers are written in that order)."""
    if isinstance(a, Mapping) or isinstance(b, Mapping):
        return (isinstance(a, Mapping) and isinstance(b, Mapping) and list(a) == list(b)
                and all(same_meta(a[k], b[k]) for k in a))
    if isinstance(a, list | tuple) or isinstance(b, list | tuple):
        return (type(a) is type(b) and len(a) == len(b)
                and all(same_meta(x, y) for x, y in zip(a, b, strict=True)))
    try:
        return type(a) is type(b) and bool(a == b)
    except (ValueError, TypeError):  # arrays and other values without a plain equality
        return False


def _same_column(x: Any, y: Any) -> bool:
    import numpy as np

    if type(x) is not type(y) or getattr(x, "shape", None) != getattr(y, "shape", None):
        return False
    if not (same_meta(x.info.meta or {}, y.info.meta or {})
            and all(getattr(x.info, k, None) == getattr(y.info, k, None) for k in _INFO)):
        return False
    if is_time(x):
        return (all(getattr(x, k) == getattr(y, k) for k in _TIME)
                and x.location is None and y.location is None
                and np.array_equal(x.jd1, y.jd1) and np.array_equal(x.jd2, y.jd2)
                and np.array_equal(np.asarray(x.mask), np.asarray(y.mask)))
    if not hasattr(x, "dtype") or x.dtype != y.dtype or x.dtype.kind in "OV":
        return False  # other mixins and object or structured columns: not compared
    mask_x, mask_y = np.ma.getmaskarray(x), np.ma.getmaskarray(y)
    if not np.array_equal(mask_x, mask_y):
        return False
    if isinstance(x, np.ma.MaskedArray) and not _same_fill(x.fill_value, y.fill_value):
        return False
    data_x, data_y = np.asarray(np.ma.getdata(x)), np.asarray(np.ma.getdata(y))
    keep = ~mask_x
    return np.array_equal(data_x[keep], data_y[keep], equal_nan=x.dtype.kind in "fc")


def _same_fill(a: Any, b: Any) -> bool:
    import numpy as np

    try:
        return bool(np.array_equal(np.asarray(a), np.asarray(b), equal_nan=True))
    except TypeError:  # strings: NaN does not apply
        return bool(np.array_equal(np.asarray(a), np.asarray(b)))
