"""When and where the synthetic telescopes point: wobble runs at chosen zenith angles.

Each field is observed in wobble mode (the target offset by 0.5°, 0.7° or 1.0° in turn to
the N, E, S, W) over consecutive nights around the date it culminates at local midnight in the
2004/05 season, alternately rising and setting so that the zenith angles spread from the
lowest the target reaches at the H.E.S.S. site up to ~50-60°. The time of each run is solved
from the hour angle that gives its zenith; alt/az are then computed with astropy.
"""

from __future__ import annotations

from dataclasses import dataclass

import astropy.units as u
import numpy as np
from astropy.coordinates import AltAz, Angle, EarthLocation, SkyCoord
from astropy.time import Time
from astropy.utils import iers

from .sky import Field

#: The H.E.S.S. site (as in DR1's obs-index header: GEOLON, GEOLAT, ALTITUDE).
HESS_LOCATION = EarthLocation.from_geodetic(lon=16.5002222222222 * u.deg,
                                            lat=-23.2717777777778 * u.deg, height=1835 * u.m)
#: DR1's time reference (MJDREFI + MJDREFF, TT): times in the files are seconds after it.
MJDREFI = 51910
MJDREFF = 0.000742870370370241
REFERENCE_TIME = Time(MJDREFI + MJDREFF, format="mjd", scale="tt")
#: Dead time as DR1's runs have it (DEADC ~ 0.94).
DEADTIME_FRACTION = 0.06
WOBBLE_OFFSETS = (0.5, 0.7, 1.0) * u.deg
WOBBLE_ANGLES = (0, 90, 180, 270) * u.deg  # N, E, S, W
SEASON_START = Time("2004-07-01T00:00:00", scale="utc")
FIRST_OBS_ID = 100001


@dataclass(frozen=True)
class PlannedObservation:
    obs_id: int
    field: Field
    run_index: int  # position of this run in its field's sequence
    n_runs: int
    pointing: SkyCoord
    tstart: Time
    ontime: u.Quantity
    livetime: u.Quantity

    @property
    def tstop(self) -> Time:
        return self.tstart + self.ontime

    @property
    def tmid(self) -> Time:
        return self.tstart + self.ontime / 2

    @property
    def altaz(self) -> SkyCoord:
        """The pointing in the sky of the site at mid-run."""
        with iers.conf.set_temp("auto_download", False):
            frame = AltAz(obstime=self.tmid, location=HESS_LOCATION)
            return self.pointing.transform_to(frame)

    @property
    def zenith(self) -> Angle:
        return Angle(90 * u.deg - self.altaz.alt)


def minimum_zenith(dec: Angle) -> Angle:
    """The zenith angle at culmination seen from the H.E.S.S. site."""
    return Angle(abs(dec - HESS_LOCATION.lat))


def planned_zeniths(target: SkyCoord, n_runs: int) -> Angle:
    """Zenith angles spread from just above the lowest reachable (or 20°) to 50° (or 12° more)."""
    lowest = minimum_zenith(target.dec).deg + 2
    low = max(20.0, lowest)
    high = max(50.0, low + 12.0)
    return Angle(np.linspace(low, high, n_runs) if n_runs > 1 else [low], u.deg)


def hour_angle(target: SkyCoord, zenith: Angle) -> Angle:
    """|H| at which `target` is at `zenith` (spherical astronomy, from the site's latitude)."""
    lat = HESS_LOCATION.lat
    cos_h = ((np.cos(zenith) - np.sin(lat) * np.sin(target.dec))
             / (np.cos(lat) * np.cos(target.dec)))
    return Angle(np.arccos(np.clip(cos_h, -1, 1)), u.rad).to(u.deg)


def _local_midnights(n_days: int) -> Time:
    # local solar midnight at the site's longitude (UTC 00:00 minus lon / 15 h)
    days = SEASON_START + np.arange(n_days) * u.day
    return days - (HESS_LOCATION.lon.deg / 15.0) * u.h


def culmination_night(target: SkyCoord) -> Time:
    """The local midnight of the 2004/05 season at which `target` crosses the meridian."""
    midnights = _local_midnights(366)
    with iers.conf.set_temp("auto_download", False):
        lst = midnights.sidereal_time("mean", longitude=HESS_LOCATION.lon)
    gap = Angle(lst - target.ra).wrap_at(180 * u.deg)
    return midnights[int(np.argmin(np.abs(gap.deg)))]


def time_at_hour_angle(target: SkyCoord, hour_angle_: Angle, near: Time) -> Time:
    """The time within half a sidereal day of `near` when `target` is at `hour_angle_`."""
    with iers.conf.set_temp("auto_download", False):
        lst = near.sidereal_time("mean", longitude=HESS_LOCATION.lon)
    delta = Angle(target.ra + hour_angle_ - lst).wrap_at(180 * u.deg)
    return near + (delta.deg / 15.0) * u.h * (1 / 1.00273790935)


def plan_field(field: Field, n_runs: int, livetime: u.Quantity,
               first_obs_id: int) -> list[PlannedObservation]:
    """`n_runs` wobble runs on `field`, two a night (one rising, one setting)."""
    zeniths = planned_zeniths(field.position, n_runs)
    midnight = culmination_night(field.position)
    ontime = (livetime / (1 - DEADTIME_FRACTION)).to(u.s)
    plans = []
    for k in range(n_runs):
        side = -1 if k % 2 == 0 else 1  # rising before midnight, setting after
        night = midnight + (k // 2) * u.day
        # the hour angle of mid-run; the run starts half a run earlier
        start = time_at_hour_angle(field.position, side * hour_angle(field.position, zeniths[k]),
                                   night) - ontime / 2
        pointing = field.position.directional_offset_by(
            WOBBLE_ANGLES[k % len(WOBBLE_ANGLES)], WOBBLE_OFFSETS[k % len(WOBBLE_OFFSETS)])
        start = Time(np.round(start.tt.mjd * 86400) / 86400, format="mjd", scale="tt")
        plans.append(PlannedObservation(first_obs_id + k, field, k, n_runs,
                                        SkyCoord(pointing.ra, pointing.dec, frame="icrs"),
                                        start, ontime, livetime.to(u.s)))
    return plans
