"""IceCube's `sed` output: its contribution to the multi-messenger SED (astroflow-sed/1)."""

from __future__ import annotations

import astropy.units as u
import numpy as np
import pytest
from icecube_ps import service

T1, T2 = "2008-01-01T00:00:00", "2019-01-01T00:00:00"


def e2dnde(phi0, gamma, energy):
    """E^2 phi0 (E / 1 TeV)^-gamma in erg cm-2 s-1, from phi0 in the summary's unit."""
    e = u.Quantity(energy).to(u.TeV)
    return (e**2 * phi0 * service.FLUX_UNIT * (e / u.TeV).value ** -gamma).to("erg cm-2 s-1")


def test_limit_equals_the_summary(small_release, tmp_path):
    sed_mod = pytest.importorskip("astroflow.products.sed")
    p = service.run(small_release, "s", 100.0, 20.0, T1, T2, index=2.5, ts_map_radius=0.5,
                    ts_map_pixels=3, background_trials=0)
    row, sed = p.summary[0], p.sed
    assert row["significance"] < service.SED_SIGNIFICANCE
    sed_mod.validate(sed)
    assert sed.meta["sed_convention"] == "astroflow-sed/1"
    assert set(sed["kind"]) == {"limit"} and sed["is_ul"].all()
    assert set(sed["messenger"]) == {"neutrinos"} and set(sed["instrument"]) == {"IceCube"}
    assert "nu_mu + anti-nu_mu" in sed.meta["sed_note"] and "per-flavour" in sed.meta["sed_note"]
    # The 90% signal energy range of the summary (GeV) is the limit's range.
    assert sed["energy_min"].to_value(u.GeV) == pytest.approx(np.full(len(sed), row["e_min"]))
    assert sed["energy_max"].to_value(u.GeV) == pytest.approx(np.full(len(sed), row["e_max"]))
    assert sed["energy"][0].to_value(u.GeV) == pytest.approx(row["e_min"])
    assert sed["energy"][-1].to_value(u.GeV) == pytest.approx(row["e_max"])
    want = e2dnde(row["flux_upper_limit"], 2.5, sed["energy"])
    assert sed["e2dnde"].to_value("erg cm-2 s-1") == pytest.approx(want.value, rel=1e-9)
    assert (sed["e2dnde_errn"].value == 0).all() and (sed["e2dnde_errp"].value == 0).all()


def test_significant_source_gives_the_butterfly(small_release, source):
    pytest.importorskip("astroflow.products.sed")
    p = service.run(small_release, "s", source.ra, source.dec, T1, T2, index=2.0,
                    fit_index=True, ts_map_radius=0.5, ts_map_pixels=3, background_trials=0)
    row, sed = p.summary[0], p.sed
    assert row["significance"] >= service.SED_SIGNIFICANCE
    assert set(sed["kind"]) == {"model"} and not sed["is_ul"].any()
    best = e2dnde(row["flux_norm"], row["gamma"], sed["energy"]).value
    lo = e2dnde(row["flux_norm_lo"], row["gamma"], sed["energy"]).value
    hi = e2dnde(row["flux_norm_hi"], row["gamma"], sed["energy"]).value
    assert sed["e2dnde"].value == pytest.approx(best, rel=1e-9)
    assert sed["e2dnde_errn"].value == pytest.approx(best - lo, rel=1e-9)
    assert sed["e2dnde_errp"].value == pytest.approx(hi - best, rel=1e-9)
    assert f"gamma = {row['gamma']:.2f}" in sed.meta["sed_note"]


def test_sed_is_written_as_a_spectrum(small_release, tmp_path):
    """As the notebook declares it (oda:Spectrum): the ECSV keeps units and the convention."""
    pytest.importorskip("astroflow")
    from astroflow.ontology import resolve
    from astroflow.products.load import load_product
    from astroflow.products.sed import combine
    from astroflow.products.write import write_product

    p = service.run(small_release, "s", 100.0, 20.0, T1, T2, ts_map_radius=0.5,
                    ts_map_pixels=3, background_trials=0)
    product = write_product("sed", p.sed, tmp_path, resolve("oda:Spectrum"))
    assert product.type == "spectrum" and "ecsv" in product.files
    back = load_product(product, tmp_path)
    combined = combine([back])
    assert combined["e2dnde"].to_value("erg cm-2 s-1") == pytest.approx(
        p.sed["e2dnde"].to_value("erg cm-2 s-1"))
    assert "IceCube" in combined.meta["sed_notes"]
