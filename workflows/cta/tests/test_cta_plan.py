"""The plan's numbers: significance, livetime to 5 sigma, and the refusals of bad requests."""

from __future__ import annotations

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from cta_plan import plan
from cta_plan.errors import AnalysisError
from cta_reference import ALPHA, li_ma

# The Crab Nebula's log-parabola (H.E.S.S. 2006 form, gammapy's natural-log beta) placed where
# CTAO-South sees it at 20 deg.
CRAB_LIKE = {"model_source": "log_parabola", "amplitude": 3.85e-11, "index": 2.51,
             "beta": 0.104}
SOUTHERN = SkyCoord(83.633, -25.0, unit="deg")


def _request(**kw) -> plan.Request:
    base = {"src_name": "test source", "position": SOUTHERN, "site": "South", "zenith": 20.0,
            "livetime": 0.5 * u.h, "irfs": "parametrised"}
    base.update(kw)
    return plan.Request(**base)


@pytest.mark.parametrize("choice", ["parametrised", "prod5"])
def test_crab_half_hour_south_is_asimov_li_ma(request, choice):
    request.getfixturevalue("prod5_data_root" if choice == "prod5" else "empty_data_root")
    result = plan.run(_request(irfs=choice, **CRAB_LIKE))
    sed = result.spectrum
    rows = sed[(sed["kind"] == "model") & (sed["energy"] >= 0.05 * u.TeV)
               & (sed["energy"] <= 100 * u.TeV) & (sed["npred_background"] > 0)]
    s, b = float(np.sum(rows["npred_signal"])), float(np.sum(rows["npred_background"]))
    expected = li_ma(s + b, b / ALPHA, ALPHA)
    assert result.significance == pytest.approx(expected, rel=1e-6)
    assert result.significance > 20  # the Crab is detected in minutes by CTAO
    # 5 sigma is reached at the livetime given (and not before) up to the 10-count floor
    t5 = result.livetime_5sigma
    assert result.significance_at(np.array([t5]))[0] >= 5 - 1e-6
    assert t5 < 0.5 and s * t5 / 0.5 >= 10 - 1e-6


def test_livetime_scales_as_inverse_flux_squared(empty_data_root):
    weak = plan.run(_request(model_source="power_law", amplitude=1e-14, index=2.5))
    twice = plan.run(_request(model_source="power_law", amplitude=2e-14, index=2.5))
    s = weak.signal[weak.in_range].sum()
    b = weak.background[weak.in_range].sum()
    assert s / b < 0.02  # background-dominated
    assert weak.livetime_5sigma / twice.livetime_5sigma == pytest.approx(4.0, rel=0.03)
    assert weak.livetime_5sigma > 1.0


def test_poisson_simulation_draws_around_the_prediction(empty_data_root):
    result = plan.run(_request(simulation="poisson", seed=3, model_source="power_law",
                               amplitude=2e-12, index=2.6, livetime=5 * u.h))
    points = result.spectrum[result.spectrum["kind"] == "point"]
    assert len(points) >= 5 and np.all(np.isfinite(points["e2dnde"]))
    fitted = {row["name"]: row["value"] for row in result.fit_parameters}
    assert fitted["index"] == pytest.approx(2.6, abs=0.15)
    assert fitted["amplitude"] == pytest.approx(2e-12, rel=0.2)


@pytest.mark.parametrize(("kw", "message"), [
    ({"livetime": -1 * u.h}, "livetime -1 h must be positive"),
    ({"site": "East"}, "site 'East' is not a CTAO site"),
    ({"zenith": 85.0}, "zenith 85 deg is outside 0-70 deg"),
    ({"model_source": "broken"}, "model_source 'broken' is not one of"),
    ({"model_source": "power_law", "amplitude": -1e-12}, "amplitude -1e-12 must be a positive"),
    ({"energy_range": [10, 1] * u.TeV}, "energy range 10-1 TeV is empty"),
    ({"simulation": "mc"}, "simulation 'mc' is not 'asimov' or 'poisson'"),
])
def test_bad_parameters_are_named(empty_data_root, kw, message):
    with pytest.raises(AnalysisError, match=message.replace("(", r"\(")):
        plan.run(_request(**kw))


def test_position_never_at_zenith_is_refused(empty_data_root):
    with pytest.raises(AnalysisError, match=r"Dec \+70.00 deg\) never reaches zenith 60 deg "
                                            r"from CTAO-South .* culminates at zenith 94.7"):
        plan.run(_request(position=SkyCoord(10.0, 70.0, unit="deg"), zenith=60.0))


def test_prod5_absent_is_said(empty_data_root):
    with pytest.raises(AnalysisError, match="irfs 'prod5': .* is absent; run `astroflow data "
                                            "fetch cta`"):
        plan.run(_request(irfs="prod5"))


def test_too_faint_source_gives_no_points_and_no_5_sigma(empty_data_root):
    result = plan.run(_request(model_source="power_law", amplitude=1e-16, index=2.5,
                               livetime=0.1 * u.h))
    assert result.livetime_5sigma == float("inf")
    assert not np.any(result.spectrum["kind"] == "point")
    assert result.spectrum.meta["points"].startswith("no simulated points: the source gives "
                                                     "less than one count")
    assert "below the 5% background systematics" in result.systematics_note
