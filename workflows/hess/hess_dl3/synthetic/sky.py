"""The injected sky: three sources with known spectra and two empty extragalactic fields.

Magnitudes follow the real objects roughly (Crab: H.E.S.S. 2006 power law; PKS 2155-304 ~1/5
Crab at 1 TeV with a steep spectrum and a flare; MSH 15-52-like Gaussian at 1/10 Crab), so an
analysis of the synthetic release looks like one of DR1.
"""

from __future__ import annotations

from dataclasses import dataclass

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord
from gammapy.modeling.models import (
    GaussianSpatialModel,
    PointSpatialModel,
    PowerLawSpectralModel,
    SkyModel,
)

CRAB_AMPLITUDE = 3.5e-11 * u.Unit("cm-2 s-1 TeV-1")


@dataclass(frozen=True)
class Field:
    """A target of observations: its name in the obs index and the sources it holds."""

    name: str  # key in `sources=` of generate_release
    object_name: str  # OBJECT in the obs index, as DR1 names its targets
    position: SkyCoord
    variable: bool = False


FIELDS: dict[str, tuple[Field, ...]] = {
    "crab": (Field("crab", "Crab Nebula", SkyCoord(83.633, 22.0145, unit="deg")),),
    "pks2155": (Field("pks2155", "PKS 2155-304", SkyCoord(329.717, -30.2256, unit="deg"),
                      variable=True),),
    "extended": (Field("extended", "MSH 15-52 (synthetic)",
                       SkyCoord(228.5, -59.2, unit="deg")),),
    # background only, far from the Galactic plane and from known TeV sources
    "empty": (Field("empty", "Empty field 1", SkyCoord(10.0, -25.0, unit="deg")),
              Field("empty", "Empty field 2", SkyCoord(60.0, -35.0, unit="deg"))),
}
SOURCE_NAMES = ("crab", "pks2155", "extended")


def sky_model(name: str) -> SkyModel:
    """The true model of source `name` (its steady, quiescent state for a variable one)."""
    if name == "crab":
        spatial = PointSpatialModel(lon_0=83.633 * u.deg, lat_0=22.0145 * u.deg, frame="icrs")
        spectral = PowerLawSpectralModel(index=2.6, amplitude=CRAB_AMPLITUDE,
                                         reference=1 * u.TeV)
    elif name == "pks2155":
        spatial = PointSpatialModel(lon_0=329.717 * u.deg, lat_0=-30.2256 * u.deg,
                                    frame="icrs")
        spectral = PowerLawSpectralModel(index=3.4, amplitude=CRAB_AMPLITUDE / 5,
                                         reference=1 * u.TeV)
    elif name == "extended":
        spatial = GaussianSpatialModel(lon_0=228.5 * u.deg, lat_0=-59.2 * u.deg,
                                       sigma=0.2 * u.deg, frame="icrs")
        spectral = PowerLawSpectralModel(index=2.3, amplitude=CRAB_AMPLITUDE / 10,
                                         reference=1 * u.TeV)
    else:
        raise ValueError(f"no source named {name!r}; the sources are {', '.join(SOURCE_NAMES)}")
    return SkyModel(spatial_model=spatial, spectral_model=spectral, name=name)


def flare_factor(run_index: np.ndarray | int, n_runs: int) -> np.ndarray:
    """Flux of a variable source in its `run_index`-th observation relative to quiescence:
    a flare peaking at 4x in the middle run of the sequence, about two runs wide."""
    peak = (n_runs - 1) / 2
    return 1.0 + 3.0 * np.exp(-0.5 * ((np.asarray(run_index) - peak) / 1.0) ** 2)


def integral_flux_above(model: SkyModel, energy: u.Quantity = 1 * u.TeV) -> u.Quantity:
    """True integral flux above `energy` (to 1000 TeV) of a sky model."""
    return model.spectral_model.integral(energy, 1000 * u.TeV).to("cm-2 s-1")
