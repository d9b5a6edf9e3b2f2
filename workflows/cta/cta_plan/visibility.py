"""Whether a position can be observed from a CTAO site at the requested zenith angle.

A source culminates at zenith angle |Dec - latitude|: that is the smallest zenith it ever
reaches, so a request for zenith Z is possible only when |Dec - latitude| <= Z.
"""

from __future__ import annotations

import astropy.units as u
from astropy.coordinates import EarthLocation

from .errors import AnalysisError
from .irfs import check_site

# gammapy's observatory_locations names both arrays' sites (La Palma, Paranal).
LOCATION_KEYS = {"North": "ctao_north", "South": "ctao_south"}
MAX_ZENITH_DEG = 70.0


def location(site: str) -> EarthLocation:
    from gammapy.utils.observers import observatory_locations

    return observatory_locations[LOCATION_KEYS[check_site(site)]]


def culmination_zenith(dec_deg: float, site: str) -> float:
    """The smallest zenith angle (deg) the declination reaches from `site`."""
    return abs(dec_deg - location(site).lat.to_value(u.deg))


def check(src_name: str, dec_deg: float, site: str, zenith_deg: float) -> float:
    """Refuse a position that never rises to `zenith_deg`; return its culmination zenith."""
    if not 0 <= zenith_deg <= MAX_ZENITH_DEG:
        raise AnalysisError(f"zenith {zenith_deg:g} deg is outside 0-{MAX_ZENITH_DEG:g} deg")
    if not -90 <= dec_deg <= 90:
        raise AnalysisError(f"DEC {dec_deg:g} deg is not a declination (-90 to 90)")
    best = culmination_zenith(dec_deg, site)
    if best > zenith_deg:
        lat = location(site).lat.to_value(u.deg)
        raise AnalysisError(
            f"{src_name or 'the position'} (Dec {dec_deg:+.2f} deg) never reaches zenith "
            f"{zenith_deg:g} deg from CTAO-{site} (latitude {lat:+.2f} deg): it culminates at "
            f"zenith {best:.1f} deg. Choose a larger zenith angle or the other site.")
    return best
