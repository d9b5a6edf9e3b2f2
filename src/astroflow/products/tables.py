"""Tables: from the many shapes notebooks produce to ECSV, FITS and VOTable files.

ECSV is the reference format (it keeps units, dtypes, masks and astropy Time columns), so it
must succeed and is the one stored; FITS and VOTable are offered when the table can be
represented in them (otherwise listed under ``meta["unwritten"]`` with the reason) and made
from the ECSV file on first download when it gives the table back exactly
(:mod:`astroflow.products.stored` says why ECSV).
"""

from __future__ import annotations

import io
import itertools
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from astroflow.products import atomic
from astroflow.products.columns import describe_columns
from astroflow.products.model import Mismatch
from astroflow.products.naming import claim
from astroflow.products.values import (
    describe,
    is_hdulist,
    is_ndarray,
    is_pandas,
    is_quantity,
    is_structured,
    is_table,
    is_table_hdu,
    is_time,
)

# Suffix → astropy reader format. Order matters for load_product's preference.
TABLE_SUFFIXES: dict[str, str] = {
    ".ecsv": "ascii.ecsv",
    ".fits": "fits", ".fit": "fits", ".fts": "fits", ".fits.gz": "fits",
    ".vot": "votable", ".votable": "votable", ".xml": "votable",
    ".csv": "ascii.csv",
    ".tsv": "ascii.tab", ".txt": "ascii", ".dat": "ascii",
}
# VOTable writing is slow (pure Python, ~50 µs a row) and fails on column types, not values:
# whether a table can be written as VOTable is tried on its first rows. FITS, which refuses
# values (non-ASCII text), is tried whole: it costs little.
TRIAL_ROWS = 1000
_EXPECTED = ("expected an astropy Table, a pandas DataFrame, a numpy structured array, "
             "a list of dicts or a dict of equal-length columns")


def to_table(value: Any, colname: str = "value") -> Any:
    """An astropy Table for a table-like value; :class:`Mismatch` says why not."""
    from astropy.table import Table

    if is_table(value):
        return value
    if is_pandas(value):
        return _from_pandas(value)
    if is_structured(value):
        return Table(value)
    if is_table_hdu(value):
        return _read_quietly(value, format="fits")
    if is_hdulist(value):
        for index, hdu in enumerate(value):
            if is_table_hdu(hdu):
                return _read_quietly(value, format="fits", hdu=index)
        raise Mismatch("the FITS HDUList has no table extension")
    if isinstance(value, Mapping):
        return _from_columns(value)
    if _is_list_of_dicts(value):
        try:
            return Table(rows=list(value))
        except (ValueError, TypeError) as exc:
            raise Mismatch(f"the list of dicts does not form a table: {exc}") from exc
    if is_time(value) and not value.isscalar:
        return Table({colname: value})
    array = _as_array(value)
    if array is not None:
        if array.ndim == 1:
            return Table({colname: array})
        if array.ndim == 2 and not is_quantity(array):
            return Table(array, names=[f"col{i}" for i in range(array.shape[1])])
        raise Mismatch(f"{describe(value)} cannot be a table (1-D or 2-D arrays only)")
    raise Mismatch(f"{describe(value)} is not table-like: {_EXPECTED}")


def _as_array(value: Any) -> Any:
    """A numpy array for arrays, Quantities and lists of numbers; ``None`` otherwise."""
    if is_ndarray(value):
        return None if value.ndim == 0 or value.dtype.kind == "V" else value
    if isinstance(value, list | tuple) and value:
        import numpy as np

        try:
            array = np.asarray(value)
        except (ValueError, TypeError):
            return None
        return array if array.dtype.kind in "biufUS" and array.ndim >= 1 else None
    return None


def _from_pandas(value: Any) -> Any:
    import pandas as pd  # already imported: the value is a pandas object
    from astropy.table import Table

    frame = value.to_frame() if isinstance(value, pd.Series) else value
    index = frame.index
    default_index = (isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1
                     and index.name is None)
    frame = frame.rename(columns=str)
    try:
        return Table.from_pandas(frame, index=not default_index)
    except (ValueError, TypeError) as exc:
        raise Mismatch(f"the DataFrame cannot be converted to a table: {exc}") from exc


def _from_columns(value: Mapping) -> Any:
    from astropy.table import Table

    if not value:
        raise Mismatch("the dict is empty, so it has no columns")
    lengths = {}
    for key, col in value.items():
        if isinstance(col, str | bytes) or not (is_time(col) or hasattr(col, "__len__")):
            raise Mismatch(f"dict entry {key!r} is {describe(col)}, not a column")
        if is_time(col) and col.isscalar:
            raise Mismatch(f"dict entry {key!r} is a single time, not a column")
        lengths[str(key)] = len(col)
    if len(set(lengths.values())) != 1:
        raise Mismatch(f"dict columns have different lengths {lengths}")
    try:
        return Table({str(k): v for k, v in value.items()})
    except (ValueError, TypeError) as exc:
        raise Mismatch(f"the dict of columns does not form a table: {exc}") from exc


def _is_list_of_dicts(value: Any) -> bool:
    return (isinstance(value, Sequence) and not isinstance(value, str | bytes) and len(value) > 0
            and all(isinstance(row, Mapping) for row in value))


def _read_quietly(source: Any, **kwargs: Any) -> Any:
    from astropy.table import Table

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Table.read(source, **kwargs)


def table_format(path: Path) -> str | None:
    """The astropy reader format for a table file, from its suffix."""
    name = path.name.lower()
    for suffix, fmt in TABLE_SUFFIXES.items():
        if name.endswith(suffix):
            return fmt
    return None


def read_table_file(path: Path) -> Any:
    """Read a table file written by us or by a notebook."""
    fmt = table_format(path)
    if fmt is None:
        raise Mismatch(f"{path.name} has no known table suffix ({', '.join(TABLE_SUFFIXES)})")
    kwargs: dict[str, Any] = {"format": fmt}
    if fmt == "fits":
        kwargs["astropy_native"] = True
    try:
        return _read_quietly(path, **kwargs)
    except Exception as exc:  # noqa: BLE001 - any reader failure means "not this table"
        raise Mismatch(f"{path.name} cannot be read as a table ({fmt}): {exc}") from exc


def write_table(table: Any, stem: str, outdir: Path, taken: set[str],
                formats: Sequence[str] = ("ecsv", "fits", "vot"), *, lazy: bool = False
                ) -> tuple[dict[str, str], dict, list[str]]:
    """Write ``table`` in ``formats``; returns ``(files, meta, derived)``.

    ``lazy``: when the ECSV file gives the table back exactly, the other formats are only
    named (and tried in memory, see ``TRIAL_ROWS``) and listed in ``derived``: they are made
    from the ECSV file when first downloaded (see :mod:`astroflow.products.stored`).
    """
    files: dict[str, str] = {}
    unwritten: dict[str, str] = {}
    derived: list[str] = []
    exact: bool | None = None  # whether the ECSV file gives the table back (asked once)
    for fmt in formats:
        filename = claim(outdir, f"{stem}.{fmt}", taken)
        if exact is None and lazy and fmt != "ecsv" and "ecsv" in files:
            exact = _gives_back(table, outdir / files["ecsv"])
        later = bool(exact) and fmt != "ecsv"
        try:
            if later:  # only learn whether it can be written: in memory, VOTable on a sample
                _WRITERS[fmt](table[:TRIAL_ROWS] if fmt == "vot" else table, io.BytesIO())
            else:
                _WRITERS[fmt](table, outdir / filename)
        except Exception as exc:  # noqa: BLE001 - reported per format below
            if fmt == "ecsv":
                raise
            unwritten[fmt] = f"{type(exc).__name__}: {exc}"
            continue
        taken.add(filename)
        files[fmt] = filename
        if later:
            derived.append(fmt)
    meta: dict[str, Any] = {"columns": describe_columns(table), "nrows": len(table)}
    if unwritten:
        meta["unwritten"] = unwritten
    return files, meta, derived


def _gives_back(table: Any, ecsv: Path) -> bool:
    """Does the ECSV file read back as ``table`` (as the FITS and VOTable writers see it)?"""
    from astroflow.products.roundtrip import same_table

    try:
        again = read_stored(ecsv)
    except Exception:  # noqa: BLE001 - unreadable means "not given back": write every format
        return False
    return same_table(_portable(table), _portable(again))


_QUANTITY = "__class__: astropy.units.quantity.Quantity"


def read_stored(ecsv: Path) -> Any:
    """A stored ECSV file's table, as the class it was written from: a QTable when its
    header serializes Quantity columns (a Table keeps no Quantity), a Table otherwise."""
    from astropy.table import QTable, Table

    with open(ecsv, encoding="utf-8") as stream:
        header = "".join(itertools.takewhile(lambda line: line.startswith("#"), stream))
    cls = QTable if _QUANTITY in header else Table
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cls.read(ecsv, format="ascii.ecsv")


def write_format(table: Any, fmt: str, path: Path) -> None:
    """Write ``table`` (read from its ECSV file) as ``fmt`` exactly as `write_table` would."""
    if fmt not in _WRITERS:
        raise Mismatch(f"tables are not written as {fmt!r} ({', '.join(_WRITERS)})")
    _WRITERS[fmt](table, path)


def _write_ecsv(table: Any, path: Path | io.BytesIO) -> None:
    try:
        _write_quietly(table, path, "ascii.ecsv")
    except Exception:  # noqa: BLE001 - retry once with plain metadata and object columns as text
        _write_quietly(_portable(table), path, "ascii.ecsv")


def _write_fits(table: Any, path: Path | io.BytesIO) -> None:
    _write_quietly(_portable(table), path, "fits")


def _write_votable(table: Any, path: Path | io.BytesIO) -> None:
    _write_quietly(_votable_friendly(table), path, "votable")


_WRITERS = {"ecsv": _write_ecsv, "fits": _write_fits, "vot": _write_votable}


def _write_quietly(table: Any, path: Path | io.BytesIO, fmt: str) -> None:
    """Write atomically to a path; into a memory buffer to learn whether the format can be."""
    def writer(tmp: Path | io.BytesIO) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            table.write(tmp, format=fmt)

    if isinstance(path, io.BytesIO):
        writer(path)
    else:
        atomic.write_with(path, writer)


def _portable(table: Any) -> Any:
    """A shallow copy whose metadata is plain JSON and whose object columns are strings."""
    from astroflow.products.jsonsafe import jsonable

    out = table.copy(copy_data=False)
    out.meta = jsonable(dict(table.meta))
    for name in out.colnames:
        col = out[name]
        if getattr(col, "dtype", None) is not None and col.dtype.kind == "O":
            out[name] = [str(x) for x in col]
    return out


def _votable_friendly(table: Any) -> Any:
    """VOTable cannot hold mixin columns: times become MJD floats, others plain columns."""
    import astropy.units as u
    from astropy.table import Table
    from astropy.table.serialize import represent_mixins_as_columns

    out = _portable(table)
    for name in out.colnames:
        col = out[name]
        if is_time(col):
            out[name] = col.mjd * u.day
            out[name].info.description = f"MJD ({col.scale})"
    if out.has_mixin_columns:
        out = Table(represent_mixins_as_columns(out))
    return out
