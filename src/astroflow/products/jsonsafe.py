"""Reduce values to strict JSON (no NaN, no numpy types) for manifests and scalar files."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

_NON_FINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def jsonable(value: Any, _depth: int = 0) -> Any:
    """A strict-JSON copy of ``value``; non-finite floats become ``"nan"``/``"inf"``/``"-inf"``.

    Unknown objects become their ``str`` so that metadata never makes a manifest unwritable.
    """
    if _depth > 20:
        return str(value)
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else _float_token(value)
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "shape", None) == ():  # numpy scalar or 0-d array
        try:
            return jsonable(item(), _depth + 1)
        except (TypeError, ValueError):
            return str(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v, _depth + 1) for v in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def float_from_json(value: Any) -> float:
    """Undo :func:`jsonable` for one float."""
    if isinstance(value, str) and value in _NON_FINITE:
        return _NON_FINITE[value]
    return float(value)


def _float_token(x: float) -> str:
    if math.isnan(x):
        return "nan"
    return "inf" if x > 0 else "-inf"
