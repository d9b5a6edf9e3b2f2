"""MMODA notebooks often return ``oda_api.data_products`` objects; unwrap them to astropy.

Recognised by module and attributes, so oda_api need not be installed (nor imported) here.
"""

from __future__ import annotations

import contextlib
import json
import os
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



def own_fields(value: Any) -> dict[str, Any] | None:
    """What an oda_api object says of itself beyond its data: its class, ``name``, meta data
    and (pictures) file name, JSON-safe, or None for anything else. nb2workflow answers with
    the object's own ``encode()``, which carries these; the product keeps them for that."""
    cls = next((c for c in type(value).__mro__ if c.__module__.startswith("oda_api")), None)
    if cls is None:
        return None
    fields: dict[str, Any] = {"class": cls.__name__}
    name = getattr(value, "name", None)
    if isinstance(name, str):
        fields["name"] = name
    meta = getattr(value, "metadata" if cls.__name__ == "PictureProduct" else "meta_data", None)
    with contextlib.suppress(TypeError, ValueError):  # meta data that is not JSON: left out
        fields["meta_data"] = json.loads(json.dumps(meta)) if meta is not None else None
    path = getattr(value, "file_path", None)
    if isinstance(path, str | Path) and path:
        fields["filename"] = os.path.basename(path)
    return fields
