"""The independent generator (bench/icecube_independent.py): a release in the 10-year layout
whose published irfs summarise its own model, and whose model is not detector.py's."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from icecube_ps import detector, layout, release

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))

import icecube_independent as ind  # noqa: E402

SCALE = 0.002
SOURCES = (ind.Source(60.0, 30.0, 3000, 2.0), ind.Source(240.0, -40.0, 3000, 2.0))
CAP_DEG = 12.0


@pytest.fixture(scope="module")
def indep_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("independent10y")
    return ind.generate(root, scale=SCALE, sources=SOURCES, seed=5, irf_samples=3000)


@pytest.fixture(scope="module")
def indep(indep_dir: Path) -> release.Release:
    return release.read_10year(indep_dir, "independent")


def _distance(ra, dec, ra0, dec0):
    r1, d1, r0, d0 = (np.radians(x) for x in (ra, dec, ra0, dec0))
    c = np.sin(d1) * np.sin(d0) + np.cos(d1) * np.cos(d0) * np.cos(r1 - r0)
    return np.degrees(np.arccos(np.clip(c, -1.0, 1.0)))


def _source_sample(rel: release.Release, src: ind.Source):
    """Events within CAP_DEG of the source, and a background estimate per season from the
    same declination band more than 60 deg away in RA (background RA is uniform)."""
    ev = rel.events
    psi = _distance(ev["ra"], ev["dec"], src.ra, src.dec)
    cap = psi < CAP_DEG
    band = (np.abs(ev["dec"] - src.dec) < CAP_DEG) & (np.abs((ev["ra"] - src.ra + 180) % 360
                                                            - 180) > 60)
    s_lo, s_hi = np.sin(np.radians(src.dec - CAP_DEG)), np.sin(np.radians(src.dec + CAP_DEG))
    ratio = (1 - np.cos(np.radians(CAP_DEG))) / ((s_hi - s_lo) * 240 / 360)
    n = len(rel.seasons)
    on = np.bincount(ev["season"][cap], minlength=n).astype(float)
    off = ratio * np.bincount(ev["season"][band], minlength=n)
    return cap, band, ratio, psi, on, off


def _yield_weights(rel: release.Release, season: release.Season, dec: float, gamma: float,
                   edges: np.ndarray | None = None) -> np.ndarray:
    """Livetime x ∫ A_eff(file) E^-gamma dE, per A_eff energy bin (or summed into `edges`)."""
    a = rel.aeff[season.irf]
    lo, hi = 10.0 ** a.log_e_edges[:-1], 10.0 ** a.log_e_edges[1:]
    w = a.row(dec) * (hi ** (1 - gamma) - lo ** (1 - gamma)) / (1 - gamma) * season.livetime_days
    if edges is None:
        return w
    idx = np.searchsorted(edges, a.log_e_edges[:-1] + 1e-6, side="right") - 1
    return np.bincount(idx, weights=w, minlength=len(edges) - 1)[: len(edges) - 1]


def test_files_are_the_10year_layout(indep_dir, indep):
    for s in layout.SEASONS_10YEAR:
        for path, header in ((layout.events_path(s), layout.EVENTS_HEADER),
                             (layout.uptime_path(s), layout.UPTIME_HEADER),
                             (layout.aeff_path(s), layout.AEFF_HEADER),
                             (layout.smearing_path(s), layout.SMEARING_HEADER)):
            with open(indep_dir / path) as f:
                assert f.readline().strip() == f"# {header}"
    assert [s.name for s in indep.seasons] == list(layout.SEASONS_10YEAR)
    assert sorted(indep.aeff) == ["IC40", "IC59", "IC79", "IC86_I", "IC86_II"]
    n_bg = sum(max(round(ind.COUNTS[s] * SCALE), 1) for s in ind.SEASONS)
    assert indep.n_events == n_bg + sum(int(s.n_events) for s in SOURCES)
    n_e, n_p, n_a = ind.SMEAR_BINS
    for table in indep.smearing.values():           # dense, nested, fractions per cell
        assert len(table) == (ind.SMEAR_LOG_E_NU.size - 1) * 3 * n_e * n_p * n_a
        sums = table[:, 10].reshape(-1, n_e * n_p * n_a).sum(axis=1)
        assert np.allclose(sums[sums > 0], 1.0, atol=1e-4)
        assert np.all(table[:, 5] > table[:, 4]) and np.all(table[:, 7] > table[:, 6])
        assert np.all(table[:, 9] > table[:, 8])
    # AngErr floor 0.3 deg (the real release, and detector.py: 0.2 deg)
    assert indep.events["ang_err"].min() == pytest.approx(ind.ANGERR_FLOOR, abs=1e-6)


@pytest.mark.parametrize("k", range(len(SOURCES)))
def test_source_counts_follow_the_published_effective_area(indep, k):
    """Season split of the events of a source written into the files against livetime x
    ∫ A_eff(file) E^-gamma dE: within Poisson errors (chi2, 9 d.o.f.)."""
    src = SOURCES[k]
    _, _, _, _, on, off = _source_sample(indep, src)
    y = np.array([_yield_weights(indep, s, src.dec, src.gamma).sum() for s in indep.seasons])
    signal = on - off
    expected = signal.sum() * y / y.sum()
    chi2 = np.sum((signal - expected) ** 2 / (expected + 2 * off + 1.0))
    assert abs(signal.sum() - src.n_events) < 4 * np.sqrt(on.sum()) + 0.03 * src.n_events
    assert chi2 < 33.7, (signal, expected)     # p = 1e-4 for 9 d.o.f.


def _table_median(lo: np.ndarray, hi: np.ndarray, w: np.ndarray, grid: np.ndarray) -> float:
    """Median of a binned distribution, uniform within each bin (bisection)."""
    a, b = float(grid[0]), float(grid[-1])
    for _ in range(40):
        m = 0.5 * (a + b)
        if np.sum(w * np.clip((m - lo) / (hi - lo), 0.0, 1.0)) < 0.5 * w.sum():
            a = m
        else:
            b = m
    return 0.5 * (a + b)


def _events_median(on: np.ndarray, off: np.ndarray, ratio: float, grid: np.ndarray) -> float:
    """Median of the events in the cap less the background estimate."""
    cdf = np.searchsorted(np.sort(on), grid) - ratio * np.searchsorted(np.sort(off), grid)
    return float(np.interp(0.5 * cdf[-1], np.maximum.accumulate(cdf), grid))


@pytest.mark.parametrize("k", range(len(SOURCES)))
def test_source_energies_and_psf_follow_the_published_smearing(indep, k):
    """Median reconstructed energy and median PSF of the written source events against the
    smearing tables folded with the published A_eff x E^-gamma."""
    src = SOURCES[k]
    cap, band, ratio, psi, _, _ = _source_sample(indep, src)
    ev = indep.events
    parts = []
    for s in indep.seasons:
        t = indep.smearing[s.irf]
        t = t[(t[:, 2] <= src.dec) & (t[:, 3] > src.dec)]
        edges = np.unique(np.concatenate([t[:, 0], t[:, 1]]).round(6))
        w = _yield_weights(indep, s, src.dec, src.gamma, edges)
        parts.append(np.column_stack([t[:, 4:8], w[np.searchsorted(edges, t[:, 0] + 1e-6,
                                                                     side="right") - 1]
                                      * t[:, 10]]))
    t = np.concatenate(parts)
    grid_e = np.linspace(0.5, 9.5, 3601)
    observed_e = _events_median(ev["log_e"][cap], ev["log_e"][band], ratio, grid_e)
    assert observed_e == pytest.approx(_table_median(t[:, 0], t[:, 1], t[:, 4], grid_e),
                                       abs=0.05)
    grid_psi = np.linspace(0.0, CAP_DEG, 2401)
    assert np.median(psi[cap]) == pytest.approx(_table_median(t[:, 2], t[:, 3], t[:, 4],
                                                              grid_psi), rel=0.1)


def test_psf_has_heavier_tails_than_detector_py():
    """Same neutrino energy, both models: the fraction beyond 5x the median angle."""
    rng = np.random.default_rng(3)
    le = np.full(40000, 4.0)
    _, psf, ang = ind.sample_response(le, 30.0, ind.config_for("IC86_II"), rng)
    _, psf_d, ang_d = detector.sample_response(le, rng, detector.CONFIGS["IC86_II"])
    tail = np.mean(psf > 5 * np.median(psf))
    tail_d = np.mean(psf_d > 5 * np.median(psf_d))
    assert tail > 0.03 and tail > 5 * tail_d
    # AngErr tracks the true angle differently (the true PSF is wider relative to it)
    assert np.median(psf / ang) > 1.3 * np.median(psf_d / ang_d)
