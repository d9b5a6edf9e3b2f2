"""Validation of the likelihood on small synthetic releases (fast versions of the bench)."""

from __future__ import annotations

import numpy as np
from icecube_ps import limits
from icecube_ps.likelihood import PointSourceAnalysis, log_likelihood, solve_ns
from scipy import stats


def test_solver_finds_the_maximum():
    rng = np.random.default_rng(0)
    a = rng.normal(0, 0.05, 300)
    rest, c = np.array([1000.0, 2000.0]), np.array([1e-3, 2e-4])
    n = solve_ns(a, rest, c)
    grid = np.linspace(0, 5 * max(n, 1), 4001)
    values = [log_likelihood(x, a, rest, c) for x in grid]
    assert abs(grid[int(np.argmax(values))] - n) <= grid[1] - grid[0]


def test_recovers_the_source_written_in_the_files(analysis, source):
    """60 events (E^-2) drawn from the continuous detector model, PSF wider than AngErr."""
    fixed = analysis.fit(source.ra, source.dec, 2.0)
    free = analysis.fit(source.ra, source.dec, None)
    assert fixed.ts > 50
    assert 45 < fixed.ns < 75
    assert 45 < free.ns < 80 and 1.7 < free.gamma < 2.4
    # Far from the source: nothing.
    assert analysis.fit(source.ra + 90, -source.dec, 2.0).ts < 16


def test_injection_recovery_is_unbiased(analysis):
    rng = np.random.default_rng(11)
    ns = [analysis.trial(250.0, 10.0, rng, 2.0, inject=20).ns for _ in range(60)]
    assert abs(np.mean(ns) - 20) < 3 * np.std(ns) / np.sqrt(len(ns)) + 1.0


def test_psf_correction_reduces_the_bias(small_release):
    """Events drawn from the binned irfs: the corrected PSF recovers n_s better."""
    out = {}
    for psf in (True, False):
        ana = PointSourceAnalysis(small_release, psf_correction=psf)
        rng = np.random.default_rng(5)
        out[psf] = np.mean([ana.trial(250.0, 10.0, rng, 2.0, inject=30).ns for _ in range(60)])
    assert abs(out[True] - 30) < abs(out[False] - 30)


def test_background_ts_spatial_only_is_half_chi2(small_release):
    """Without the energy term: 1/2 delta(0) + 1/2 chi2_1. This release has 5% of the events,
    so few background events lie within a PSF of the source and the tail is somewhat heavier
    (mean TS|TS>0 ~ 1.3); the full-size check (bench/icecube_validation.py) gives 0.504 zeros,
    mean 1.00, P(TS > 2.71) = 0.047."""
    ana = PointSourceAnalysis(small_release, energy=False)
    rng = np.random.default_rng(3)
    ts = np.array([ana.trial(100.0, 20.0, rng, 2.0).ts for _ in range(600)])
    assert 0.4 < np.mean(ts == 0) < 0.6
    assert 0.8 < ts[ts > 0].mean() < 1.6
    assert 0.02 < np.mean(ts > 2.71) < 0.12


def test_background_ts_with_energy(analysis):
    """With the energy term: more zeros than 1/2; on this small release (5% of the events)
    the tail above TS = 2.71 holds 6-8% of the trials instead of 5% (README: p-values)."""
    rng = np.random.default_rng(4)
    ts = np.array([analysis.trial(100.0, 20.0, rng, 2.0).ts for _ in range(600)])
    assert np.mean(ts == 0) >= 0.5
    assert 0.02 < np.mean(ts > 2.71) < 0.12
    assert np.isclose(limits.p_value(2.71, False), 0.5 * stats.chi2.sf(2.71, 1))


def test_upper_limit_coverage(analysis):
    rng = np.random.default_rng(6)
    n_true, hits = 15.0, []
    for _ in range(150):
        sel = analysis.scrambled_selection(250.0, 10.0, rng, inject=int(rng.poisson(n_true)))
        hits.append(limits.ns_upper_limit(analysis, sel, 10.0, 2.0, 0.9) >= n_true)
    assert 0.8 < np.mean(hits) <= 1.0


def test_flux_conversion_matches_the_effective_area(analysis):
    """n_s = flux x livetime x sum A_eff * integral E^-gamma, season by season."""
    from icecube_ps.binning import power_law_integrals
    dec, gamma = 20.0, 2.5
    expected = 0.0
    for lt, a in zip(analysis.livetime_s, analysis.aeff, strict=True):
        lo, hi = a.log_e_edges[:-1], a.log_e_edges[1:]
        expected += lt * a.row(dec) @ power_law_integrals(lo, hi, np.array([gamma]))[:, 0]
    assert np.isclose(analysis.flux_per_ns(dec, gamma), 1e3 / expected, rtol=1e-6)
    assert np.isclose(analysis.flux_per_ns(dec, gamma) * 1e-3 * expected, 1.0)


def test_light_curve_season_fits_sum_up(analysis, source):
    sel = analysis.select(source.ra, source.dec)
    total = sum(analysis.fit_selection(sel, source.dec, 2.0, only_season=k).ns
                for k in range(len(analysis.seasons)))
    assert abs(total - analysis.fit(source.ra, source.dec, 2.0).ns) < 20


def test_solvers_match_scipy():
    from icecube_ps import solvers
    from scipy import optimize
    from scipy import stats as st

    def f(x):
        return np.log1p(x) - 1.3

    assert abs(solvers.brentq(f, 0.0, 10.0) - optimize.brentq(f, 0.0, 10.0)) < 1e-7
    x, _ = solvers.maximize_bounded(lambda g: -(g - 2.3) ** 2, 1.0, 4.0)
    assert abs(x - 2.3) < 1e-3
    for ts in (0.5, 2.71, 25.0):
        assert np.isclose(solvers.chi2_sf(ts, 1), st.chi2.sf(ts, 1))
        assert np.isclose(solvers.chi2_sf(ts, 2), st.chi2.sf(ts, 2))
    assert np.isclose(solvers.norm_ppf(0.9), st.norm.ppf(0.9))


def test_isotonic_and_neyman_belt(analysis):
    np.testing.assert_allclose(limits.isotonic(np.array([0.1, 0.3, 0.2, 0.6, 0.5, 0.9])),
                               [0.1, 0.25, 0.25, 0.55, 0.55, 0.9])
    rng = np.random.default_rng(8)
    belt = limits.NeymanBelt.build(analysis, 250.0, 10.0, 2.0, 30.0, n_trials=40, n_grid=6,
                                   rng=rng)
    assert belt.cost["fits"] == 7 * 40
    low, high = belt.upper_limit(0.0), belt.upper_limit(25.0)
    assert 0.0 < low <= high <= 30.0


def test_truth_injection_recovery(analysis):
    """Signal from the continuous detector model (not the binned irfs) is recovered."""
    from icecube_ps.synthetic import ContinuousInjector

    inj = ContinuousInjector(250.0, 10.0, 2.0, tuple(s.name for s in analysis.seasons),
                             tuple(s.livetime_days for s in analysis.seasons))
    rng = np.random.default_rng(12)
    ns = [analysis.trial(250.0, 10.0, rng, 2.0, inject=20, injector=inj).ns for _ in range(60)]
    assert abs(np.mean(ns) - 20) < 3 * np.std(ns) / np.sqrt(len(ns)) + 1.0
