"""Integral flux above a threshold per observation run or per night, from reduced datasets.

Each time bin's flux is the norm of a power law whose index is held fixed (from the fit of all
selected data, or given), fitted by gammapy's LightCurveEstimator to the on/off datasets of
the bin (stacked within the bin), and integrated from the threshold to the top of the energy
axis. Where the bin's TS is below 4 the 2-sigma upper limit is given as well (`is_ul`).

Nights are counted in local mean solar time at the H.E.S.S. site (longitude from the obs
index, 16.5° E): a night runs from noon to noon, so the runs of one night share a date.
"""

from __future__ import annotations

from dataclasses import dataclass

import astropy.units as u
import numpy as np
from astropy.table import Table
from astropy.time import Time
from gammapy.datasets import Datasets
from gammapy.estimators import LightCurveEstimator
from gammapy.modeling.models import PowerLawSpectralModel, SkyModel

from .errors import AnalysisError
from .selection import observation_times
from .spectrum import N_SIGMA_UL, TS_UL, restrict_energy

BINNINGS = ("run", "night")
#: H.E.S.S. site longitude (the DR1 obs index's GEOLON), used when an index lacks it.
HESS_LONGITUDE = 16.5002222 * u.deg


@dataclass(frozen=True)
class TimeBin:
    start: Time
    stop: Time
    obs_ids: tuple[int, ...]


def night_of(time: Time, longitude: u.Quantity = HESS_LONGITUDE) -> np.ndarray:
    """The night's number (MJD of the local noon that starts it) in local mean solar time."""
    local = time.utc.mjd + longitude.to_value(u.deg) / 360.0
    return np.floor(local - 0.5).astype(int)


def time_bins(table: Table, binning: str) -> list[TimeBin]:
    """Bins from the obs index rows of a selection: one per run, or one per night."""
    if binning not in BINNINGS:
        raise AnalysisError(f"binning {binning!r} is not known; choose one of "
                            f"{', '.join(BINNINGS)}")
    start, stop = observation_times(table)
    ids = [int(i) for i in table["OBS_ID"]]
    if binning == "run":
        return [TimeBin(start[i], stop[i], (ids[i],)) for i in np.argsort(start.mjd)]
    longitude = float(table.meta.get("GEOLON", HESS_LONGITUDE.to_value(u.deg))) * u.deg
    nights = night_of(start, longitude)
    bins = []
    for night in np.unique(nights):
        members = np.flatnonzero(nights == night)
        bins.append(TimeBin(start[members].min(), stop[members].max(),
                            tuple(ids[i] for i in members)))
    return bins


def shape(index: float) -> PowerLawSpectralModel:
    """A power law of fixed index at 1 TeV; only its normalisation is fitted per bin."""
    model = PowerLawSpectralModel(index=index, amplitude="1e-11 cm-2 s-1 TeV-1",
                                  reference="1 TeV")
    model.index.frozen = True
    return model


def light_curve(datasets: Datasets, bins: list[TimeBin], index: float, source: str,
                threshold: u.Quantity, e_max: u.Quantity) -> Table:
    """One row per time bin: time (MJD, TT) and its edges, integral flux above `threshold`
    with 1-sigma error, 2-sigma limit where TS < 4, significance, livetime, obs ids."""
    datasets = restrict_energy(datasets, threshold, e_max)
    datasets.models = [SkyModel(spectral_model=shape(index), name=source)]
    edges = u.Quantity([threshold, e_max]).to(u.TeV)
    intervals = [[b.start.tt, b.stop.tt] for b in bins]
    common = dict(energy_edges=edges, source=source, reoptimize=False,
                  stack_over_time_interval=True)
    estimate = LightCurveEstimator(time_intervals=intervals, selection_optional=[], **common)
    points = estimate.run(datasets).to_table(sed_type="flux", format="lightcurve")
    rows = _rows(points, bins)
    limits = [i for i, row in enumerate(rows) if not row["ts"] >= TS_UL]
    if limits:
        estimate = LightCurveEstimator(time_intervals=[intervals[i] for i in limits],
                                       selection_optional=["ul"], n_sigma_ul=N_SIGMA_UL,
                                       **common)
        uls = _rows(estimate.run(datasets).to_table(sed_type="flux", format="lightcurve"),
                    [bins[i] for i in limits])
        for i, row in zip(limits, uls, strict=True):
            rows[i]["flux_ul"] = row["flux_ul"]
    return _table(rows, datasets)


def _rows(points: Table, bins: list[TimeBin]) -> list[dict]:
    """The estimator's rows matched to the bins by start time (bins without data drop out)."""
    starts = np.array([b.start.tt.mjd for b in bins])
    rows = []
    for point in points:
        k = int(np.argmin(np.abs(starts - float(point["time_min"]))))
        flux_ul = point["flux_ul"] if "flux_ul" in points.colnames else np.nan
        rows.append({"bin": bins[k], "flux": float(np.ravel(point["flux"])[0]),
                     "flux_err": float(np.ravel(point["flux_err"])[0]),
                     "flux_ul": float(np.ravel(flux_ul)[0]),
                     "ts": float(np.ravel(point["ts"])[0]),
                     "sqrt_ts": float(np.ravel(point["sqrt_ts"])[0])})
    return rows


def _table(rows: list[dict], datasets: Datasets) -> Table:
    livetime = {d.name: d.exposure.meta.get("livetime", 0 * u.s).to_value(u.s) for d in datasets}
    start = np.array([r["bin"].start.tt.mjd for r in rows])
    stop = np.array([r["bin"].stop.tt.mjd for r in rows])
    table = Table()
    table["time"] = (start + stop) / 2 * u.d
    table["time_min"] = start * u.d
    table["time_max"] = stop * u.d
    unit = u.Unit("cm-2 s-1")
    table["flux"] = [r["flux"] for r in rows] * unit
    table["flux_err"] = [r["flux_err"] for r in rows] * unit
    table["flux_ul"] = [r["flux_ul"] for r in rows] * unit
    table["is_ul"] = [not r["ts"] >= TS_UL for r in rows]
    table["significance"] = [r["sqrt_ts"] for r in rows]
    table["ts"] = [r["ts"] for r in rows]
    table["livetime"] = [sum(livetime.get(str(i), 0.0) for i in r["bin"].obs_ids)
                         for r in rows] * u.s
    table["obs_id"] = [" ".join(str(i) for i in r["bin"].obs_ids) for r in rows]
    table.meta.update({"time_format": "mjd", "time_scale": "tt",
                       "flux": "integral photon flux from the threshold to the top energy",
                       "upper_limits": f"flux_ul at {N_SIGMA_UL} sigma where TS < {TS_UL:g}"})
    return table
