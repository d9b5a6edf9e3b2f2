"""Decide what product a notebook value becomes.

The annotation wins when the value can become the annotated type; otherwise the value's own
shape decides, and the caller reports the mismatch. Each ``_as_<type>`` either returns a
:class:`Plan` (the value already converted, so nothing is converted twice) or raises
:class:`Mismatch` with the reason.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from astroflow.ontology.model import ClassInfo, ProductType
from astroflow.products import columns, images, pictures, sources, tables
from astroflow.products.model import Mismatch, ProductError
from astroflow.products.oda import unwrap
from astroflow.products.scalars import to_scalar
from astroflow.products.values import (
    describe,
    is_bytes,
    is_figure,
    is_hdulist,
    is_header,
    is_image_hdu,
    is_ndarray,
    is_nddata,
    is_pandas,
    is_quantity,
    is_scalar,
    is_structured,
    is_table,
    is_table_hdu,
    is_time,
    is_wcs,
)


@dataclass
class Plan:
    """What to write: the product type and the value already in a writable form."""

    type: ProductType
    payload: Any = None          # Table, ImageData, ScalarData, str, bytes or a Figure
    source: Path | None = None   # the file the value named, copied rather than rewritten
    roles: dict[str, Any] = field(default_factory=dict)  # light-curve / spectrum columns
    fallback: bool = False       # an unknown object shown as its str()
    json_form: str | None = None  # a table written from plain JSON "rows" or "columns"


@dataclass
class _Ctx:
    name: str
    info: ClassInfo | None
    cwd: Path | None
    path: Path | None            # the existing file a str/path value names


def annotated_type(info: ClassInfo | None) -> ProductType | None:
    """The product type an annotation asks for; ``None`` leaves the choice to the value."""
    if info is None:
        return None
    if info.kind == "product" and info.product_type:
        return info.product_type
    if info.kind == "parameter":
        return "scalar"
    return None


def plan(value: Any, info: ClassInfo | None, name: str = "output",
         cwd: Path | None = None) -> tuple[Plan, str | None]:
    """``(plan, mismatch reason)``: the reason is set when the annotation could not be honoured."""
    try:
        value = unwrap(value)
    except Exception as exc:
        raise ProductError(f"output {name!r}: cannot unwrap {describe(value)}: {exc}") from exc
    if value is None:
        raise ProductError(f"output {name!r} is None: there is nothing to write")
    ctx = _Ctx(name, info, Path(cwd) if cwd is not None else None,
               sources.existing_file(value, cwd))
    wanted = annotated_type(info)
    reason = None
    if wanted is not None:
        try:
            return _guarded(_COERCE[wanted], value, ctx), None
        except Mismatch as exc:
            reason = str(exc)
    try:
        return _guarded(_detect, value, ctx), reason
    except Mismatch as exc:
        if reason is not None:
            return Plan("file"), reason  # the annotation mismatch is the error to report
        raise ProductError(f"output {name!r}: {exc}") from exc


def _guarded(convert: Callable[[Any, _Ctx], Plan], value: Any, ctx: _Ctx) -> Plan:
    """Run a conversion; a library error while converting is a reason, not a crash."""
    try:
        return convert(value, ctx)
    except (Mismatch, ProductError):
        raise
    except Exception as exc:
        raise Mismatch(f"converting {describe(value)} failed: "
                       f"{type(exc).__name__}: {exc}") from exc


def product_type_of(value: Any, info: ClassInfo | None = None, *,
                    cwd: Path | None = None) -> ProductType:
    """The product type ``value`` becomes: the annotated one when compatible, else detected.

    Raises :class:`ProductError` only when the value can become no product at all (``None``,
    a path object naming no file, a 4-D array).
    """
    found, _ = plan(value, info, cwd=cwd)
    return found.type


# --- coercion to one requested type ---------------------------------------------------------

def _as_scalar(value: Any, ctx: _Ctx) -> Plan:
    if isinstance(value, os.PathLike):
        raise Mismatch(f"{describe(value)} is a path, not a single value")
    return Plan("scalar", to_scalar(value, ctx.info))


def _as_text(value: Any, ctx: _Ctx) -> Plan:
    if ctx.path is not None:
        try:
            return Plan("text", sources.read_text_file(ctx.path), source=ctx.path)
        except Mismatch:
            if not isinstance(value, str):
                raise
    if isinstance(value, os.PathLike):
        raise sources.missing_file(value, ctx.cwd)
    if isinstance(value, str):
        return Plan("text", value)
    raise Mismatch(f"{describe(value)} is not text (expected a str)")


def _table_of(value: Any, ctx: _Ctx) -> tuple[Any, Path | None]:
    if ctx.path is not None:
        return tables.read_table_file(ctx.path), ctx.path
    if isinstance(value, os.PathLike):
        raise sources.missing_file(value, ctx.cwd)
    return tables.to_table(value, colname=ctx.name), None


def _as_table(value: Any, ctx: _Ctx) -> Plan:
    table, source = _table_of(value, ctx)
    return Plan("table", table, source=source)


def _as_series(kind: ProductType, what: str, find_roles: Callable[..., Any], value: Any,
               ctx: _Ctx) -> Plan:
    """A table whose columns play the roles of a light curve or a spectrum."""
    table, source = _table_of(value, ctx)
    found = find_roles(table, by_unit=True)
    if isinstance(found, str):
        raise Mismatch(f"the table is not {what}: {found}")
    return Plan(kind, table, source=source, roles=found)


def _as_lightcurve(value: Any, ctx: _Ctx) -> Plan:
    return _as_series("lightcurve", "a light curve", columns.lightcurve_roles, value, ctx)


def _as_spectrum(value: Any, ctx: _Ctx) -> Plan:
    return _as_series("spectrum", "a spectrum", columns.spectrum_roles, value, ctx)


def _as_image(value: Any, ctx: _Ctx) -> Plan:
    if ctx.path is not None:
        if not images.is_fits_path(ctx.path):
            raise Mismatch(f"{ctx.path.name} is not a FITS file (an image file must end in "
                           f"{', '.join(images.FITS_SUFFIXES)})")
        index, _ = images.fits_layout(ctx.path)
        if index is None:
            raise Mismatch(f"{ctx.path.name} has no 2-D or 3-D image HDU")
        return Plan("image", images.ImageData(index=index, source=ctx.path), source=ctx.path)
    if isinstance(value, os.PathLike):
        raise sources.missing_file(value, ctx.cwd)
    if is_ndarray(value) and value.ndim not in (2, 3):
        raise Mismatch(f"an image needs 2-D or 3-D data, got {describe(value)}")
    return Plan("image", images.to_image(value))


def _as_picture(value: Any, ctx: _Ctx) -> Plan:
    if ctx.path is not None:
        fmt = pictures.picture_format(ctx.path) or pictures.sniff(pictures.read_head(ctx.path))
        if fmt is None:
            raise Mismatch(f"{ctx.path.name} is not a PNG, JPEG, GIF or SVG picture")
        return Plan("picture", fmt, source=ctx.path)
    if isinstance(value, os.PathLike):
        raise sources.missing_file(value, ctx.cwd)
    if is_figure(value):
        return Plan("picture", value)
    if is_bytes(value):
        data = bytes(value)
        if pictures.sniff(data[:4096]) is None:
            raise Mismatch("the bytes are not a PNG, JPEG, GIF or SVG picture "
                           f"(they start with {data[:8]!r})")
        return Plan("picture", data)
    raise Mismatch(f"{describe(value)} is not a picture (expected a matplotlib Figure, "
                   "PNG/JPEG bytes or a picture file)")


def _as_binary(value: Any, ctx: _Ctx) -> Plan:
    if ctx.path is not None:
        return Plan("binary", source=ctx.path)
    if isinstance(value, os.PathLike):
        raise sources.missing_file(value, ctx.cwd)
    if is_bytes(value):
        return Plan("binary", bytes(value))
    raise Mismatch(f"{describe(value)} is not binary data (expected bytes or a file)")


def _as_file(value: Any, ctx: _Ctx) -> Plan:
    if ctx.path is not None:
        return Plan("file", source=ctx.path)
    if isinstance(value, os.PathLike):
        raise sources.missing_file(value, ctx.cwd)
    if is_bytes(value):
        return Plan("file", bytes(value))
    if isinstance(value, str):
        where = f" (relative to {ctx.cwd})" if ctx.cwd is not None else ""
        raise Mismatch(f"file {value[:200]!r}{where} does not exist")
    raise Mismatch(f"{describe(value)} is not a file (expected a path or bytes)")


_COERCE: dict[str, Callable[[Any, _Ctx], Plan]] = {
    "scalar": _as_scalar, "text": _as_text, "table": _as_table, "lightcurve": _as_lightcurve,
    "spectrum": _as_spectrum, "image": _as_image, "picture": _as_picture,
    "binary": _as_binary, "file": _as_file,
}


# --- detection from the value alone ---------------------------------------------------------

def _detect(value: Any, ctx: _Ctx) -> Plan:
    if ctx.path is not None:
        return _detect_file(ctx.path, ctx)
    if isinstance(value, os.PathLike):
        raise sources.missing_file(value, ctx.cwd)
    if isinstance(value, str):
        return Plan("text", value)
    if is_figure(value):
        return Plan("picture", value)
    if is_bytes(value):
        data = bytes(value)
        return Plan("picture" if pictures.sniff(data[:4096]) else "binary", data)
    if is_scalar(value):
        return _as_scalar(value, ctx)
    if is_hdulist(value):
        if images.image_index(value) is not None:
            return Plan("image", images.to_image(value))
        return _table_like(tables.to_table(value))
    if is_image_hdu(value) or is_nddata(value) or _is_array_with_wcs(value):
        return Plan("image", images.to_image(value))
    if (is_table(value) or is_pandas(value) or is_structured(value) or is_table_hdu(value)
            or _is_list_of_dicts(value) or _is_column_dict(value)):
        plan_ = _table_like(tables.to_table(value, colname=ctx.name))
        if _is_json(value):  # plain rows or columns: nb2workflow's API gives them back so
            plan_.json_form = "rows" if _is_list_of_dicts(value) else "columns"
        return plan_
    if is_ndarray(value) or is_quantity(value):
        if value.ndim in (2, 3) and value.dtype.kind in "biuf":
            return Plan("image", images.to_image(value))
        if value.ndim == 1:
            return _table_like(tables.to_table(value, colname=ctx.name))
        raise Mismatch(f"{describe(value)} is neither a table column nor an image")
    if is_time(value):
        return _table_like(tables.to_table(value, colname=ctx.name))
    if isinstance(value, list | tuple | dict) and _is_json(value):
        return Plan("scalar", to_scalar(value))
    return Plan("text", str(value), fallback=True)


def _detect_file(path: Path, ctx: _Ctx) -> Plan:
    """The product type of a file, from its suffix and, for FITS, its HDUs."""
    try:
        if images.is_fits_path(path):
            index, has_table = images.fits_layout(path)
            if index == 0 or (index is not None and not has_table):
                return Plan("image", images.ImageData(index=index, source=path), source=path)
            if has_table:
                plan_ = _table_like(tables.read_table_file(path))
                plan_.source = path
                return plan_
            return Plan("file", source=path)
        fmt = pictures.picture_format(path)
        if fmt is not None:
            return Plan("picture", fmt, source=path)
        if tables.table_format(path) in ("ascii.ecsv", "ascii.csv", "votable") and \
                not path.name.lower().endswith(".xml"):
            plan_ = _table_like(tables.read_table_file(path))
            plan_.source = path
            return plan_
        if path.name.lower().endswith(sources.TEXT_SUFFIXES):
            return Plan("text", sources.read_text_file(path), source=path)
    except Mismatch:
        pass  # unreadable as its suffix promised: still a file
    return Plan("file", source=path)


def _table_like(table: Any) -> Plan:
    ptype, found = columns.classify_table(table)
    return Plan(ptype, table, roles=found)


def _is_array_with_wcs(value: Any) -> bool:
    return (isinstance(value, tuple) and len(value) == 2
            and (is_wcs(value[1]) or is_header(value[1])))


def _is_list_of_dicts(value: Any) -> bool:
    return (isinstance(value, Sequence) and not isinstance(value, str | bytes) and len(value) > 0
            and all(isinstance(row, Mapping) for row in value))


def _is_column_dict(value: Any) -> bool:
    """A dict whose values are all equal-length sequences (at least one row)."""
    if not isinstance(value, Mapping) or not value:
        return False
    lengths = set()
    for col in value.values():
        if isinstance(col, str | bytes | Mapping) or not hasattr(col, "__len__"):
            return False
        if is_time(col) and col.isscalar:
            return False
        if (is_ndarray(col) or is_quantity(col)) and col.ndim == 0:
            return False
        lengths.add(len(col))
    return len(lengths) == 1 and lengths != {0}


def _is_json(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return True
