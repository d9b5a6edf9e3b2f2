"""Science check: the service's differential sensitivity against an independent calculation
from the same IRF arrays (cta_reference: numpy/scipy only, no gammapy dataset, maker or
estimator)."""

from __future__ import annotations

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from cta_plan import irfs, plan
from cta_reference import IRFArrays, independent_sensitivity


def service_curve(site: str, choice: str, livetime_h: float, dec: float):
    request = plan.Request("check", SkyCoord(83.63, dec, unit="deg"), site, 20.0,
                           livetime_h * u.h, "power_law", 1e-11, 2.0, irfs=choice)
    return plan.run(request)


@pytest.mark.parametrize("livetime_h", [0.5, 50.0])
def test_parametrised_sensitivity_matches_independent(empty_data_root, livetime_h):
    result = service_curve("South", "parametrised", livetime_h, -20.0)
    assert result.irf_source.startswith("parametrised (gammapy ")
    table = result.sensitivity
    edges = np.append(table["energy_min"].to_value("TeV"), table["energy_max"][-1].value)
    assert len(table) >= 15
    mine = independent_sensitivity(IRFArrays(irfs.parametrised(), False), edges, livetime_h)
    ratio = table["e2dnde"].to_value("erg cm-2 s-1") / mine
    assert np.all(np.abs(ratio - 1) < 0.05), np.round(ratio, 3)
    if livetime_h == 50.0:  # every criterion limits somewhere over the range
        assert {"significance", "gamma"} <= set(table["criterion"])


@pytest.mark.parametrize("site", ["South", "North"])
def test_prod5_sensitivity_matches_independent(prod5_data_root, prod5_dir, site):
    from gammapy.irf import load_irf_dict_from_file

    result = service_curve(site, "prod5", 50.0, -20.0 if site == "South" else 20.0)
    assert result.irf_source == irfs.PROD5_LABELS[site]
    table = result.sensitivity
    keep = table["energy"].to_value("TeV") >= 0.04  # below, the IRFs are near-empty tails
    table = table[keep]
    edges = np.append(table["energy_min"].to_value("TeV"), table["energy_max"][-1].value)
    raw = load_irf_dict_from_file(prod5_dir / irfs.PROD5_FILES[site])
    mine = independent_sensitivity(IRFArrays(raw, True), edges, 50.0)
    ratio = table["e2dnde"].to_value("erg cm-2 s-1") / mine
    assert np.all(np.abs(ratio - 1) < 0.05), np.round(ratio, 3)
    assert "bkg" in set(table["criterion"]) or "significance" in set(table["criterion"])
