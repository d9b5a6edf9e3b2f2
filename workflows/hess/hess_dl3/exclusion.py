"""Where background must not be measured: known VHE sources in the field.

Reflected background regions that overlap a gamma-ray source count its photons as background
and bias the excess low. The bundled table lists the TeV sources in the DR1 fields (positions
from TeVCat / the HGPS, see its meta); a synthetic release adds the sources it injected
(`truth.yaml`), which only the generator knows.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord
from astropy.table import Table
from gammapy.maps import WcsGeom, WcsNDMap
from regions import CircleSkyRegion

KNOWN_SOURCES = Path(__file__).with_name("known_sources.ecsv")

#: Margin around a source's published size: the PSF's 68% radius (~0.1 deg) and some more.
MARGIN = 0.3 * u.deg
#: Mask pixel size: fine against on-region radii of 0.05-0.5 deg.
BINSZ = 0.02


@lru_cache(maxsize=1)
def known_sources() -> Table:
    """The bundled table of known sources (name, ra, dec, extension, radius, field)."""
    return Table.read(KNOWN_SOURCES, format="ascii.ecsv")


def _truth_regions(release: Path) -> list[CircleSkyRegion]:
    """Injected sources of a synthetic release: position and size from its truth models."""
    truth = release / "truth.yaml"
    if not truth.is_file():
        return []
    from gammapy.modeling.models import Models

    regions = []
    for model in Models.read(truth):
        spatial = getattr(model, "spatial_model", None)
        if spatial is None:
            continue
        size = 0.0 * u.deg
        for name in ("sigma", "r_0", "radius"):
            if name in spatial.parameters.names:
                size = max(size, spatial.parameters[name].quantity.to(u.deg))
        regions.append(CircleSkyRegion(spatial.position.icrs, max(size + MARGIN, MARGIN)))
    return regions


def exclusion_regions(release: str | Path) -> list[CircleSkyRegion]:
    """Every region to keep out of background estimates for this release."""
    table = known_sources()
    centres = SkyCoord(table["ra"].quantity, table["dec"].quantity, frame="icrs")
    regions = [CircleSkyRegion(c, r) for c, r in zip(centres, table["radius"].quantity,
                                                     strict=True)]
    return regions + _truth_regions(Path(release))


def exclusion_mask(regions: list[CircleSkyRegion], centre: SkyCoord,
                   width: u.Quantity) -> WcsNDMap:
    """A boolean map around `centre` (True where background may be taken)."""
    npix = int(np.ceil((width.to_value(u.deg)) / BINSZ))
    geom = WcsGeom.create(skydir=centre.icrs, npix=(npix, npix), binsz=BINSZ, frame="icrs",
                          proj="TAN")
    reach = width.to_value(u.deg) * np.sqrt(0.5)  # the mask's half diagonal
    near = [r for r in regions
            if r.center.separation(centre).deg < reach + r.radius.to_value(u.deg)]
    if not near:
        return WcsNDMap.from_geom(geom, data=np.ones(geom.data_shape, bool))
    return ~geom.region_mask(near)
