"""The catalogue model integrates to Energy_Flux100; flux points, butterfly, light curve."""

from __future__ import annotations

import astropy.units as u
import numpy as np
import pytest
from fermi_known import KNOWN
from scipy.integrate import quad


@pytest.mark.parametrize("name", list(KNOWN))
def test_model_integrates_to_energy_flux100(catalogue, name):
    (row,) = catalogue.lookup(name)
    model = catalogue.spectral_model(row)
    reference = catalogue.gammapy_source(row).spectral_model()  # gammapy reading the FITS file
    assert type(model) is type(reference)
    for ours, theirs in zip(model.parameters, reference.parameters, strict=True):
        assert ours.name == theirs.name and ours.quantity == theirs.quantity
        # No uncertainty in the catalogue (the Crab Nebula's IC component is fixed): error 0.
        assert ours.error == np.nan_to_num(theirs.error)
    e_lo, e_hi = 100.0, 100_000.0  # MeV

    def e_dnde(energy_mev):  # E dN/dE in MeV cm-2 s-1 MeV-1
        return float((energy_mev * u.MeV * model(energy_mev * u.MeV)).to_value("cm-2 s-1"))

    log_lo, log_hi = np.log(e_lo), np.log(e_hi)
    integral, _ = quad(lambda x: np.exp(x) * e_dnde(np.exp(x)), log_lo, log_hi, limit=200,
                       epsrel=1e-6)
    energy_flux = (integral * u.MeV / u.cm**2 / u.s).to(u.erg / u.cm**2 / u.s)
    expected = catalogue.quantity("Energy_Flux100", row)
    assert energy_flux.to_value(expected.unit) == pytest.approx(expected.value, rel=0.01)
    # The butterfly's centre is the same model, in E^2 dN/dE.
    energies = np.geomspace(0.05, 1000, 30) * u.GeV
    e2, errn, errp = catalogue.butterfly(row, energies)
    assert e2.unit == u.erg / u.cm**2 / u.s
    assert np.allclose(e2, (energies**2 * model(energies)).to(e2.unit), rtol=1e-10)
    fixed = all(parameter.error == 0 for parameter in model.parameters if not parameter.frozen)
    assert np.all(errn >= 0) and np.all(errp >= 0) and (fixed or np.all(errn + errp > 0))
    pivot = catalogue.quantity("Pivot_Energy", row)
    band = (errn + errp) / e2
    assert np.interp(np.log(pivot.to_value(u.GeV)), np.log(energies.value), band) <= band.max()


def test_flux_points_agree_with_gammapy(catalogue):
    (row,) = catalogue.lookup("TXS 0506+056")
    ours = catalogue.flux_points(row)
    theirs = catalogue.gammapy_source(row).flux_points.to_table(sed_type="e2dnde")
    assert np.array_equal(ours["is_ul"], np.asarray(theirs["is_ul"]))
    assert np.allclose(ours["e_min"].to_value(u.MeV), theirs["e_min"].quantity.to_value(u.MeV))
    det = ~ours["is_ul"]
    # gammapy rescales Flux_Band with its model; the catalogue's nuFnu_Band differs by < 1%.
    assert np.allclose(ours["e2dnde"][det].value, theirs["e2dnde"].quantity[det].to_value(
        "erg cm-2 s-1"), rtol=0.01)
    assert np.allclose(ours["e2dnde"][~det].value, theirs["e2dnde_ul"].quantity[~det].to_value(
        "erg cm-2 s-1"), rtol=0.01)


@pytest.mark.parametrize("name", list(KNOWN))
def test_every_flux_point_makes_a_valid_sed(catalogue, name):
    """Bands the catalogue leaves empty (the Crab Nebula's IC component below 1 GeV) are not
    points: the SED of every known source passes the convention's own check ("Crab" in the
    multi-messenger service found this)."""
    from astroflow.products.sed import sed_table

    (row,) = catalogue.lookup(name)
    points = catalogue.flux_points(row)
    assert 0 < len(points["e_ref"]) <= 8
    assert np.all(np.isfinite(points["e2dnde"])) and np.all(points["e2dnde"].value >= 0)
    sed_table(energy=points["e_ref"], e2dnde=points["e2dnde"], is_ul=points["is_ul"],
              e2dnde_errn=points["e2dnde_errn"], e2dnde_errp=points["e2dnde_errp"],
              messenger="gamma-rays", instrument="Fermi-LAT")  # raises if one is not valid


def test_light_curve_matches_gammapy_and_the_columns(catalogue, fits_table):
    (row,) = catalogue.lookup("TXS 0506+056")
    lc = catalogue.light_curve(row)
    assert len(lc) == 14 and lc["flux"].unit == u.Unit("cm-2 s-1")
    assert lc["time_min"][0].value == pytest.approx(54682.656, abs=1e-3)  # 2008-08-04
    theirs = catalogue.gammapy_source(row).lightcurve().to_table(sed_type="flux",
                                                                 format="lightcurve")
    assert np.allclose(lc["flux"].value, theirs["flux"].quantity[:, 0].to_value("cm-2 s-1"))
    assert np.allclose(lc["time_min"].value, theirs["time_min"], atol=1e-6)
    assert lc.meta["variability_index"] == pytest.approx(
        float(fits_table["Variability_Index"][row]))
    # A faint source has yearly upper limits: flux + 2 x the upper error.
    faint = int(np.flatnonzero(np.isnan(catalogue.columns["Unc_Flux_History"][:, :, 0]).any(1))[0])
    lc = catalogue.light_curve(faint)
    ul = lc["is_ul"]
    unc = catalogue.columns["Unc_Flux_History"][faint][:, 1]
    assert ul.any() and np.allclose(lc["flux_ul"][ul].value, (lc["flux"].value + 2 * unc)[ul])
    assert np.all(np.isnan(lc["flux_errn"][ul].value))
