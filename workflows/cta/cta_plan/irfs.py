"""Instrument response functions: the public CTAO prod5 files, or a parametrisation offline.

prod5 (Zenodo record 5499840, v0.1, 20 deg zenith, average azimuth, 50 h = 180000 s cuts):
the Alpha-configuration files North 4LSTs09MSTs and South 14MSTs37SSTs, read with
``gammapy.irf.load_irf_dict_from_file``. Their field-of-view background (``Background3D``,
RADEC-aligned) is used as its radial profile (``Background3D.to_2d``: the values along the
positive fov_lon axis), so a single on-region needs no field rotation.

Parametrised (no file on disk):

* effective area: ``EffectiveAreaTable2D.from_parametrization(instrument="CTAO")``, gammapy's
  formula from Abramowski et al. 2010 (MNRAS 402, 1342) with the CTA parameters;
* energy dispersion: ``EnergyDispersion2D.from_gauss``, no bias, relative width
  ``sigma = 0.0757 - 0.0598 x + 0.0337 x**2`` (x = log10 E/TeV, clipped to 0.05-0.35): a
  quadratic fitted to the half 16-84% width of prod5 South's migration at 0.5 deg offset,
  0.03-150 TeV (|residual| <= 0.035, 0.07 at 30 GeV);
* PSF: one Gaussian (``EnergyDependentMultiGaussPSF`` with one component) whose 68% radius is
  ``log10(r68/deg) = -1.2377 - 0.2997 x + 0.0670 x**2 - 0.0112 x**3``, fitted to prod5
  South's 68% containment at 0.5 deg offset, 0.03-150 TeV (within 8%);
* background: gammapy has no background parametrisation. A log-parabola in energy,
  ``log10(R / (MeV-1 s-1 sr-1)) = -4.0176 - 2.5776 x + 0.3355 x**2``, fitted to prod5
  South's background rate at 0.5 deg offset for 0.1-150 TeV (within ~20% in 13 of 15 bins;
  +114% and -38% in two), flat in offset to 5 deg.

All four describe 20 deg zenith; the parametrisation is the same for both sites (the South
fit): the product says so. ``bench/cta_sensitivity.py --fit`` recomputes these numbers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import astropy.units as u
import numpy as np

from .errors import AnalysisError

SITES = ("North", "South")
PROD5_FILES = {
    "North": "Prod5-North-20deg-AverageAz-4LSTs09MSTs.180000s-v0.1.fits.gz",
    "South": "Prod5-South-20deg-AverageAz-14MSTs37SSTs.180000s-v0.1.fits.gz",
}
PROD5_LABELS = {
    "North": "prod5 v0.1 North 20deg 4LSTs09MSTs 180000s",
    "South": "prod5 v0.1 South 20deg 14MSTs37SSTs 180000s",
}
IRF_ZENITH_DEG = 20.0
PARAMETRISED_CAVEAT = (
    "gammapy's CTAO effective-area parametrisation (an early estimate) is 6x prod5 South's at "
    "1 TeV and 14x at 100 GeV (11x and 20x North's): the figures are optimistic; fetch the "
    "prod5 IRFs (`astroflow data fetch cta`) for realistic ones")
CHOICES = ("auto", "prod5", "parametrised")

# The parametrisation's coefficients (highest power first, for numpy.polyval), x = log10(E/TeV).
EDISP_SIGMA_POLY = (0.0337, -0.0598, 0.0757)
PSF_R68_LOG10_POLY = (-0.0112, 0.0670, -0.2997, -1.2377)
BKG_LOG10_POLY = (0.3355, -2.5776, -4.0176)  # log10 of MeV-1 s-1 sr-1
GAUSS_R68_PER_SIGMA = float(np.sqrt(-2 * np.log(1 - 0.68)))  # 1.5096


@dataclass(frozen=True)
class IRFSet:
    """The four IRFs of one request and a label saying exactly which they are."""

    irfs: dict[str, Any]
    site: str
    kind: str  # "prod5" or "parametrised"
    label: str
    zenith_note: str
    caveat: str = ""


def data_dir() -> Path:
    """``$ASTROFLOW_DATA_DIR/cta`` (astroflow's default data folder when unset)."""
    root = os.environ.get("ASTROFLOW_DATA_DIR")
    if root:
        return Path(root) / "cta"
    from astroflow.datadir import default_data_dir

    return default_data_dir() / "cta"


def prod5_path(site: str, folder: Path | None = None) -> Path:
    return (folder if folder is not None else data_dir()) / PROD5_FILES[site]


def check_site(site: str) -> str:
    if site not in SITES:
        raise AnalysisError(f"site {site!r} is not a CTAO site: use 'North' (La Palma) or "
                            "'South' (Paranal)")
    return site


def load(site: str, zenith: float, choice: str = "auto", folder: Path | None = None) -> IRFSet:
    """The IRFs for `site`: prod5 when its file is present (or required), else parametrised."""
    check_site(site)
    if choice not in CHOICES:
        raise AnalysisError(f"irfs {choice!r} is not one of {', '.join(CHOICES)}")
    note = ("" if abs(zenith - IRF_ZENITH_DEG) < 1e-6 else
            f"zenith {zenith:g} deg requested: the IRFs used are those of {IRF_ZENITH_DEG:g} deg "
            "(the only zenith available); expect a higher threshold and other rates")
    path = prod5_path(site, folder)
    if choice == "prod5" or (choice == "auto" and path.is_file()):
        if not path.is_file():
            raise AnalysisError(f"irfs 'prod5': {path} is absent; run `astroflow data fetch cta` "
                                "(or choose irfs 'parametrised')")
        return IRFSet(_prod5(str(path)), site, "prod5", PROD5_LABELS[site], note)
    import gammapy

    label = (f"parametrised (gammapy {gammapy.__version__} CTAO effective area; Gaussian "
             "PSF, energy dispersion and log-parabola background fitted to prod5 South 20deg)")
    return IRFSet(parametrised(), site, "parametrised", label, note, PARAMETRISED_CAVEAT)


@lru_cache(maxsize=4)
def _prod5(path: str) -> dict[str, Any]:
    from gammapy.irf import load_irf_dict_from_file

    irfs = load_irf_dict_from_file(path)
    irfs["bkg"] = irfs["bkg"].to_2d()
    return irfs


def _log10_tev(energy: u.Quantity) -> np.ndarray:
    return np.log10(energy.to_value(u.TeV))


def edisp_sigma(energy: u.Quantity) -> np.ndarray:
    return np.clip(np.polyval(EDISP_SIGMA_POLY, _log10_tev(energy)), 0.05, 0.35)


def psf_r68(energy: u.Quantity) -> u.Quantity:
    return 10 ** np.polyval(PSF_R68_LOG10_POLY, _log10_tev(energy)) * u.deg


def background_rate(energy: u.Quantity) -> u.Quantity:
    return 10 ** np.polyval(BKG_LOG10_POLY, _log10_tev(energy)) * u.Unit("MeV-1 s-1 sr-1")


@lru_cache(maxsize=1)
def parametrised() -> dict[str, Any]:
    """The four IRFs built from the formulas above (see the module docstring)."""
    from gammapy.irf import (
        Background2D,
        EffectiveAreaTable2D,
        EnergyDependentMultiGaussPSF,
        EnergyDispersion2D,
    )
    from gammapy.maps import MapAxis

    energy_true = MapAxis.from_energy_bounds(0.005 * u.TeV, 500 * u.TeV, nbin=25,
                                             per_decade=True, name="energy_true")
    offset = MapAxis.from_edges([0.0, 5.0] * u.deg, name="offset")
    aeff = EffectiveAreaTable2D.from_parametrization(energy_true, instrument="CTAO")
    migra = MapAxis.from_edges(np.linspace(0.2, 5.0, 481), name="migra")
    edisp = EnergyDispersion2D.from_gauss(energy_true, migra, offset, bias=0,
                                          sigma=edisp_sigma(energy_true.center))
    sigma = psf_r68(energy_true.center).to_value(u.deg) / GAUSS_R68_PER_SIGMA
    fields = EnergyDependentMultiGaussPSF.required_parameters
    psf_data = np.zeros((energy_true.nbin, offset.nbin), dtype=[(f, "f8") for f in fields])
    psf_data["sigma_1"] = sigma[:, None]
    psf_data["sigma_2"] = psf_data["sigma_3"] = 1.0  # unused: amplitudes 2 and 3 are zero
    psf_data["scale"] = 1.0  # normalised by gammapy
    units = {"sigma_1": u.deg, "sigma_2": u.deg, "sigma_3": u.deg, "scale": u.Unit("sr-1"),
             "ampl_2": u.one, "ampl_3": u.one}
    psf = EnergyDependentMultiGaussPSF(axes=[energy_true, offset], data=psf_data, unit=units)
    energy_bkg = MapAxis.from_energy_bounds(0.005 * u.TeV, 500 * u.TeV, nbin=25,
                                            per_decade=True, name="energy")
    offset_bkg = MapAxis.from_edges(np.linspace(0, 5, 6) * u.deg, name="offset")
    rate = background_rate(energy_bkg.center)[:, None] * np.ones(offset_bkg.nbin)
    bkg = Background2D(axes=[energy_bkg, offset_bkg], data=rate.value, unit=rate.unit)
    return {"aeff": aeff, "edisp": edisp, "psf": psf, "bkg": bkg}
