"""Read the roles of table columns: time, spectral axis, values, errors, upper limits.

Light curves and spectra are tables whose columns play known roles. The roles are found from
column names (and, when the output is annotated, from units) so that the portal can plot
``value ± error`` against time or energy without knowing the notebook.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from astroflow.ontology.model import ProductType
from astroflow.products.values import is_time

TIME_NAMES = ("time", "TIME", "mjd", "MJD", "t")
_TIME_NAMES_CI = ("time", "mjd", "jd", "bjd", "hjd", "t", "time_mjd", "mjd_obs", "tmid",
                  "t_mid", "time_mid", "time_center")
_TIME_BIN_NAMES_CI = ("tstart", "t_start", "time_start", "tmin", "t_min", "time_min")
_TIME_AUX = re.compile(
    r"^(t|time)_?(start|stop|min|max|del|bin|lo|hi|err|error)$|^(timedel|tbin|dt|fracexp|terr)$",
    re.IGNORECASE)

_AXIS_NAMES: dict[str, tuple[str, ...]] = {
    "energy": ("energy", "e", "e_ref", "e_center", "e_mean", "e_mid", "energy_ref",
               "energy_center", "energ", "en"),
    "frequency": ("frequency", "freq", "nu", "freq_ref", "nu_ref"),
    "wavelength": ("wavelength", "wave", "wl", "lambda", "lam"),
    "channel": ("channel", "chan"),
}
_AXIS_EDGE = re.compile(
    r"^(e|energy|energ|freq|frequency|nu|wave|wavelength|wl|lambda|lam|chan|channel)"
    r"_?(min|max|lo|hi|low|high|start|stop)$", re.IGNORECASE)
_AXIS_PHYSICAL = {"energy": "energy", "frequency": "frequency", "length": "wavelength"}

_ERROR = re.compile(
    r"^(?:(?:e|err|error|sigma|unc)_(?P<pre>.+)"
    r"|(?P<base>.+?)_?(?:err|error|errors|sigma|unc|uncertainty)"
    r"(?:_?(?:lo|hi|low|high|n|p|neg|pos|minus|plus|up|down))?"
    r"|(?P<generic>err|error|errors|sigma|uncertainty))$",
    re.IGNORECASE)
_UPPER_LIMIT = re.compile(
    r"^(?:.+_)?(?:is_?)?(?:ul|uls|upper_?lim(?:it)?s?|uplim(?:it)?s?)$", re.IGNORECASE)
_FLUX_LIKE = re.compile(
    r"flux|rate|count|cts|mag|dnde|e2dnde|sed|nufnu|nu_fnu|fnu|f_nu|flam|f_lambda|intensity|"
    r"norm|excess|brightness|sqrt_ts|signif", re.IGNORECASE)


def column_unit(col: Any) -> str | None:
    """The unit of a column as a string, ``None`` when it has none."""
    unit = getattr(col, "unit", None)
    return None if unit is None else unit.to_string()


def column_dtype(col: Any) -> str:
    """A short portable dtype: ``float64``, ``int32``, ``bool``, ``str``, ``time`` …"""
    if is_time(col):
        return "time"
    dtype = getattr(col, "dtype", None)
    if dtype is None:
        return type(col).__name__.lower()
    if dtype.kind in "US":
        return "str"
    if dtype.kind == "O":
        return "object"
    return dtype.name


def describe_columns(table: Any) -> list[dict[str, Any]]:
    """``[{name, unit, dtype}]`` for the manifest, plus shape, time format and description."""
    out = []
    for name in table.colnames:
        col = table[name]
        entry: dict[str, Any] = {"name": name, "unit": column_unit(col),
                                 "dtype": column_dtype(col)}
        shape = getattr(col, "shape", ())
        if len(shape) > 1:
            entry["shape"] = list(shape[1:])
        if is_time(col):
            entry["format"] = col.format
            entry["scale"] = col.scale
        description = getattr(col.info, "description", None)
        if description:
            entry["description"] = str(description)
        out.append(entry)
    return out


def _physical_type(col: Any) -> str | None:
    unit = getattr(col, "unit", None)
    if unit is None:
        return None
    try:
        return str(unit.physical_type)
    except Exception:  # noqa: BLE001 - exotic units have no physical type
        return None


def _numeric_1d(col: Any) -> bool:
    dtype = getattr(col, "dtype", None)
    return (not is_time(col) and dtype is not None and dtype.kind in "iuf"
            and len(getattr(col, "shape", ())) == 1)


def _is_bool(col: Any) -> bool:
    dtype = getattr(col, "dtype", None)
    return dtype is not None and dtype.kind == "b" and len(getattr(col, "shape", ())) == 1


def _by_name(colnames: list[str], candidates: tuple[str, ...]) -> str | None:
    lower = {c.lower(): c for c in reversed(colnames)}
    for cand in candidates:
        if cand in lower:
            return lower[cand]
    return None


def find_time_column(table: Any, by_unit: bool = False) -> str | None:
    """The column that carries time: a conventional name, then an astropy Time column.

    ``by_unit`` also accepts the first numeric column with a unit of time, which is only
    safe when the output is known to be a light curve.
    """
    names = list(table.colnames)
    for name in TIME_NAMES:
        if name in names:
            return name
    for name in names:
        if is_time(table[name]):
            return name
    found = _by_name(names, _TIME_NAMES_CI) or _by_name(names, _TIME_BIN_NAMES_CI)
    if found or not by_unit:
        return found
    for name in names:
        if _numeric_1d(table[name]) and _physical_type(table[name]) == "time":
            return name
    return None


def find_spectral_axis(table: Any, by_unit: bool = False) -> tuple[str, str] | None:
    """``(axis kind, column)`` for energy, frequency, wavelength or channel axes."""
    names = list(table.colnames)
    for kind, candidates in _AXIS_NAMES.items():
        found = _by_name(names, candidates)
        if found and _numeric_1d(table[found]):
            return kind, found
    for name in names:  # only bin edges, e.g. e_min / e_max
        match = _AXIS_EDGE.match(name)
        if match and _numeric_1d(table[name]):
            return _edge_kind(match.group(1)), name
    if by_unit:
        for name in names:
            physical = _AXIS_PHYSICAL.get(_physical_type(table[name]) or "")
            if physical and _numeric_1d(table[name]):
                return physical, name
    return None


def _edge_kind(prefix: str) -> str:
    prefix = prefix.lower()
    for kind, candidates in _AXIS_NAMES.items():
        if prefix in candidates:
            return kind
    return "energy"


def find_upper_limit_column(table: Any) -> str | None:
    """A boolean column flagging upper limits (``ul``, ``upper_limit``, ``is_ul`` …)."""
    for name in table.colnames:
        if _UPPER_LIMIT.match(name) and _is_bool(table[name]):
            return name
    return None


def is_flux_like(table: Any, name: str) -> bool:
    """Whether a column looks like a measured quantity (flux, rate, counts, magnitude …)."""
    if _FLUX_LIKE.search(name):
        return True
    ptype = _physical_type(table[name]) or ""
    return "flux" in ptype or "irradiance" in ptype


def roles(table: Any, axis_column: str, axis_extra: set[str]) -> dict[str, Any]:
    """Values, errors and upper limits around an axis column (time or spectral)."""
    names = list(table.colnames)
    upper = find_upper_limit_column(table)
    skip = {axis_column, *axis_extra}
    if upper:
        skip.add(upper)
    errors: list[str] = []
    error_base: dict[str, str | None] = {}
    limit_values: list[str] = []
    values: list[str] = []
    for name in names:
        if name in skip or not _numeric_1d(table[name]):
            continue
        if _UPPER_LIMIT.match(name):
            limit_values.append(name)
            continue
        match = _ERROR.match(name)
        if match:
            errors.append(name)
            error_base[name] = match.group("pre") or match.group("base")
            continue
        values.append(name)
    by_lower = {v.lower(): v for v in values}
    pairs: dict[str, list[str]] = {}
    for err in errors:
        base = (error_base[err] or "").lower()
        target = by_lower.get(base)
        if target is None and base.lower() in (axis_column.lower(), *(x.lower() for x in skip)):
            continue  # error of the axis itself (time_err, e_err)
        if target is None and values:
            target = values[0]
        if target is not None:
            pairs.setdefault(target, []).append(err)
    units = {n: u for n in names if (u := column_unit(table[n])) is not None}
    out: dict[str, Any] = {
        "value_columns": values,
        "error_columns": errors,
        "errors": pairs,
        "upper_limit_column": upper,
        "units": units,
    }
    if limit_values:
        out["upper_limit_value_columns"] = limit_values
    return out


def lightcurve_roles(table: Any, by_unit: bool = False) -> dict[str, Any] | str:
    """Light-curve metadata, or the reason this table is not a light curve."""
    time_col = find_time_column(table, by_unit=by_unit)
    if time_col is None:
        return (f"no time column (looked for {', '.join(TIME_NAMES)} or an astropy Time "
                f"column; columns are {list(table.colnames)})")
    aux = {n for n in table.colnames if n != time_col and (_TIME_AUX.match(n) or is_time(table[n]))}
    meta: dict[str, Any] = {"time_column": time_col}
    col = table[time_col]
    if is_time(col):
        meta["time_format"] = col.format
        meta["time_scale"] = col.scale
    meta.update(roles(table, time_col, aux))
    if aux:
        meta["time_bin_columns"] = sorted(aux, key=list(table.colnames).index)
    if not meta["value_columns"]:
        return f"no numeric value column besides the time column {time_col!r}"
    return meta


def spectrum_roles(table: Any, by_unit: bool = False) -> dict[str, Any] | str:
    """Spectrum metadata, or the reason this table is not a spectrum."""
    axis = find_spectral_axis(table, by_unit=by_unit)
    if axis is None:
        return ("no energy, frequency or wavelength column (looked for names such as energy, "
                f"e_min, frequency, wavelength; columns are {list(table.colnames)})")
    kind, axis_col = axis
    edges = {n for n in table.colnames if n != axis_col and _AXIS_EDGE.match(n)}
    meta: dict[str, Any] = {"axis": kind, "axis_column": axis_col}
    if edges:
        meta["axis_bin_columns"] = sorted(edges, key=list(table.colnames).index)
    meta.update(roles(table, axis_col, edges))
    if not meta["value_columns"]:
        return f"no numeric flux column besides the {kind} column {axis_col!r}"
    return meta


def classify_table(table: Any) -> tuple[ProductType, dict[str, Any]]:
    """Guess ``lightcurve``/``spectrum``/``table`` for an unannotated table, with its roles.

    A guess needs both an axis named as such and a flux-like value column, so that an event
    list (time, energy) or a catalogue stays a plain table.
    """
    kinds: tuple[tuple[ProductType, Callable[[Any], Any]], ...] = (
        ("lightcurve", lightcurve_roles), ("spectrum", spectrum_roles))
    for ptype, finder in kinds:
        meta = finder(table)
        if isinstance(meta, dict) and any(is_flux_like(table, v) for v in meta["value_columns"]):
            return ptype, meta
    return "table", {}
