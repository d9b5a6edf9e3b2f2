"""MMODA notebooks often return ``oda_api.data_products`` objects; unwrap them to astropy.

Recognised by module and attributes, so oda_api need not be installed (nor imported) here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def unwrap(value: Any) -> Any:
    """The astropy/bytes/str value inside an oda_api product, or ``value`` itself."""
    # The nearest oda_api class: notebooks may subclass oda_api's products.
    cls = next((c for c in type(value).__mro__ if c.__module__.startswith("oda_api")), None)
    if cls is None:
        return value
    name = cls.__name__
    if callable(getattr(value, "to_fits_hdu_list", None)):  # NumpyDataProduct and subclasses
        return value.to_fits_hdu_list()
    if name in ("ODAAstropyTable", "ApiCatalog") or (name.endswith("Table")
                                                     and hasattr(value, "table")):
        return value.table
    if name == "PictureProduct":
        return bytes(value.binary_data)
    if name == "BinaryProduct":
        return bytes(value.bin_data)
    if name == "BinaryData" and getattr(value, "file_path", None):
        return Path(value.file_path)
    if name == "TextLikeProduct":
        return value.value
    return value


def oda_identity(value: Any) -> dict[str, Any]:
    """The name and meta-data an oda_api product carries itself (``oda_name``,
    ``oda_meta_data``): MMODA names a DataCollection entry after the object, not the output."""
    if not any(c.__module__.startswith("oda_api") for c in type(value).__mro__):
        return {}
    from astroflow.products.jsonsafe import jsonable

    out: dict[str, Any] = {}
    name = getattr(value, "name", None)
    if isinstance(name, str) and name.strip():
        out["oda_name"] = name.strip()
    meta = getattr(value, "meta_data", None)
    if isinstance(meta, dict) and meta:
        out["oda_meta_data"] = jsonable(meta)
    return out
