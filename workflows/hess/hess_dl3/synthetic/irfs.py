"""H.E.S.S.-like instrument response of one observation, from its zenith angle.

Built on gammapy's IRF classes: the effective area is gammapy's H.E.S.S. parametrisation
(`EffectiveAreaTable2D.from_parametrization`, Abramowski et al. 2010) with the energy scale
stretched by zenith (the Cherenkov pool is fainter and larger at low elevation, so the
threshold rises as cos(z)^-2.5 and the collection area grows as 1/cos z) and a radial
acceptance that falls toward the camera edge (FoV ~5°; shape fitted by eye to DR1's runs:
0.95 at 1°, 0.75 at 1.5°, 0.4 at 2°, 0.1 at 2.5° near 1 TeV). The energy dispersion is a
Gaussian in migration that widens near threshold and off axis; the PSF a 2-D Gaussian whose
68% radius is ~0.1° near 1 TeV on axis, wider at low energy and far off axis; the background a
cosmic-ray power law (index 2.7) seen through the same acceptance, normalised to DR1's
order of magnitude (~3000 events per 0.5 h run at 20° within the 5° field).
"""

from __future__ import annotations

import astropy.units as u
import numpy as np
from astropy.coordinates import Angle
from gammapy.irf import PSF3D, Background2D, EffectiveAreaTable2D, EnergyDispersion2D
from gammapy.maps import MapAxis
from scipy.special import erf

#: Threshold energies scale as cos(zenith)^-ZENITH_INDEX (DR1: 0.2 TeV at 17°, 0.9 TeV at 48°).
ZENITH_INDEX = 2.5
#: Radial acceptance exp(-0.5 (offset / width)^4), width = ACCEPTANCE_WIDTH (E / TeV)^0.08.
ACCEPTANCE_WIDTH = 1.72 * u.deg
#: Gaussian PSF sigma on axis at 1 TeV (68% containment = 1.51 sigma ~ 0.1°).
PSF_SIGMA_1TEV = 0.065 * u.deg
#: Background: dN/dE dOmega dt at 1 TeV on axis at zenith, and its spectral index.
BKG_NORM = 1.1e-4 / (u.MeV * u.s * u.sr)
BKG_INDEX = 2.7
BKG_ZENITH_INDEX = 1.0
#: Zenith at which the parametrised H.E.S.S. area holds as published.
REFERENCE_ZENITH = 20 * u.deg

ENERGY_TRUE = MapAxis.from_energy_bounds(0.05, 150, nbin=9, per_decade=True, unit="TeV",
                                         name="energy_true")
ENERGY_RECO = MapAxis.from_energy_bounds(0.05, 150, nbin=9, per_decade=True, unit="TeV",
                                         name="energy")
OFFSET = MapAxis.from_edges(np.linspace(0, 3.0, 13) * u.deg, name="offset")
MIGRA = MapAxis.from_edges(np.linspace(0.2, 3.0, 141), name="migra")
RAD = MapAxis.from_edges(np.linspace(0, 0.8, 81) * u.deg, name="rad")


def energy_scale(zenith: Angle) -> float:
    """Factor by which energies of the response shift up at `zenith` relative to the reference."""
    return float((np.cos(zenith) / np.cos(REFERENCE_ZENITH)) ** -ZENITH_INDEX)


def radial_acceptance(offset: u.Quantity, energy: u.Quantity) -> np.ndarray:
    """Fraction of the on-axis response kept at `offset` (falls to ~0 by 3° at 1 TeV)."""
    width = ACCEPTANCE_WIDTH * (energy / u.TeV).to_value("") ** 0.08
    return np.exp(-0.5 * (offset / width).to_value("") ** 4)


def effective_area(zenith: Angle) -> EffectiveAreaTable2D:
    """gammapy's H.E.S.S. area at the zenith's energy scale, times the radial acceptance."""
    scale = energy_scale(zenith)
    shifted = MapAxis.from_edges(ENERGY_TRUE.edges / scale, name="energy_true", interp="log")
    on_axis = EffectiveAreaTable2D.from_parametrization(shifted, instrument="HESS")
    area = on_axis.data[:, 0] * (np.cos(REFERENCE_ZENITH) / np.cos(zenith)).value
    energy = ENERGY_TRUE.center[:, np.newaxis]
    data = area[:, np.newaxis] * radial_acceptance(OFFSET.center[np.newaxis, :], energy)
    return EffectiveAreaTable2D(axes=[ENERGY_TRUE, OFFSET], data=data, unit=on_axis.unit,
                                meta=_meta())


def resolution(energy_true: u.Quantity, offset: u.Quantity, zenith: Angle) -> np.ndarray:
    """Relative energy resolution: ~10% well above threshold, ~25% at it, worse off axis."""
    x = (energy_true / u.TeV).to_value("") / energy_scale(zenith)
    return 0.10 + 0.15 / (1 + x / 0.4) + 0.02 * (offset / u.deg).to_value("") ** 2


def energy_dispersion(zenith: Angle) -> EnergyDispersion2D:
    """Gaussian migration (slight positive bias at threshold, as reconstructed spectra show)."""
    energy = ENERGY_TRUE.center[:, np.newaxis, np.newaxis]
    offset = OFFSET.center[np.newaxis, np.newaxis, :]
    sigma = resolution(energy, offset, zenith)
    x = (energy / u.TeV).to_value("") / energy_scale(zenith)
    bias = 0.05 / (1 + x / 0.3)
    edges = MIGRA.edges[np.newaxis, :, np.newaxis]
    cdf = erf((edges - 1 - bias) / (np.sqrt(2) * sigma)) / 2
    data = np.diff(cdf, axis=1) / MIGRA.bin_width[np.newaxis, :, np.newaxis]
    data[data < 1e-6] = 0
    return EnergyDispersion2D(axes=[ENERGY_TRUE, MIGRA, OFFSET], data=data, meta=_meta())


def psf_sigma(energy_true: u.Quantity, offset: u.Quantity, zenith: Angle) -> u.Quantity:
    """Gaussian width: narrower with energy (more telescopes, brighter images), wider off axis
    and at low elevation (smaller images)."""
    x = (energy_true / u.TeV).to_value("")
    return (PSF_SIGMA_1TEV * (0.75 + 0.25 * x ** -0.4)
            * (1 + 0.12 * (offset / u.deg).to_value("") ** 2) * (1 / np.cos(zenith)) ** 0.3)


def point_spread_function(zenith: Angle) -> PSF3D:
    energy = ENERGY_TRUE.center[:, np.newaxis, np.newaxis]
    offset = OFFSET.center[np.newaxis, :, np.newaxis]
    sigma = psf_sigma(energy, offset, zenith).to_value("rad")
    rad = RAD.center[np.newaxis, np.newaxis, :].to_value("rad")
    data = np.exp(-0.5 * (rad / sigma) ** 2) / (2 * np.pi * sigma ** 2)
    return PSF3D(axes=[ENERGY_TRUE, OFFSET, RAD], data=data, unit="sr-1", meta=_meta())


def background(zenith: Angle) -> Background2D:
    """Residual cosmic rays after gamma/hadron cuts: a power law through the gamma acceptance
    (same threshold and radial fall-off), relative to the on-axis area at high energy."""
    aeff = effective_area(zenith)
    plateau = aeff.data[-1, 0]
    energy = ENERGY_RECO.center[:, np.newaxis]
    shape = aeff.evaluate(energy_true=energy, offset=OFFSET.center[np.newaxis, :])
    # At low elevation showers of a given energy look fainter, so the reconstructed energies
    # of the same cosmic rays shift down by part of the threshold's shift: the rate above
    # threshold halves from 20° to 50° (DR1: ~11000 events per run at 20-35°, ~7000 at 48°).
    norm = BKG_NORM * energy_scale(zenith) ** BKG_ZENITH_INDEX
    data = norm * (energy / u.TeV).to_value("") ** -BKG_INDEX * (shape.value / plateau)
    return Background2D(axes=[ENERGY_RECO, OFFSET], data=data.value, unit=data.unit,
                        meta=_meta())


def make_irfs(zenith: Angle) -> dict:
    """The four responses of an observation at `zenith` (keys as `Observation.create` takes)."""
    zenith = Angle(zenith)
    return {"aeff": effective_area(zenith), "edisp": energy_dispersion(zenith),
            "psf": point_spread_function(zenith), "bkg": background(zenith)}


def _meta() -> dict:
    return {"TELESCOP": "HESS", "INSTRUME": "H.E.S.S. Phase I (synthetic)"}
