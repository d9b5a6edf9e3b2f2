"""The service's flux points (`hess_dl3/fluxpoints.py`) against gammapy's FluxPointsEstimator
on the same stacked datasets: a synthetic Crab (bright and empty high-energy bins), an empty
field (negative excesses, every point a limit) and the real DR1 PKS 2155-304 (when present),
for three spectral models and several binnings."""

from __future__ import annotations

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from gammapy.estimators import FluxPointsEstimator
from hess_dl3 import fluxpoints, spectrum
from hess_dl3.reduction import on_region, reduce_observations
from hess_dl3.selection import select_observations

E_MIN, E_MAX = 0.3 * u.TeV, 100 * u.TeV


def stacked_field(release, ra: float, dec: float, cache, n: int = 4):
    selection = select_observations(release, SkyCoord(ra, dec, unit="deg"), max_observations=n)
    reduction = reduce_observations(selection, release, on_region(ra, dec, 0.11), cache_dir=cache)
    return spectrum.stack(spectrum.restrict_energy(reduction.datasets, E_MIN, E_MAX))


def tables(dataset, model: str, n_bins: int):
    spectrum.fit(dataset, model, "src")
    edges = spectrum.energy_edges(dataset, E_MIN, E_MAX, n_bins)
    reference = FluxPointsEstimator(energy_edges=edges, source="src", selection_optional=["ul"],
                                    n_sigma_ul=2).run([dataset])
    ours = fluxpoints.flux_points(dataset, "src", edges, n_sigma_ul=2)
    return (reference.to_table(sed_type="e2dnde", format="gadf-sed"),
            ours.to_table(sed_type="e2dnde", format="gadf-sed"))


def column(table, name: str) -> np.ndarray:
    return np.asarray(table[name], float).ravel()


def assert_same_points(reference, ours) -> None:
    assert reference.colnames == ours.colnames
    for name in ("e_ref", "e_min", "e_max", "counts", "stat_null", "is_ul", "success"):
        np.testing.assert_array_equal(column(ours, name), column(reference, name), err_msg=name)
    err, ul = column(reference, "e2dnde_err"), column(reference, "e2dnde_ul")
    counts = column(reference, "counts")
    # minuit stops within its tolerance: the best points agree to 2% of their error ...
    assert np.all(np.abs(column(ours, "e2dnde") - column(reference, "e2dnde"))
                  <= 0.02 * err + 1e-4 * np.nan_to_num(ul)), "e2dnde"
    # ... their errors (a curvature, HESSE's or ours) to 1% where the profile is smooth
    # (a bin without ON counts has its minimum on a kink at zero: both errors are nonsense)
    smooth = counts > 0
    np.testing.assert_allclose(column(ours, "e2dnde_err")[smooth], err[smooth], rtol=1e-2)
    # the limits are both roots of the same profile
    np.testing.assert_allclose(column(ours, "e2dnde_ul"), ul, rtol=1e-4)
    ts = column(reference, "ts")
    assert np.all(np.abs(column(ours, "ts") - ts) <= 1e-2 + 1e-4 * np.abs(ts)), "ts"
    npred = column(reference, "npred")
    assert np.all(np.abs(column(ours, "npred") - npred) <= 0.02 * np.sqrt(npred) + 1e-6), "npred"
    # the minimum found is at least as low as minuit's
    assert np.all(column(ours, "stat") <= column(reference, "stat") + 1e-6)


@pytest.mark.parametrize(("model", "n_bins"), [("power_law", 8), ("log_parabola", 12),
                                               ("cutoff_power_law", 5)])
def test_crab_points_equal_gammapys(synthetic_release, tmp_path_factory, model, n_bins):
    dataset = stacked_field(synthetic_release, 83.633, 22.0145, tmp_path_factory.mktemp("fp"))
    reference, ours = tables(dataset, model, n_bins)
    assert column(reference, "is_ul").any() and not column(reference, "is_ul").all()
    assert_same_points(reference, ours)


def test_an_empty_field_gives_the_same_limits(synthetic_release, tmp_path):
    dataset = stacked_field(synthetic_release, 10.0, -25.0, tmp_path)
    spectrum.fit(dataset, "power_law", "src")
    # as the service does for a fit without positive flux: scale a positive power law
    from gammapy.modeling.models import SkyModel
    dataset.models = [SkyModel(spectral_model=spectrum.spectral_model("power_law"), name="src")]
    edges = spectrum.energy_edges(dataset, E_MIN, E_MAX, 6)
    reference = FluxPointsEstimator(energy_edges=edges, source="src", selection_optional=["ul"],
                                    n_sigma_ul=2).run([dataset])
    ours = fluxpoints.flux_points(dataset, "src", edges)
    reference = reference.to_table(sed_type="e2dnde", format="gadf-sed")
    ours = ours.to_table(sed_type="e2dnde", format="gadf-sed")
    assert (column(reference, "e2dnde") < 0).any()  # a negative excess somewhere
    assert_same_points(reference, ours)


def test_real_dr1_pks2155_points_equal_gammapys(real_dr1, tmp_path):
    dataset = stacked_field(real_dr1, 329.71694, -30.2256, tmp_path, n=4)
    reference, ours = tables(dataset, "power_law", 10)
    assert column(reference, "is_ul").any() and not column(reference, "is_ul").all()
    assert_same_points(reference, ours)


def test_bins_snap_as_gammapy_slices(synthetic_release, tmp_path):
    """Each point's bins are those `slice_by_energy` keeps, and a bin past the data is NaN."""
    dataset = stacked_field(synthetic_release, 83.633, 22.0145, tmp_path, n=1)
    axis = dataset.counts.geom.axes["energy"]
    edges = np.geomspace(0.35, 60, 6) * u.TeV
    for bins, lo, hi in zip(fluxpoints.bin_slices(axis, edges), edges[:-1], edges[1:],
                             strict=True):
        sliced = dataset.slice_by_energy(lo, hi)
        assert bins.stop - bins.start == sliced.counts.geom.axes["energy"].nbin
        assert axis.edges[bins.start] == sliced.counts.geom.axes["energy"].edges[0]
    spectrum.fit(dataset, "power_law", "src")
    beyond = fluxpoints.flux_points(dataset, "src", [150, 200, 300] * u.TeV)
    table = beyond.to_table(sed_type="e2dnde", format="gadf-sed")
    assert np.all(np.isnan(column(table, "e2dnde"))) and not column(table, "success").any()
