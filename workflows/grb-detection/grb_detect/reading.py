"""Light curves from uploaded files: FITS (OGIP RATE/COUNTS, Fermi-GBM/Swift-like tables,
astroflow's own light-curve products), ECSV and CSV.

Columns are found by name (case-insensitive):

- time: ``time``, ``t``, ``mjd``, ``tstart``/``time_min`` + ``tstop``/``time_max``, ``isot``,
  ``date``, ``utc`` ... in seconds (from ``MJDREF``/``TIMEZERO`` or a ``t_ref`` in the
  metadata when given), MJD (a name with ``mjd``, a unit of days, or values 40000-80000 with
  ``TIMEUNIT = 'd'``) or ISO times (strings or an astropy Time column);
- counts: ``counts``, ``cts``, ``count``, ``n``; or rate: ``rate``, ``flux``, ``count_rate``;
- errors (optional): ``error``, ``rate_err``, ``err``, ``counts_err``, ``sigma``;
- bin width (optional): ``timedel``, ``dt``, ``exposure``, ``tstop - tstart``, a ``TIMEDEL``
  keyword, else the median spacing of the times.

A 2-D counts/rate column (energy channels, e.g. Fermi-GBM CTIME) is summed over channels.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.io import fits
from astropy.table import Table
from astropy.time import Time

from grb_detect.errors import AnalysisError
from grb_detect.lightcurve import LightCurve

TIME_NAMES = ("time", "t", "mjd", "time_mjd", "mjd_obs", "tmid", "t_mid", "time_mid", "isot",
              "date", "utc", "date_obs", "time_center", "times")
START_NAMES = ("tstart", "t_start", "time_start", "time_min", "tmin", "t_min")
STOP_NAMES = ("tstop", "t_stop", "time_stop", "time_max", "tmax", "t_max", "endtime")
COUNT_NAMES = ("counts", "count", "cts", "n", "n_counts", "npix_counts")
RATE_NAMES = ("rate", "count_rate", "rates", "flux", "ctrate", "cts_rate", "rate_cts")
ERROR_NAMES = ("error", "rate_err", "rate_error", "err", "errors", "counts_err", "count_err",
               "sigma", "flux_err", "e_rate", "rate_e")
WIDTH_NAMES = ("timedel", "dt", "time_bin", "tbin", "bin_width", "exposure", "time_del",
               "duration")
SUFFIXES = (".fits", ".fit", ".fts", ".lc", ".fits.gz", ".ecsv", ".csv", ".txt", ".dat")


def read_light_curve(path: str | Path) -> LightCurve:
    """The light curve in ``path`` (format from the suffix, else sniffed)."""
    path = Path(path)
    if not path.is_file():
        raise AnalysisError(f"light-curve file {path.name!r} was not found")
    name = path.name.lower()
    head = path.read_bytes()[:80]
    if head.startswith(b"SIMPLE") or name.endswith((".fits", ".fit", ".fts", ".lc",
                                                       ".fits.gz", ".pha")):
        return _from_fits(path)
    if head.startswith(b"\x1f\x8b"):
        return _from_fits(path)
    if name.endswith(".ecsv") or head.startswith(b"# %ECSV"):
        try:
            table = Table.read(path, format="ascii.ecsv")
        except Exception as exc:
            raise AnalysisError(f"{path.name}: not a readable ECSV table ({exc})") from exc
        return from_table(table, path.name)
    return _from_text(path)


def _from_text(path: Path) -> LightCurve:
    errors = []
    for fmt in ("ascii.csv", "ascii.commented_header", "ascii.basic", "ascii"):
        try:
            table = Table.read(path, format=fmt)
        except Exception as exc:  # noqa: BLE001 - try the next reader
            errors.append(f"{fmt}: {exc}")
            continue
        if len(table.colnames) >= 2 and not all(c.startswith("col") for c in table.colnames):
            return from_table(table, path.name)
    raise AnalysisError(f"{path.name}: not a readable CSV/ECSV/FITS light curve with a "
                        f"header row naming its columns (time, counts or rate); "
                        f"tried {', '.join(e.split(':')[0] for e in errors) or 'text readers'}")


def _from_fits(path: Path) -> LightCurve:
    try:
        hdus = fits.open(path, memmap=False)
    except Exception as exc:
        raise AnalysisError(f"{path.name}: not a readable FITS file ({exc})") from exc
    with hdus:
        tried = []
        order = sorted(range(1, len(hdus)), key=lambda i: 0 if hdus[i].name in
                       ("RATE", "COUNTS", "LIGHTCURVE", "SPECTRUM") else 1)
        for i in order:
            hdu = hdus[i]
            if not isinstance(hdu, fits.BinTableHDU):
                continue
            table = Table.read(hdu)
            header = {**dict(hdus[0].header), **dict(hdu.header)}
            try:
                return from_table(table, f"{path.name}[{hdu.name or f'HDU {i}'}]", header)
            except AnalysisError as exc:
                tried.append(str(exc))
        if not tried:
            raise AnalysisError(f"{path.name}: no binary table (light curve) in the FITS file")
        raise AnalysisError("; ".join(tried))


def _find(table: Table, names) -> str | None:
    lower = {c.lower(): c for c in table.colnames}
    for name in names:
        if name in lower:
            return lower[name]
    return None


def _meta(table: Table, header: dict | None) -> dict:
    out = {str(k).upper(): v for k, v in (header or {}).items()}
    out.update({str(k).upper(): v for k, v in table.meta.items()
                if not isinstance(v, dict | list)})
    return out


def _reference(meta: dict) -> Time | None:
    for key in ("T_REF", "TREF", "T0", "TRIGTIME_ISOT", "DATE_REF"):
        if key in meta and isinstance(meta[key], str):
            try:
                return Time(meta[key], scale="utc")
            except ValueError:
                pass
    mjdref = None
    if "MJDREFI" in meta:
        mjdref = float(meta["MJDREFI"]) + float(meta.get("MJDREFF", 0.0))
    elif "MJDREF" in meta:
        mjdref = float(meta["MJDREF"])
    if mjdref is None:
        return None
    scale = str(meta.get("TIMESYS", "TT")).strip().lower()
    scale = scale if scale in ("tt", "utc", "tdb", "tai") else "tt"
    zero = float(meta.get("TIMEZERO", 0.0) or 0.0)
    return Time(mjdref, format="mjd", scale=scale) + zero * u.s


def _seconds(col, name: str, meta: dict) -> tuple[np.ndarray, Time | None]:
    """Times of a column as seconds from a reference (returned with it)."""
    if isinstance(col, Time):
        ref = col[0]
        return (col - ref).to_value(u.s), ref
    values = np.asarray(col)
    if values.dtype.kind in "US":
        try:
            times = Time(list(values), scale="utc")
        except ValueError as exc:
            raise AnalysisError(f"time column {name!r} holds strings that are not ISO times "
                                f"({values[0]!r})") from exc
        return (times - times[0]).to_value(u.s), times[0]
    values = values.astype(float)
    unit = getattr(col, "unit", None)
    unit_s = str(unit).strip().lower() if unit is not None else str(
        meta.get("TIMEUNIT", "")).strip().lower()
    is_mjd = "mjd" in name.lower() or unit_s in ("d", "day", "days")
    if not is_mjd and not unit_s and np.nanmin(values) > 40000 and np.nanmax(values) < 80000 \
            and np.nanmax(values) - np.nanmin(values) < 30:
        is_mjd = True   # MJD values in a column named plainly "time"
    if is_mjd:
        ref = Time(values[0], format="mjd", scale=str(meta.get("TIMESYS", "utc")).lower()
                   if str(meta.get("TIMESYS", "utc")).lower() in ("utc", "tt", "tdb") else "utc")
        return (values - values[0]) * 86400.0, ref
    if unit is not None and unit_s not in ("s", "sec", "second", "seconds", ""):
        try:
            values = (values * u.Unit(unit)).to_value(u.s)
        except (ValueError, u.UnitConversionError) as exc:
            raise AnalysisError(f"time column {name!r} has unit {unit}, not a time") from exc
    return values, _reference(meta)


def from_table(table: Table, source: str = "table", header: dict | None = None) -> LightCurve:
    """A light curve from an astropy Table (columns found by name, see the module doc)."""
    meta = _meta(table, header)
    found = ", ".join(table.colnames)
    time_name = _find(table, TIME_NAMES)
    start_name, stop_name = _find(table, START_NAMES), _find(table, STOP_NAMES)
    if time_name is None and start_name is None:
        raise AnalysisError(f"{source}: no time column (looked for "
                            f"{', '.join(TIME_NAMES[:5])}, tstart/tstop ...); "
                            f"columns found: {found}")
    counts_name = _find(table, COUNT_NAMES)
    rate_name = _find(table, RATE_NAMES)
    if counts_name is None and rate_name is None:
        raise AnalysisError(f"{source}: no counts or rate column (looked for "
                            f"{', '.join(COUNT_NAMES[:3])}, {', '.join(RATE_NAMES[:3])}); "
                            f"columns found: {found}")
    if time_name is not None:
        time, ref = _seconds(table[time_name], time_name, meta)
    else:
        time, ref = _seconds(table[start_name], start_name, meta)
    width = None
    if stop_name is not None and (start_name is not None or time_name is not None):
        # bins given by start and stop (OGIP TSTART/TSTOP, Fermi-GBM TIME/ENDTIME)
        first = start_name or time_name
        t0, ref0 = _seconds(table[first], first, meta)
        t1, ref1 = _seconds(table[stop_name], stop_name, meta)
        if ref0 is not None and ref1 is not None:
            t1 = t1 + (ref1 - ref0).to_value(u.s)
        width = t1 - t0
        if start_name is None or time_name is None:   # the time column is the bin start
            time, ref = t0 + width / 2, ref0
    width_name = _find(table, WIDTH_NAMES)
    if width is None and width_name is not None:
        width = np.asarray(table[width_name], float)
        unit = getattr(table[width_name], "unit", None)
        if unit is not None and str(unit) not in ("s", ""):
            with contextlib.suppress(ValueError, u.UnitConversionError):
                width = (width * u.Unit(unit)).to_value(u.s)
    if width is None and "TIMEDEL" in meta:
        width = float(meta["TIMEDEL"])
        if str(meta.get("TIMEUNIT", "s")).strip().lower() in ("d", "day"):
            width *= 86400.0
    if width is None:
        steps = np.diff(np.sort(time))
        steps = steps[steps > 0]
        if not len(steps):
            raise AnalysisError(f"{source}: cannot tell the bin width (one time only)")
        width = float(np.median(steps))
    width = np.broadcast_to(np.asarray(width, float), time.shape)
    error_name = _find(table, ERROR_NAMES)

    def column(name):
        values = np.asarray(table[name], float)
        if values.ndim == 2:   # energy channels
            return values.sum(axis=1)
        return values

    def error_column(name):
        values = np.asarray(table[name], float)
        if values.ndim == 2:
            return np.sqrt((values ** 2).sum(axis=1))
        return values

    extra = {"columns": found}
    if counts_name is not None:
        counts = column(counts_name)
        if np.all(np.abs(counts - np.round(counts)) < 1e-6):
            return LightCurve.from_counts(time, width, np.round(counts), t_ref=ref,
                                          source=source, meta=extra)
        err = error_column(error_name) if error_name else np.sqrt(np.maximum(counts, 1))
        return LightCurve(time, width, counts / width, err / width, None, ref, source, extra)
    rate = column(rate_name)
    if error_name is not None:
        err = error_column(error_name)
        counts_guess = rate * width
        if np.all(np.abs(counts_guess - np.round(counts_guess)) < 1e-3) and \
                np.allclose(err * width, np.sqrt(np.maximum(counts_guess, 1)), rtol=0.02):
            return LightCurve.from_counts(time, width, np.round(counts_guess), t_ref=ref,
                                          source=source, meta=extra)
        return LightCurve(time, width, rate, err, None, ref, source, extra)
    counts_guess = rate * width
    if np.all(np.abs(counts_guess - np.round(counts_guess)) < 1e-3):
        return LightCurve.from_counts(time, width, np.round(counts_guess), t_ref=ref,
                                      source=source, meta=extra)
    raise AnalysisError(f"{source}: rate column {rate_name!r} has no error column (looked for "
                        f"{', '.join(ERROR_NAMES[:4])}) and rate x bin width is not a whole "
                        f"number of counts; columns found: {found}")
