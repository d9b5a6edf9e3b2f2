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

