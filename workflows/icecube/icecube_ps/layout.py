"""File names and headers of IceCube's 10-year point-source release (arXiv:2101.09836).

Kept in one place so that the synthetic generator writes exactly what the readers expect
and what the real `20210126_PS-IC40-IC86_VII.zip` holds.
"""

from __future__ import annotations

SEASONS_10YEAR: tuple[str, ...] = (
    "IC40", "IC59", "IC79", "IC86_I", "IC86_II",
    "IC86_III", "IC86_IV", "IC86_V", "IC86_VI", "IC86_VII",
)

EVENTS_HEADER = (
    "MJD[days] log10(E/GeV) AngErr[deg] RA[deg] Dec[deg] Azimuth[deg] Zenith[deg]"
)
UPTIME_HEADER = "MJD_start[days] MJD_stop[days]"
AEFF_HEADER = (
    "log10(E_nu/GeV)_min log10(E_nu/GeV)_max Dec_nu_min[deg] Dec_nu_max[deg] A_Eff[cm^2]"
)
SMEARING_HEADER = (
    "log10(E_nu/GeV)_min log10(E_nu/GeV)_max Dec_nu_min[deg] Dec_nu_max[deg] "
    "log10(E/GeV)_min log10(E/GeV)_max PSF_min[deg] PSF_max[deg] "
    "AngErr_min[deg] AngErr_max[deg] Fractional_Counts"
)

THREE_YEAR_SEASONS: tuple[str, ...] = ("IC79-2010", "IC86-2011", "IC86-2012")


def irf_season(season: str) -> str:
    """IC86_III–VII were released without their own irfs: they reuse IC86_II's."""
    return "IC86_II" if season.startswith("IC86_") and season not in ("IC86_I",) else season


def events_path(season: str) -> str:
    return f"events/{season}_exp.csv"


def uptime_path(season: str) -> str:
    return f"uptime/{season}_exp.csv"


def aeff_path(season: str) -> str:
    return f"irfs/{irf_season(season)}_effectiveArea.csv"


def smearing_path(season: str) -> str:
    return f"irfs/{irf_season(season)}_smearing.csv"
