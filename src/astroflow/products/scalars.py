"""Scalars (one number, flag, string or time, maybe with a unit) and plain text.

A scalar file is ``{"value", "unit", "dtype"}``: the dtype lets a reader rebuild an int, a
bool, a complex, a time or a non-finite float that JSON alone would blur.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from numbers import Complex, Integral, Real
from pathlib import Path
from typing import Any

from astroflow.ontology.model import ClassInfo
from astroflow.products import atomic
from astroflow.products.jsonsafe import float_from_json, jsonable
from astroflow.products.model import Mismatch
from astroflow.products.values import describe, is_ndarray, is_quantity, is_time


@dataclass
class ScalarData:
    """A scalar ready to write."""

    value: Any
    dtype: str
    unit: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def meta(self) -> dict[str, Any]:
        return {"value": jsonable(self.value), "unit": self.unit, "dtype": self.dtype,
                **self.extra}


def to_scalar(value: Any, info: ClassInfo | None = None) -> ScalarData:
    """A :class:`ScalarData` for a single value, honouring the annotated type and unit."""
    expected = info.python_type if info is not None else None
    if is_ndarray(value) and value.ndim == 0 and not is_quantity(value):
        value = value.item()
    if is_time(value):
        return _time(value, info)
    unit = None
    if is_quantity(value):
        if not value.isscalar:
            raise Mismatch(f"{describe(value)} is not a single value")
        if info is not None and info.unit:
            try:
                value = value.to(info.unit)
            except Exception as exc:  # noqa: BLE001 - UnitConversionError and friends
                raise Mismatch(f"unit {value.unit} cannot be converted to the annotated unit "
                               f"{info.unit}") from exc
        unit = value.unit.to_string()
        value = value.value.item() if hasattr(value.value, "item") else value.value
    elif info is not None and info.unit:
        unit = info.unit
    data = _plain(value, expected)
    data.unit = unit
    return data


def _plain(value: Any, expected: type | None) -> ScalarData:
    if hasattr(value, "item") and getattr(value, "shape", None) == ():
        value = value.item()  # numpy scalar → Python scalar
    if isinstance(value, bool):
        _expect(expected, (bool,), value)
        return ScalarData(bool(value), "bool")
    if isinstance(value, Integral):
        _expect(expected, (int, float), value)
        return ScalarData(float(value) if expected is float else int(value),
                          "float" if expected is float else "int")
    if isinstance(value, Real):
        x = float(value)
        if expected is int and math.isfinite(x) and x.is_integer():
            return ScalarData(int(x), "int")
        _expect(expected, (float,), value)
        return ScalarData(x, "float")
    if isinstance(value, Complex):
        _expect(expected, (complex,), value)
        c = complex(value)
        return ScalarData([c.real, c.imag], "complex")
    if isinstance(value, str):
        _expect(expected, (str,), value)
        return ScalarData(str(value), "str")
    if isinstance(value, list | tuple | dict):
        _expect(expected, (list, dict, tuple), value)
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise Mismatch(f"{describe(value)} is not plain JSON: {exc}") from exc
        return ScalarData(value, "json")
    raise Mismatch(f"{describe(value)} is not a single value")


def _expect(expected: type | None, accepted: tuple[type, ...], value: Any) -> None:
    if expected is not None and expected not in accepted:
        raise Mismatch(f"{describe(value)} is not a {expected.__name__}")


def _time(value: Any, info: ClassInfo | None) -> ScalarData:
    if not value.isscalar:
        raise Mismatch(f"a Time array of shape {value.shape} is not a single time")
    fmt = (info.format if info is not None and info.format else None) or "isot"
    try:
        converted = value.to_value(fmt)
    except ValueError as exc:
        raise Mismatch(f"time cannot be expressed in format {fmt!r}: {exc}") from exc
    if hasattr(converted, "item"):
        converted = converted.item()
    return ScalarData(converted, "time", extra={"format": fmt, "scale": value.scale})


def write_scalar(data: ScalarData, path: Path) -> dict[str, Any]:
    """Write ``{"value", "unit", "dtype"}`` JSON; returns the product meta."""
    meta = data.meta()
    atomic.write_text(path, json.dumps(meta, allow_nan=False, indent=1) + "\n")
    return meta


def load_scalar(path: Path) -> Any:
    """Rebuild a scalar: Python value, astropy Quantity when it has a unit, Time for times."""
    return scalar_value(json.loads(path.read_text("utf-8")))


def scalar_value(doc: dict[str, Any]) -> Any:
    """The scalar a scalar file (or the product's meta, which holds the same fields) means."""
    value: Any = doc.get("value")
    dtype, unit = doc.get("dtype"), doc.get("unit")
    if dtype == "float":
        value = float_from_json(value)
    elif dtype == "int":
        value = int(value)
    elif dtype == "bool":
        value = bool(value)
    elif dtype == "complex":
        value = complex(float_from_json(value[0]), float_from_json(value[1]))
    elif dtype == "time":
        from astropy.time import Time

        return Time(value, format=doc.get("format", "isot"), scale=doc.get("scale", "utc"))
    if unit and dtype in ("float", "int", "complex"):
        import astropy.units as u

        return u.Quantity(value, unit)
    return value


def write_text_product(text: str, path: Path) -> dict[str, Any]:
    """Write UTF-8 text; returns ``{chars, lines}``."""
    atomic.write_text(path, text)
    return text_meta(text)


def text_meta(text: str) -> dict[str, Any]:
    return {"chars": len(text), "lines": text.count("\n") + (0 if text.endswith("\n") else 1)
            if text else 0}
