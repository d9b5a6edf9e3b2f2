"""What the portal draws for a product: Plotly figures, table pages, scalars, text, pictures.

Light curves and spectra become scatter plots with error bars and upper limits drawn as
downward triangles; images become heatmaps with world-coordinate ticks. Plotly validates each
figure's structure, while the large data arrays are attached afterwards as plain lists: that
keeps a 100,000-point light curve or a 512×512 image well under a second.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from astroflow.errors import AstroflowError
from astroflow.products import columns, sed
from astroflow.products.load import load_product, table_file
from astroflow.products.model import Product
from astroflow.products.naming import resolve_in
from astroflow.products.stored import inline_text
from astroflow.products.tables import read_table_file
from astroflow.products.values import is_quantity, is_time
from astroflow.server.formats import available_formats, column_values, strict_json
from astroflow.server.table_cache import TABLES

SCALES = ("linear", "log", "sqrt")
MAX_IMAGE_SIDE = 512      # heatmap cells per axis; larger images are decimated
MAX_POINTS = 100_000      # points per series; longer series are decimated
MAX_SERIES = 10           # value columns drawn from one table
MAX_PAGE = 1000           # rows per table page
TEXT_LIMIT = 100_000      # bytes of a text product shown inline
GL_THRESHOLD = 5000       # WebGL traces above this many points
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")
_PICTURES = ("png", "jpeg", "gif", "svg")


class PreviewError(AstroflowError, ValueError):
    """Preview arguments that do not fit the product (bad scale, sort column, page)."""


def preview(product: Product, products_dir: Path, *, scale: str = "linear", offset: int = 0,
            limit: int = 100, sort: str | None = None, descending: bool = False,
            target: tuple[float, float] | None = None) -> dict:
    """The preview of ``product`` (files in ``products_dir``) as strict-JSON types.

    ``kind`` is ``plotly`` (``figure`` holds the Plotly figure), ``table``, ``scalar``,
    ``text``, ``picture`` or ``download``. ``scale`` applies to images; ``offset``, ``limit``,
    ``sort`` and ``descending`` page through tables. ``target`` (RA, Dec in degrees, the
    job's position) is marked on images that contain it.
    """
    products_dir = Path(products_dir)
    ptype = product.type
    if ptype in ("lightcurve", "spectrum", "table"):
        # Cached: the next page of the same file is not parsed again (see table_cache).
        cached = TABLES.entry(table_file(product, products_dir), read_table_file)
        table = cached.table
        if ptype != "table":
            mine = table.copy(copy_data=False)  # the figure code may add columns or meta
            figure = (lightcurve_figure(mine, product) if ptype == "lightcurve"
                      else spectrum_figure(mine, product))
            if figure is not None:
                return {"kind": "plotly", "figure": figure, "rows": len(table)}
        return table_page(table, offset=offset, limit=limit, sort=sort, descending=descending,
                          memo=cached.memo)
    if ptype == "image":
        return image_preview(product, products_dir, scale, target)
    if ptype == "scalar":
        return _scalar(product, products_dir)
    if ptype == "text":
        return _text(product, products_dir)
    if ptype == "picture":
        fmt = next((f for f in _PICTURES if f in product.files), next(iter(product.files)))
        out = {"kind": "picture", "format": fmt}
        out.update({k: product.meta[k] for k in ("width", "height") if k in product.meta})
        return out
    return {"kind": "download", "formats": available_formats(product),
            "bytes": product.meta.get("bytes")}


# --- tables ---------------------------------------------------------------------------------

def table_page(table: Any, *, offset: int = 0, limit: int = 100, sort: str | None = None,
               descending: bool = False,
               memo: Callable[[Any, Callable[[], np.ndarray]], np.ndarray] | None = None) -> dict:
    """One page of rows (lists in column order), sorted on one column; blanks sort last.

    ``memo(label, compute)`` keeps a sort order for the next page (`TableCache`)."""
    if offset < 0 or not 1 <= limit <= MAX_PAGE:
        raise PreviewError(f"page must have offset >= 0 and 1 <= limit <= {MAX_PAGE}, "
                           f"got offset={offset}, limit={limit}")
    order = np.arange(len(table))
    if sort is not None:
        def compute() -> np.ndarray:
            return _sort_order(table, sort, descending)

        order = memo(("sort", sort, descending), compute) if memo else compute()
    page = table[order[offset:offset + limit]]
    values = [column_values(page[name]) for name in page.colnames]
    return {"kind": "table", "columns": columns.describe_columns(table),
            "rows": [list(row) for row in zip(*values, strict=True)] if values else [],
            "nrows": len(table), "offset": offset, "limit": limit, "sort": sort,
            "descending": descending}


def _sort_order(table: Any, name: str, descending: bool) -> np.ndarray:
    if name not in table.colnames:
        raise PreviewError(f"cannot sort by {name!r}: the columns are {', '.join(table.colnames)}")
    col = table[name]
    if len(getattr(col, "shape", ())) > 1:
        raise PreviewError(f"cannot sort by {name!r}: its cells are arrays")
    order = np.asarray(table.argsort(name, kind="stable", reverse=descending))
    blank = np.zeros(len(table), dtype=bool)
    if is_time(col):
        blank = np.asarray(col.mask, dtype=bool)
    elif getattr(col, "dtype", None) is not None and col.dtype.kind == "f":
        blank = ~np.isfinite(np.ma.filled(np.ma.asarray(col, dtype=float), np.nan))
    elif np.ma.is_masked(col):
        blank = np.ma.getmaskarray(col)
    return np.concatenate([order[~blank[order]], order[blank[order]]])


# --- light curves and spectra ---------------------------------------------------------------

@dataclass
class _Axis:
    """The x axis: values as floats, a title, and how to bring other columns onto it."""

    values: np.ndarray
    title: str
    convert: Callable[[Any], np.ndarray]
    minus: np.ndarray | None = None
    plus: np.ndarray | None = None


@dataclass
class _Series:
    name: str
    y: np.ndarray
    minus: np.ndarray | None = None
    plus: np.ndarray | None = None
    limits: np.ndarray | None = None   # upper-limit values, NaN where the point is measured
    unit: str | None = None


def lightcurve_figure(table: Any, product: Product) -> dict | None:
    """Rate/flux against time with error bars; ``None`` when no series can be found."""
    roles = _roles(product.meta, "time_column", lambda: columns.lightcurve_roles(table, True))
    if roles is None or roles["time_column"] not in table.colnames:
        return None
    axis = _time_axis(table, roles["time_column"])
    if axis is None:
        return None
    _bins(axis, table, roles["time_column"], roles.get("time_bin_columns") or [], geometric=False)
    series = _series(table, roles)
    if not series:
        return None
    if len(series) == 1:
        return _scatter_figure(axis, series, x_log=False, y_log=False, title=product.title)
    return panels_figure(axis, series, title=product.title)


PANEL_GAP = 0.06  # of the plot height, between stacked panels


def panels_figure(axis: _Axis, series: list[_Series], *, title: str) -> dict:
    """One panel per quantity, stacked on a shared time axis: livetime in days, a TS and a
    flux of 1e-12 each get their own y axis, named with the column and its unit."""
    n = len(series)
    height = (1 - PANEL_GAP * (n - 1)) / n
    traces: list[tuple[Any, dict[str, Any]]] = []
    layout: dict[str, Any] = {"title": {"text": title}, "showlegend": False,
                              "xaxis": {"title": {"text": axis.title}, "type": "linear",
                                        "anchor": f"y{n}"}}
    for i, s in enumerate(series):
        ref = "y" if i == 0 else f"y{i + 1}"
        top = 1 - i * (height + PANEL_GAP)
        values = np.concatenate([s.y, _finite_only(s.limits)])
        layout[f"yaxis{i + 1 if i else ''}"] = {
            "title": {"text": _series_title(s)}, "domain": [max(0.0, top - height), top],
            "anchor": "x", "type": "linear", "exponentformat": "power",
            **({"rangemode": "tozero"} if _all_positive(values) else {})}
        for trace, arrays in _series_traces(axis, s, COLOURS[i % len(COLOURS)]):
            trace.update(yaxis=ref)
            traces.append((trace, arrays))
    layout["meta"] = {"panels": n}
    return _figure(traces, layout)


def _series_title(s: _Series) -> str:
    return f"{s.name} [{s.unit}]" if s.unit else s.name


def spectrum_figure(table: Any, product: Product) -> dict | None:
    """Flux against energy/frequency/wavelength on log–log axes where the data allow."""
    if sed.is_sed(table):
        return sed_figure(table, product.title)
    roles = _roles(product.meta, "axis_column", lambda: columns.spectrum_roles(table, True))
    if roles is None or roles["axis_column"] not in table.colnames:
        return None
    name = roles["axis_column"]
    kind = str(roles.get("axis") or "energy")
    axis = _quantity_axis(table, name, kind.capitalize())
    _bins(axis, table, name, roles.get("axis_bin_columns") or [], geometric=True)
    series = _series(table, roles)
    if not series:
        return None
    sed_units = kind == "energy" and _as_e2dnde(series, axis, _unit_of(table[name]))
    x_log = kind != "channel" and _all_positive(axis.values)
    y_log = all(_all_positive(np.concatenate([s.y, _finite_only(s.limits)])) for s in series)
    figure = _scatter_figure(axis, series, x_log=x_log, y_log=y_log, title=product.title)
    if sed_units:
        names = " ".join(dict.fromkeys(f"E² × {s.name}" for s in series))
        figure["layout"]["yaxis"]["title"]["text"] = (
            f"E² dN/dE [{_flux_label(sed.FLUX_UNIT)}] ({names})")
    return figure


def _without_photons(unit: Any) -> Any:
    """``ph / (cm2 s keV)`` as ``1 / (cm2 s keV)``: photons are counted, not a dimension."""
    import astropy.units as u

    kept = [(b, p) for b, p in zip(unit.bases, unit.powers, strict=True) if b != u.ph]
    return u.CompositeUnit(unit.scale, [b for b, _ in kept], [p for _, p in kept])


def _as_e2dnde(series: list[_Series], axis: _Axis, energy_unit: Any) -> bool:
    """Differential fluxes (per energy, area and time; photons or not) become E² dN/dE in
    erg cm-2 s-1, as an SED is read; ``False`` (nothing changed) for any other quantity."""
    import astropy.units as u

    if energy_unit is None:
        return False
    target = u.Unit(sed.FLUX_UNIT)
    factors = []
    for s in series:
        try:
            unit = _without_photons(u.Unit(s.unit)) if s.unit else None
            factor = (energy_unit**2 * unit).to(target) if unit is not None else None
        except (ValueError, u.UnitsError, TypeError):
            factor = None
        if factor is None:
            return False
        factors.append(factor)
    e2 = axis.values**2
    for s, factor in zip(series, factors, strict=True):
        s.y = s.y * e2 * factor
        s.minus = None if s.minus is None else s.minus * e2 * factor
        s.plus = None if s.plus is None else s.plus * e2 * factor
        s.limits = None if s.limits is None else s.limits * e2 * factor
        s.unit = sed.FLUX_UNIT
    return True


SED_COLOURS = {"gamma-rays": COLOURS[0], "neutrinos": COLOURS[3]}


def sed_figure(table: Any, title: str) -> dict:
    """An SED table (convention astroflow-sed/1): E² dN/dE against energy, log–log, one series
    per instrument coloured by messenger; flux points with their bands and errors, models as
    a line in their error band, upper limits as downward arrows (a limit over a range as a
    dashed line), and the tables' notes (neutrino flavours) under the plot."""
    import plotly.graph_objects as go

    e_unit = _sed_unit(table, "energy", sed.ENERGY_UNIT)
    f_unit = _sed_unit(table, "e2dnde", sed.FLUX_UNIT)
    e, lo, hi = (_floats(_in_unit(table, c, e_unit)) for c in sed.ENERGY_COLUMNS)
    y, yn, yp = (_floats(_in_unit(table, c, f_unit)) for c in sed.FLUX_COLUMNS)
    kind, ul = np.asarray(table["kind"]).astype(str), np.asarray(table["is_ul"], bool)
    instruments = np.asarray(table["instrument"]).astype(str)
    messengers = np.asarray(table["messenger"]).astype(str)
    traces: list[tuple[Any, dict[str, Any]]] = []
    spare = iter(c for c in COLOURS if c not in SED_COLOURS.values())
    colours: dict[str, str] = {}
    for inst in dict.fromkeys(instruments):
        rows = instruments == inst
        colour = colours.setdefault(messengers[rows][0],
                                    SED_COLOURS.get(messengers[rows][0]) or next(spare))
        name = f"{inst} ({messengers[rows][0]})"
        common = {"legendgroup": inst, "name": name}
        points = rows & (kind == "point") & ~ul
        if points.any():
            traces.append((go.Scatter(mode="markers", marker={"color": colour, "size": 7},
                                      error_x={"type": "data", "symmetric": False,
                                               "color": colour, "width": 0},
                                      error_y={"type": "data", "symmetric": False,
                                               "color": colour, "width": 2}, **common),
                           {"x": e[points], "y": y[points],
                            "error_x.arrayminus": e[points] - lo[points],
                            "error_x.array": hi[points] - e[points],
                            "error_y.arrayminus": yn[points], "error_y.array": yp[points]}))
        model = rows & (kind == "model") & ~ul
        if model.any():
            order = np.flatnonzero(model)[np.argsort(e[model])]
            band_x = np.concatenate([e[order], e[order][::-1]])
            band_y = np.concatenate([(y - yn)[order], (y + yp)[order][::-1]])
            traces.append((go.Scatter(mode="lines", fill="toself", line={"width": 0},
                                      fillcolor=colour, opacity=0.3, hoverinfo="skip",
                                      showlegend=False, legendgroup=inst,
                                      name=f"{name} band"),
                           {"x": band_x, "y": band_y}))
            traces.append((go.Scatter(mode="lines", line={"color": colour},
                                      **{**common, "name": f"{name} model"}),
                           {"x": e[order], "y": y[order]}))
        limits = rows & ul
        if limits.any():
            order = np.flatnonzero(limits)[np.argsort(e[limits])]
            ranged = bool((kind[limits] == "limit").all()) and limits.sum() > 1
            traces += limit_traces(
                go.Scatter, f"{name} upper limit", inst, colour,
                {"x": e[order], "y": y[order], "error_x.arrayminus": (e - lo)[order],
                 "error_x.array": (hi - e)[order]},
                mode="lines+markers" if ranged else "markers",
                line={"color": colour, "dash": "dash"},
                error_x={"type": "data", "symmetric": False, "color": colour, "width": 0,
                         "visible": not ranged}, log=True)
    notes = {**(table.meta.get("sed_notes") or {})}
    if table.meta.get("sed_note") and len(set(instruments)) == 1:
        notes[str(instruments[0])] = table.meta["sed_note"]
    layout: dict[str, Any] = {
        "title": {"text": title}, "showlegend": True,
        "legend": {"orientation": "h", "y": -0.3},  # below the axis title
        "xaxis": {"title": {"text": f"Energy [{e_unit}]"}, "type": "log"},
        "yaxis": {"title": {"text": f"E² dN/dE [{_flux_label(f_unit)}]"}, "type": "log"}}
    if notes:  # above the plot, clear of the legend below it; a line per clause
        lines = [f"{k}: {v}".replace("; ", ";<br>  ") for k, v in notes.items()]
        layout["annotations"] = [{
            "text": "<br>".join(lines), "showarrow": False, "xref": "paper", "yref": "paper",
            "x": 0, "y": 1.02, "xanchor": "left", "yanchor": "bottom", "align": "left",
            "font": {"size": 11}}]
        layout["margin"] = {"t": 24 + 15 * sum(line.count("<br>") + 1 for line in lines)}
    return _figure(traces, layout)


_SED_FLUX_UNITS = ("erg cm-2 s-1", "TeV cm-2 s-1", "GeV cm-2 s-1", "MeV cm-2 s-1",
                   "W m-2", "keV cm-2 s-1")
_SED_ENERGY_UNITS = ("TeV", "GeV", "MeV", "keV", "eV", "erg")


def _sed_unit(table: Any, name: str, default: str) -> str:
    """The table's own unit for the axis when it is a usual one (an H.E.S.S. SED stays in
    TeV cm-2 s-1), else the convention's."""
    import astropy.units as u

    unit = getattr(table[name], "unit", None)
    choices = _SED_FLUX_UNITS if name == "e2dnde" else _SED_ENERGY_UNITS
    return next((c for c in choices if unit is not None and u.Unit(c) == unit), default)


def _flux_label(unit: str) -> str:
    """``erg cm⁻² s⁻¹`` as astronomers write it."""
    return unit.replace("cm-2", "cm⁻²").replace("s-1", "s⁻¹").replace("m-2", "m⁻²")


def _in_unit(table: Any, name: str, unit: str) -> Any:
    """A column brought to ``unit`` (energies through the spectral equivalencies)."""
    import astropy.units as u

    return u.Quantity(table[name]).to(unit, equivalencies=u.spectral())


def _roles(meta: dict, key: str, detect: Callable[[], dict | str]) -> dict | None:
    if meta.get(key) and meta.get("value_columns"):
        return meta
    found = detect()
    return found if isinstance(found, dict) else None


def _floats(col: Any) -> np.ndarray:
    """A numeric column as float64 with NaN for masked cells."""
    data = col.value if is_quantity(col) else col
    return np.ma.filled(np.ma.asarray(data).astype(float), np.nan)


def _unit_of(col: Any) -> Any:
    return getattr(col, "unit", None)


def _converter(unit: Any) -> Callable[[Any], np.ndarray]:
    """Brings a column to ``unit`` when it has a convertible unit, else takes it as it is."""
    def convert(col: Any) -> np.ndarray:
        values = _floats(col)
        other = _unit_of(col)
        if unit is not None and other is not None and other != unit:
            try:
                return values * other.to(unit)
            except Exception:  # noqa: BLE001 - incompatible units: show the numbers as given
                return values
        return values
    return convert


_TIME_UNITS = {"mjd": "d", "jd": "d", "unix": "s", "unix_tai": "s", "cxcsec": "s", "gps": "s",
               "decimalyear": "yr", "jyear": "yr", "byear": "yr"}


def _time_axis(table: Any, name: str) -> _Axis | None:
    """Times as numbers in the column's own numeric format (MJD for ISO strings)."""
    col = _as_time(table[name])
    if col is None:
        return None
    if not is_time(col):
        axis = _quantity_axis(table, name, name)
        axis.title = _numeric_time_title(table, name, axis)
        return axis
    import astropy.units as u

    fmt = col.format if col.format in _TIME_UNITS else "mjd"
    unit = u.Unit(_TIME_UNITS[fmt])

    def convert(column: Any) -> np.ndarray:
        other = _as_time(column)
        if other is None:  # text that is not a date: no bins to draw
            return np.full(len(column), np.nan)
        if is_time(other):
            return _time_values(other, fmt)
        if other.__class__.__name__ == "TimeDelta":
            return np.asarray(other.to_value(unit), dtype=float)
        return _converter(unit)(other)

    title = f"{name} ({fmt.upper() if fmt in ('mjd', 'jd') else fmt}, {col.scale.upper()})"
    return _Axis(_time_values(col, fmt), title, convert)


def _numeric_time_title(table: Any, name: str, axis: _Axis) -> str:
    """``time (MJD, UTC)`` for numbers that are MJDs: the column's name or description says
    so, the table's TIMESYS / MJDREF (0) say so, or days in the MJD range with no reference
    given; other times keep ``name [unit]``."""
    col = table[name]
    meta = {str(k).upper(): v for k, v in (table.meta or {}).items()}
    unit = _unit_of(col)
    text = " ".join(str(x) for x in (name, getattr(col.info, "description", None) or "",
                                     meta.get("TIMESYS", ""), meta.get("TIMEUNIT", ""),
                                     meta.get("TIME_FORMAT", "")))
    system = f"{meta.get('TIMESYS', '')} {meta.get('TIME_SCALE', '')}".upper()
    scale = next((s for s in ("UTC", "TT", "TDB", "TAI") if s in system.split()
                  or f"({s})" in system), None)
    in_days = unit is None or unit == _day()
    finite = axis.values[np.isfinite(axis.values)]
    looks_mjd = finite.size > 0 and bool(((finite > 10_000) & (finite < 100_000)).all())
    mjdref = meta.get("MJDREF", meta.get("MJDREFI"))
    says_mjd = "MJD" in text.upper() or (mjdref is not None and float(mjdref) == 0)
    if in_days and (says_mjd or (mjdref is None and unit is not None and looks_mjd)):
        return f"{name} (MJD{', ' + scale if scale else ''})"
    if in_days and mjdref is not None and float(mjdref) != 0:
        return f"{name} [d since MJD {float(mjdref):g}]"
    return axis.title


def _day() -> Any:
    import astropy.units as u

    return u.d


def _as_time(col: Any) -> Any | None:
    """String columns of dates become Time; ``None`` when they are not dates."""
    if is_time(col) or getattr(col, "dtype", None) is None or col.dtype.kind not in "US":
        return col
    from astropy.time import Time

    try:
        return Time(np.asarray(col).astype(str))
    except ValueError:
        return None


def _time_values(col: Any, fmt: str) -> np.ndarray:
    values = col.to_value(fmt)
    values = np.array(getattr(values, "unmasked", values), dtype=float)
    values[np.asarray(col.mask, dtype=bool)] = np.nan
    return values


def _quantity_axis(table: Any, name: str, label: str) -> _Axis:
    col = table[name]
    unit = _unit_of(col)
    title = f"{label} [{unit.to_string()}]" if unit is not None else label
    return _Axis(_floats(col), title, _converter(unit))


# Bin columns were already picked out by products.columns; their suffix tells their meaning.
_LOWER = re.compile(r"(?:start|min|lo|low)$", re.IGNORECASE)
_UPPER = re.compile(r"(?:stop|max|hi|high|end)$", re.IGNORECASE)
_WIDTH = re.compile(r"(?:del|bin|width)$|^dt$", re.IGNORECASE)
_HALF = re.compile(r"err(?:or)?$", re.IGNORECASE)


def _bins(axis: _Axis, table: Any, name: str, extra: Sequence[str], geometric: bool) -> None:
    """Horizontal error bars from bin edges, widths or errors; centres an edge-only axis."""
    def first(pattern: re.Pattern) -> np.ndarray | None:
        found = next((c for c in extra if c in table.colnames and pattern.search(c)), None)
        return axis.convert(table[found]) if found else None

    lower, upper = first(_LOWER), first(_UPPER)
    if lower is None and _LOWER.search(name):
        lower = axis.values
    if lower is not None and upper is not None:
        if _LOWER.search(name):  # the axis is the lower edge: plot the bin centre
            axis.values = np.sqrt(lower * upper) if geometric else (lower + upper) / 2
        axis.minus, axis.plus = axis.values - lower, upper - axis.values
    elif (width := first(_WIDTH)) is not None:
        axis.minus = axis.plus = np.abs(width) / 2
    elif (half := first(_HALF)) is not None:
        axis.minus = axis.plus = np.abs(half)


_ERR_LOWER = re.compile(r"(?:err|error|sigma|unc)_?(?:lo|low|neg|n|minus|down|m)$|^(?:lo|neg)_",
                        re.IGNORECASE)
_ERR_UPPER = re.compile(r"(?:err|error|sigma|unc)_?(?:hi|high|pos|p|plus|up)$|^(?:hi|pos)_",
                        re.IGNORECASE)
_UL_SUFFIX = re.compile(r"_?(?:is_?)?(?:ul|uls|upper_?lim(?:it)?s?|uplim(?:it)?s?)$",
                        re.IGNORECASE)


def _series(table: Any, roles: dict) -> list[_Series]:
    """The value columns with their errors and upper limits, in table order."""
    names = [v for v in roles.get("value_columns") or [] if v in table.colnames][:MAX_SERIES]
    flag_name = roles.get("upper_limit_column")
    flags = (np.ma.filled(np.ma.asarray(table[flag_name]), False).astype(bool)
             if flag_name in table.colnames else None)
    limit_cols = [c for c in roles.get("upper_limit_value_columns") or [] if c in table.colnames]
    out = []
    for name in names:
        col = table[name]
        convert = _converter(_unit_of(col))
        s = _Series(name, _floats(col), unit=(roles.get("units") or {}).get(name)
                    or (_unit_of(col).to_string() if _unit_of(col) is not None else None))
        errors = [e for e in (roles.get("errors") or {}).get(name, []) if e in table.colnames]
        lower = next((e for e in errors if _ERR_LOWER.search(e)), None)
        upper = next((e for e in errors if _ERR_UPPER.search(e)), None)
        if lower and upper:
            s.minus, s.plus = np.abs(convert(table[lower])), np.abs(convert(table[upper]))
        elif errors:
            symmetric = next((e for e in errors if e not in (lower, upper)), errors[0])
            s.minus = s.plus = np.abs(convert(table[symmetric]))
        limit_col = _limit_column(name, limit_cols, single=len(names) == 1)
        limit_values = convert(table[limit_col]) if limit_col else None
        if flags is not None:  # flagged rows are limits, the others measurements
            s.limits = np.where(flags, s.y if limit_values is None else limit_values, np.nan)
            s.y = np.where(flags, np.nan, s.y)
        elif limit_values is not None:  # a limit beside every value (IceCube's flux_ul)
            s.limits = limit_values
        out.append(s)
    return out


def _limit_column(value: str, candidates: list[str], single: bool) -> str | None:
    for cand in candidates:
        if _UL_SUFFIX.sub("", cand).lower() == value.lower():
            return cand
    return candidates[0] if candidates and single else None


def _scatter_figure(axis: _Axis, series: list[_Series], *, x_log: bool, y_log: bool,
                    title: str) -> dict:
    traces: list[tuple[Any, dict[str, Any]]] = []
    for i, s in enumerate(series):
        traces += _series_traces(axis, s, COLOURS[i % len(COLOURS)], log=y_log)
    units = {s.unit for s in series}
    if len(series) == 1:
        y_title = _series_title(series[0])
    else:
        y_title = f"[{units.pop()}]" if len(units) == 1 and None not in units else ""
    layout = {"title": {"text": title}, "showlegend": len(traces) > 1,
              "xaxis": {"title": {"text": axis.title}, "type": "log" if x_log else "linear"},
              "yaxis": {"title": {"text": y_title}, "type": "log" if y_log else "linear"}}
    return _figure(traces, layout)


def _series_traces(axis: _Axis, s: _Series, colour: str,
                   log: bool = False) -> list[tuple[Any, dict[str, Any]]]:
    """The measured points of one series with their error bars, then its upper limits."""
    import plotly.graph_objects as go

    n = len(axis.values)
    step = max(1, math.ceil(n / MAX_POINTS))
    trace = go.Scattergl if n // step > GL_THRESHOLD else go.Scatter
    x = axis.values[::step]
    x_err = _error_arrays(axis.minus, axis.plus, step)
    arrays = {"x": x, "y": s.y[::step]}
    kwargs: dict[str, Any] = {"mode": "markers", "name": s.name, "legendgroup": s.name,
                              "marker": {"color": colour, "size": 6}}
    if x_err:
        kwargs["error_x"] = {"type": "data", "symmetric": False, "color": colour,
                             "thickness": 1, "width": 0}
        arrays.update({f"error_x.{k}": v for k, v in x_err.items()})
    y_err = _error_arrays(s.minus, s.plus, step)
    if y_err:
        kwargs["error_y"] = {"type": "data", "symmetric": False, "color": colour,
                             "thickness": 1, "width": 2}
        arrays.update({f"error_y.{k}": v for k, v in y_err.items()})
    out = [(trace(**kwargs), arrays)]
    if s.limits is not None and np.isfinite(s.limits).any():
        limits = s.limits[::step]
        keep = np.isfinite(limits)
        out += limit_traces(trace, f"{s.name} upper limit", s.name, colour,
                            {"x": x[keep], "y": limits[keep]}, log=log, span=_span(s))
    return out


LIMIT_SYMBOL = "arrow-down"  # the head of every upper-limit arrow, whatever the product
LIMIT_BAR = "line-ew"        # the bar at the limit value, where the arrow starts
ARROW_DECADES = 0.2          # arrow length on a log axis
ARROW_SPAN = 0.25            # arrow length on a linear axis, of the series' span


def limit_traces(trace: Any, name: str, group: str, colour: str, arrays: dict[str, Any], *,
                 log: bool, span: float | None = None,
                 **kwargs: Any) -> list[tuple[Any, dict[str, Any]]]:
    """Upper limits as arrows: a bar at the limit value with a shaft down to a head. The
    first trace (``name``) holds the limit values; the second draws the heads."""
    y = np.asarray(arrays["y"], dtype=float)
    shaft = np.abs(y) * (1 - 10**-ARROW_DECADES)
    if not log and span:  # a fixed length on the panel, never past half of a positive limit
        shaft = np.where(y > 0, np.minimum(ARROW_SPAN * span, 0.5 * y), ARROW_SPAN * span)
    kwargs.setdefault("mode", "markers")
    bar = trace(name=name, legendgroup=group, marker={
        "symbol": LIMIT_BAR, "size": 14, "color": colour, "line": {"color": colour, "width": 2}},
        error_y={"type": "data", "symmetric": False, "color": colour, "thickness": 1.5,
                 "width": 0}, **kwargs)
    head = trace(mode="markers", name=f"{name} arrowhead", legendgroup=group, showlegend=False,
                 hoverinfo="skip", marker={"symbol": LIMIT_SYMBOL, "size": 10, "color": colour})
    return [(bar, {**arrays, "error_y.array": np.zeros_like(y), "error_y.arrayminus": shaft}),
            (head, {"x": arrays["x"], "y": y - shaft})]


def _span(s: _Series) -> float | None:
    """The extent of a series on its y axis (values with their errors, and limits)."""
    parts = [s.y, _finite_only(s.limits)]
    parts += [s.y - s.minus] if s.minus is not None else []
    parts += [s.y + s.plus] if s.plus is not None else []
    values = np.concatenate(parts)
    values = values[np.isfinite(values)]
    return float(np.ptp(values)) if values.size > 1 and np.ptp(values) > 0 else None


def _error_arrays(minus: np.ndarray | None, plus: np.ndarray | None,
                  step: int) -> dict[str, np.ndarray]:
    if minus is None or plus is None or not (np.isfinite(minus).any() or np.isfinite(plus).any()):
        return {}
    return {"arrayminus": minus[::step], "array": plus[::step]}


def _all_positive(values: np.ndarray) -> bool:
    finite = values[np.isfinite(values)]
    return finite.size > 0 and bool((finite > 0).all())


def _finite_only(values: np.ndarray | None) -> np.ndarray:
    return np.empty(0) if values is None else values[np.isfinite(values)]


def _figure(traces: list[tuple[Any, dict[str, Any]]], layout: dict[str, Any]) -> dict:
    """Validate structure with plotly, then attach arrays as JSON lists (NaN → null)."""
    import plotly.graph_objects as go

    fig = go.Figure([t for t, _ in traces], layout=go.Layout(layout))
    fig.layout.template = None  # the portal styles figures; no 10 kB template per figure
    doc = fig.to_plotly_json()
    for out, (_, arrays) in zip(doc["data"], traces, strict=True):
        for path, values in arrays.items():
            target = out
            *parents, leaf = path.split(".")
            for key in parents:
                target = target.setdefault(key, {})
            target[leaf] = _json_array(values)
    return doc


def _json_array(values: Any) -> list:
    array = np.asarray(values, dtype=float)
    out = array.astype(object)
    out[~np.isfinite(array)] = None  # JSON has no NaN or infinity
    return out.tolist()


# --- images ---------------------------------------------------------------------------------

_CELESTIAL_NAMES = {"RA": "Right ascension", "DEC": "Declination", "GLON": "Galactic longitude",
                    "GLAT": "Galactic latitude", "ELON": "Ecliptic longitude",
                    "ELAT": "Ecliptic latitude"}
_N_TICKS = 6


def image_preview(product: Product, products_dir: Path, scale: str = "linear",
                  target: tuple[float, float] | None = None) -> dict:
    """A heatmap of the image's first plane, decimated to at most ``MAX_IMAGE_SIDE`` a side,
    with a colour bar naming the quantity and its unit and the target marked when inside."""
    if scale not in SCALES:
        raise PreviewError(f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}")
    hdu = load_product(product, products_dir)
    plane = np.asarray(hdu.data)
    while plane.ndim > 2:
        plane = plane[0]
    step = max(1, math.ceil(max(plane.shape) / MAX_IMAGE_SIDE))
    z = _scaled(np.asarray(plane[::step, ::step], dtype=float), scale)
    rows, cols = np.arange(0, plane.shape[0], step), np.arange(0, plane.shape[1], step)
    heatmap: dict[str, Any] = {"colorscale": "Viridis",
                               "colorbar": {"title": {"text": colour_bar_title(
                                   hdu.header, product, scale), "side": "right"}},
                               "hovertemplate": "x %{x}, y %{y}: %{z}<extra></extra>"}
    finite = z[np.isfinite(z)]
    if finite.size:
        low, high = np.percentile(finite, [0.5, 99.5])
        heatmap.update(zmin=float(low), zmax=float(high if high > low else low + 1))
        z = _rounded(z, float(finite.max() - finite.min()))
    layout: dict[str, Any] = {
        "title": {"text": product.title},
        "xaxis": {"title": {"text": "x [pixel]"}, "constrain": "domain"},
        "yaxis": {"title": {"text": "y [pixel]"}, "scaleanchor": "x", "constrain": "domain"},
    }
    _world_axes(layout, hdu.header, plane.shape)
    import plotly.graph_objects as go

    traces: list[tuple[Any, dict[str, Any]]] = [
        (go.Heatmap(**heatmap), {"x": cols, "y": rows, "z": z})]
    marked = target_pixel(hdu.header, plane.shape, target)
    if marked is not None:
        (px, py), label = marked
        traces.append((go.Scatter(
            mode="markers", name=label, showlegend=False, hoverinfo="name",
            marker={"symbol": "circle-open", "size": 18, "color": "#ff2d55",
                    "line": {"width": 2, "color": "#ff2d55"}}), {"x": [px], "y": [py]}))
    figure = _figure(traces, layout)
    return {"kind": "plotly", "figure": figure, "scale": scale, "shape": list(hdu.data.shape),
            "step": step, "colorbar": figure["data"][0]["colorbar"]["title"]["text"],
            "target": marked[1] if marked else None}


def colour_bar_title(header: Any, product: Product, scale: str) -> str:
    """The quantity (BTYPE, else BUNIT's comment, else the product title) and its unit
    (BUNIT, else the product's), wrapped in the scale's function."""
    unit = str(header.get("BUNIT") or product.unit or product.meta.get("unit") or "").strip()
    comment = header.comments["BUNIT"] if "BUNIT" in header else ""
    quantity = str(header.get("BTYPE") or comment or product.title or product.name).strip()
    text = f"{quantity} [{unit}]" if unit else quantity
    return {"linear": text, "log": f"log10 {text}", "sqrt": f"sqrt {text}"}[scale]


def target_pixel(header: Any, shape: tuple[int, ...], target: tuple[float, float] | None
                 ) -> tuple[tuple[float, float], str] | None:
    """The pixel of ``target`` (RA, Dec), else of the reference point (CRVAL), when it lies
    inside a celestial image; ``None`` otherwise."""
    wcs = _plane_wcs(header)
    if wcs is None or not wcs.has_celestial:
        return None
    try:
        if target is not None:
            from astropy.coordinates import SkyCoord

            px, py = wcs.world_to_pixel(SkyCoord(target[0], target[1], unit="deg"))
            label = f"target RA {target[0]:.4f}°, Dec {target[1]:.4f}°"
        else:
            px, py = wcs.wcs_world2pix([wcs.wcs.crval], 0)[0]
            label = "reference position (CRVAL)"
    except Exception:  # noqa: BLE001 - positions off the projection: nothing to mark
        return None
    ny, nx = shape
    px, py = float(px), float(py)
    if not (math.isfinite(px) and math.isfinite(py)
            and -0.5 <= px <= nx - 0.5 and -0.5 <= py <= ny - 0.5):
        return None
    return (round(px, 2), round(py, 2)), label


def _rounded(z: np.ndarray, span: float) -> np.ndarray:
    """Keep 5 significant digits of the data range: colours resolve far less, JSON halves."""
    if span <= 0 or not math.isfinite(span):
        return z
    return np.round(z, 5 - math.ceil(math.log10(span)))


def _scaled(z: np.ndarray, scale: str) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        if scale == "log":
            return np.where(z > 0, np.log10(np.where(z > 0, z, 1)), np.nan)
        if scale == "sqrt":
            return np.where(z >= 0, np.sqrt(np.abs(z)), np.nan)
    return z


def _world_axes(layout: dict[str, Any], header: Any, shape: tuple[int, ...]) -> None:
    """Axis titles from CTYPE and ticks labelled in world coordinates along the centre lines."""
    wcs = _plane_wcs(header)
    if wcs is None:
        return
    ny, nx = shape
    xs = np.linspace(0, nx - 1, _N_TICKS).round()
    ys = np.linspace(0, ny - 1, _N_TICKS).round()
    try:
        lon = wcs.pixel_to_world_values(xs, np.full_like(xs, (ny - 1) / 2))[0]
        lat = wcs.pixel_to_world_values(np.full_like(ys, (nx - 1) / 2), ys)[1]
    except Exception:  # noqa: BLE001 - projections undefined off the sky: keep pixel ticks
        return
    for key, pixels, world, index in (("xaxis", xs, lon, 0), ("yaxis", ys, lat, 1)):
        world = np.asarray(world, dtype=float)
        if not np.isfinite(world).all():
            continue
        unit = str(wcs.wcs.cunit[index] or "")
        layout[key]["title"]["text"] = _world_title(wcs.wcs.ctype[index], unit, key[0])
        layout[key].update(tickmode="array", tickvals=[float(p) for p in pixels],
                           ticktext=_tick_labels(world, unit))


def _plane_wcs(header: Any) -> Any | None:
    from astropy.wcs import WCS

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            wcs = WCS(header)
            if wcs.naxis < 2 or not any(list(wcs.wcs.ctype)[:2]):
                return None
            return wcs.sub([1, 2]) if wcs.naxis > 2 else wcs
    except Exception:  # noqa: BLE001 - broken WCS keywords: pixel axes
        return None


def _world_title(ctype: str, unit: str, fallback: str) -> str:
    name = ctype.split("-", 1)[0].strip()
    label = _CELESTIAL_NAMES.get(name.upper(), name or fallback)
    return f"{label} [{unit}]" if unit else label


def _tick_labels(world: np.ndarray, unit: str) -> list[str]:
    span = float(np.ptp(world)) or abs(float(world[0])) or 1.0
    decimals = min(6, max(0, math.ceil(-math.log10(span / _N_TICKS)) + 1))
    suffix = "°" if unit == "deg" else ""
    return [f"{w:.{decimals}f}{suffix}" for w in world]


# --- scalars and text -----------------------------------------------------------------------

def _scalar(product: Product, products_dir: Path) -> dict:
    import json

    if "json" in product.derived:  # its value is in the record: no file read or made
        doc = product.meta
    else:
        doc = json.loads(resolve_in(products_dir, product.files["json"]).read_text("utf-8"))
    out = {"kind": "scalar", "value": strict_json(doc.get("value")),
           "unit": doc.get("unit") or product.unit, "dtype": doc.get("dtype")}
    out.update({k: doc[k] for k in ("format", "scale") if k in doc})
    return out


def _text(product: Product, products_dir: Path) -> dict:
    if "txt" in product.derived:  # a short text is kept in its record
        return {"kind": "text", "text": inline_text(product), "truncated": False}
    path = resolve_in(products_dir, product.files.get("txt") or next(iter(product.files.values())))
    with open(path, "rb") as stream:
        head = stream.read(TEXT_LIMIT + 1)
    return {"kind": "text", "text": head[:TEXT_LIMIT].decode("utf-8", "ignore"),
            "truncated": len(head) > TEXT_LIMIT}
