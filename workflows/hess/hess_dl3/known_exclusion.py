"""Known TeV emitters in the fields of H.E.S.S. DL3 DR1, kept out of background normalisation.

A background estimate that counts source photons as background underestimates the excess
(FoV: the norm rises; ring: the off counts rise). Sky maps therefore exclude every known
emitter in the field plus the requested target. The list covers the DR1 fields (and the
synthetic release, whose sources sit at the same places); radii enclose the emission
seen by H.E.S.S. with the PSF (~0.1 deg) around it.
"""

from __future__ import annotations

from dataclasses import dataclass

import astropy.units as u
from astropy.coordinates import SkyCoord
from regions import CircleSkyRegion


@dataclass(frozen=True)
class KnownSource:
    name: str
    ra: float  # deg, ICRS
    dec: float  # deg, ICRS
    radius: float  # deg, the excluded circle

    @property
    def position(self) -> SkyCoord:
        return SkyCoord(self.ra * u.deg, self.dec * u.deg, frame="icrs")

    @property
    def region(self) -> CircleSkyRegion:
        return CircleSkyRegion(self.position, self.radius * u.deg)


#: TeV sources in (or at the edge of) the DR1 fields; positions from the TeVCat/HGPS entries.
KNOWN_SOURCES: tuple[KnownSource, ...] = (
    KnownSource("Crab Nebula", 83.6331, 22.0145, 0.3),
    KnownSource("PKS 2155-304", 329.7169, -30.2256, 0.3),
    # MSH 15-52 (HESS J1514-591) is extended (~0.1-0.2 deg); the synthetic extended source at
    # (228.5, -59.2) with sigma 0.2 deg is inside the same circle.
    KnownSource("MSH 15-52", 228.53, -59.17, 0.6),
    KnownSource("RX J1713.7-3946", 258.36, -39.77, 0.8),
    KnownSource("HESS J1713-381 (CTB 37B)", 258.48, -38.17, 0.2),
    KnownSource("HESS J1714-385 (CTB 37A)", 258.64, -38.55, 0.2),
    KnownSource("HESS J1708-410", 257.10, -41.09, 0.3),
    KnownSource("SN 1006", 225.71, -41.91, 0.35),
    KnownSource("Cen A", 201.365, -43.019, 0.2),
)


def sources_near(center: SkyCoord, radius: u.Quantity) -> list[KnownSource]:
    """The known sources whose excluded circle reaches within `radius` of `center`."""
    return [s for s in KNOWN_SOURCES
            if s.position.separation(center.icrs) < radius + s.radius * u.deg]


def exclusion_regions(center: SkyCoord, radius: u.Quantity, target: SkyCoord,
                      target_radius: u.Quantity) -> list[CircleSkyRegion]:
    """Circles to exclude in a map of half-diagonal `radius`: known sources and the target."""
    regions = [s.region for s in sources_near(center, radius)]
    regions.append(CircleSkyRegion(target.icrs, target_radius))
    return regions
