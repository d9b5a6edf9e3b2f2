"""Which observations answer a request: those pointed near the position, inside the time range.

The obs index is read once per release (gammapy's DataStore); selection is numpy on its
columns. An empty selection is an AnalysisError that says what the release holds, so a user
who asked for the wrong place or time learns where and when the data are.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord
from astropy.table import Table
from astropy.time import Time
from gammapy.data import DataStore, Observations

from .errors import AnalysisError

#: Pointings farther than this from the target see it at the camera's edge (H.E.S.S. FoV ~5°).
DEFAULT_MAX_OFFSET = 2.0 * u.deg


@lru_cache(maxsize=4)
def open_release(path: str | Path) -> DataStore:
    """The release's DataStore (hdu-index and obs-index), kept for the life of the process."""
    path = Path(path)
    if not (path / "obs-index.fits.gz").is_file() and not (path / "obs-index.fits").is_file():
        raise AnalysisError(f"{path} holds no DL3 release (no obs-index.fits.gz); "
                            "run `astroflow data fetch hess`")
    return DataStore.from_dir(path)


def observation_times(table: Table) -> tuple[Time, Time]:
    """Start and stop of each observation from the obs index (TSTART/TSTOP after MJDREF)."""
    meta = table.meta
    reference = Time(float(meta.get("MJDREFI", 0)) + float(meta.get("MJDREFF", 0.0)),
                     format="mjd", scale=str(meta.get("TIMESYS", "tt")).lower())
    start = reference + np.asarray(table["TSTART"], float) * u.s
    stop = reference + np.asarray(table["TSTOP"], float) * u.s
    return start, stop


def pointings(table: Table) -> SkyCoord:
    return SkyCoord(np.asarray(table["RA_PNT"], float) * u.deg,
                    np.asarray(table["DEC_PNT"], float) * u.deg, frame="icrs")


@dataclass(frozen=True)
class Selection:
    """The observations chosen for a request, in time order."""

    data_store: DataStore
    table: Table  # the selected rows of the obs index
    position: SkyCoord

    @property
    def obs_ids(self) -> list[int]:
        return [int(i) for i in self.table["OBS_ID"]]

    @property
    def livetime(self) -> u.Quantity:
        return u.Quantity(np.sum(self.table["LIVETIME"]), u.s).to(u.h)

    def observations(self) -> Observations:
        return self.data_store.get_observations(self.obs_ids, required_irf="point-like"
                                                if self._point_like() else "full-enclosure")

    def _point_like(self) -> bool:
        hdu = self.data_store.hdu_table
        return "psf" not in {str(t).strip() for t in hdu["HDU_TYPE"]}


def describe_release(table: Table) -> str:
    """One sentence on what a release holds: span, and observations per target."""
    start, stop = observation_times(table)
    column = "OBJECT" if "OBJECT" in table.colnames else None
    targets = Counter(str(o).strip() or "unnamed" for o in table[column]) if column else {}
    listing = ", ".join(f"{name} ({n})" for name, n in sorted(targets.items(),
                                                                key=lambda kv: -kv[1]))
    return (f"{len(table)} observations from {start.min().iso[:10]} to {stop.max().iso[:10]}"
            + (f": {listing}" if listing else ""))


def time_range(t1: str, t2: str) -> tuple[Time, Time]:
    """The request's T1, T2 (ISO, UTC) as times; an AnalysisError naming them when they do
    not parse or are not in order."""
    try:
        start, stop = Time(t1, scale="utc"), Time(t2, scale="utc")
    except ValueError as exc:
        raise AnalysisError(f"T1/T2 must be ISO times (got {t1!r}, {t2!r}): {exc}") from exc
    if not start < stop:
        raise AnalysisError(f"T1 ({t1}) must be before T2 ({t2})")
    return start, stop


def select_observations(release: str | Path, position: SkyCoord, *,
                        max_offset: u.Quantity = DEFAULT_MAX_OFFSET,
                        t1: Time | None = None, t2: Time | None = None,
                        max_observations: int | None = None) -> Selection:
    """Observations pointed within `max_offset` of `position` that overlap [t1, t2].

    With `max_observations`, the ones pointed closest to the position are kept (then sorted
    by time), so a cap loses the least exposure.
    """
    if t1 is not None and t2 is not None and not t1 < t2:
        raise AnalysisError(f"T1 ({t1.isot}) must be before T2 ({t2.isot})")
    store = open_release(release)
    table = store.obs_table
    separation = pointings(table).separation(position.icrs)
    start, stop = observation_times(table)
    keep = separation <= max_offset
    if t1 is not None:
        keep &= stop > t1
    if t2 is not None:
        keep &= start < t2
    if not keep.any():
        nearest = int(np.argmin(separation))
        raise AnalysisError(
            f"no observation pointed within {max_offset.to_value(u.deg):g} deg of "
            f"RA {position.icrs.ra.deg:.3f}, Dec {position.icrs.dec.deg:.3f}"
            + (f" between {t1.isot[:19]} and {t2.isot[:19]}" if t1 is not None
               and t2 is not None else "")
            + f". The release holds {describe_release(table)}; the nearest pointing is "
            f"{separation[nearest].deg:.1f} deg away (observation {int(table['OBS_ID'][nearest])}"
            f", {start[nearest].iso[:10]}).")
    index = np.flatnonzero(keep)
    if max_observations is not None and len(index) > max_observations:
        index = index[np.argsort(separation[index].deg, kind="stable")[:max_observations]]
    index = index[np.argsort(start[index].mjd, kind="stable")]
    return Selection(store, table[index], position.icrs)
