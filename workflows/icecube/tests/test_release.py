"""Synthetic releases follow the 10-year layout; readers and the cache round-trip."""

from __future__ import annotations

import json

import numpy as np
from icecube_ps import layout, release, synthetic, threeyear


def test_layout_and_headers(small_release_dir):
    for s in layout.SEASONS_10YEAR:
        first = (small_release_dir / layout.events_path(s)).read_text().splitlines()[0]
        assert first == "# " + layout.EVENTS_HEADER
        up = (small_release_dir / layout.uptime_path(s)).read_text().splitlines()[0]
        assert up == "# " + layout.UPTIME_HEADER
    irfs = sorted(p.name for p in (small_release_dir / "irfs").iterdir())
    # IC86_III-VII reuse IC86_II's irfs: five sets of two files.
    assert irfs == sorted(f"{s}_{k}.csv" for s in ("IC40", "IC59", "IC79", "IC86_I", "IC86_II")
                          for k in ("effectiveArea", "smearing"))
    head = (small_release_dir / "irfs/IC86_II_smearing.csv").read_text().splitlines()[0]
    assert head == "# " + layout.SMEARING_HEADER


def test_text_and_cache_round_trip(small_release_dir, small_release):
    text = release.read_10year(small_release_dir, "synthetic")
    assert text.n_events == small_release.n_events
    assert [s.irf for s in text.seasons][5:] == ["IC86_II"] * 5
    for col in ("mjd", "ra", "dec", "log_e", "ang_err"):
        np.testing.assert_allclose(np.sort(text.events[col]), np.sort(small_release.events[col]))
    a, b = text.aeff["IC59"], small_release.aeff["IC59"]
    np.testing.assert_allclose(a.values, b.values)
    np.testing.assert_allclose(text.smearing["IC86_II"], small_release.smearing["IC86_II"])
    # Fractional counts of each (E_nu, Dec) cell sum to one, as in the real files.
    t = text.smearing["IC86_I"]
    cells = np.unique(t[:, [0, 2]], axis=0, return_inverse=True)[1].ravel()
    np.testing.assert_allclose(np.bincount(cells, t[:, 10]), 1.0, atol=1e-3)


def test_livetime_and_counts(small_release):
    for s in small_release.seasons:
        span = synthetic.SEASON_SPANS[s.name]
        assert 0.85 < s.livetime_days / (span[1] - span[0]) < 1.0
        assert s.livetime_in(span[0], span[0] + 10) <= 10.0
    n40 = np.sum(small_release.events["season"] == 0)
    assert abs(n40 - 0.05 * synthetic.FULL_COUNTS["IC40"]) < 10


def test_effective_area_reader_recovers_model(small_release):
    a = small_release.aeff["IC86_II"]
    i = np.searchsorted(a.log_e_edges, 5.0)
    model = synthetic.detector.effective_area(np.array([5.05]), np.array([20.0]))
    assert abs(a.row(20.0)[i] / model[0] - 1) < 0.1


def _write_3year(root, rel):
    """The same events and irfs in the 3-year release format."""
    d = root / "3year-data-release"
    d.mkdir()
    ev = rel.events
    for k, name in enumerate(threeyear.SEASONS):
        m = ev["season"] == k
        cols = [ev["mjd"][m], ev["log_e"][m], ev["ang_err"][m], ev["ra"][m], ev["dec"][m],
                np.zeros(m.sum()), ev["dec"][m] + 90]
        np.savetxt(d / f"{name}-events.txt", np.column_stack(cols), fmt="%.8f",
                   header="MJD[days] log10(E/GeV) AngErr[deg] RA[deg] Dec[deg] Azimuth Zenith")
        a = rel.aeff[rel.seasons[k].irf]
        rows = []
        cz = np.linspace(-1, 1, 201)
        for j, (lo, hi) in enumerate(zip(a.log_e_edges[:-1], a.log_e_edges[1:], strict=True)):
            for c0, c1 in zip(cz[:-1], cz[1:], strict=True):
                dec = np.degrees(np.arcsin(-0.5 * (c0 + c1)))
                rows.append((10**lo, 10**hi, c0, c1, a.row(dec)[j] / 1e4))
        np.savetxt(d / f"{name}-TabulatedAeff.txt", np.array(rows), fmt="%.4e",
                   header="E_min[GeV] E_max[GeV] cos(zenith)_min cos(zenith)_max Aeff[m^2]")
        np.savetxt(d / f"{name}-AngRes.txt",
                   np.array([[10**e, 10 ** (e + 1), r] for e, r in
                             zip(range(2, 9), (1.3, 0.73, 0.49, 0.38, 0.33, 0.33, 0.36),
                                 strict=True)]),
                   fmt="%.3e", header="E_min[GeV] E_max[GeV] Med.Resolution[deg]")
    return d


def test_three_year_reader(tmp_path, small_release):
    d = _write_3year(tmp_path, small_release)
    rel = threeyear.read_3year(d)
    assert [s.name for s in rel.seasons] == list(threeyear.SEASONS)
    m = small_release.events["season"] < 3
    assert rel.n_events == int(m.sum())
    # Effective area converted from (E, cos zenith, m^2) to (dec, cm^2).
    a3, a10 = rel.aeff["IC86-2011"], small_release.aeff["IC59"]
    assert a3.values.shape == (200, a10.values.shape[1])
    i = np.searchsorted(a3.dec_edges, 30.0) - 1
    centre = np.degrees(np.arcsin(0.5 * np.sum(np.sin(np.radians(a3.dec_edges[i:i + 2])))))
    np.testing.assert_allclose(a3.row(30.0), a10.row(centre), rtol=2e-3, atol=1e-3)
    # Uptime from event times: close to the true livetime.
    true = small_release.seasons[1].livetime_days
    assert abs(rel.seasons[1].livetime_days / true - 1) < 0.1
    assert rel.meta["psf_correction"] is False
    t = rel.smearing["IC79-2010"]
    cells = np.unique(t[:, [0, 2]], axis=0, return_inverse=True)[1].ravel()
    sums = np.bincount(cells, t[:, 10])
    np.testing.assert_allclose(sums[sums > 0], 1.0, atol=1e-3)


def test_cache_is_mapped_deterministic_and_a_plain_npz(tmp_path, small_release_dir):
    """The cache maps its arrays from the file (64-byte aligned, no copy), np.load still
    reads it, and converting the same release twice gives the same bytes."""
    a = release.save_cache(release.prepare(release.read_10year(small_release_dir)),
                           tmp_path / "a.npz")
    b = release.save_cache(release.prepare(release.read_10year(small_release_dir)),
                           tmp_path / "b.npz")
    assert a.read_bytes() == b.read_bytes()
    rel = release.load_cache(a)
    for arr in (rel.events["ra"], rel.smearing["IC86_II"], *rel.derived.values()):
        assert not arr.flags.owndata and arr.ctypes.data % 64 == 0
    with np.load(a) as z:
        np.testing.assert_array_equal(z["ev_dec"], rel.events["dec"])
        np.testing.assert_array_equal(z["smear_IC40"], rel.smearing["IC40"])
    # Copy-on-write: writing into a loaded array leaves the file unchanged.
    rel.events["ra"][:3] = -1.0
    assert a.read_bytes() == b.read_bytes()


def test_older_cache_is_completed_in_place(tmp_path, small_release):
    """A cache written by np.savez without the per-event products (the former layout) is
    read, completed once and rewritten; the analysis on it is the same."""
    from icecube_ps.likelihood import ENERGY_TABLE_KEY, PointSourceAnalysis

    old = {k: v for k, v in small_release.derived.items() if not k.startswith("events:")}
    old["energy_table:100:10:v0"] = np.zeros(3, dtype=np.float32)   # an outdated product
    path = tmp_path / release.CACHE_NAME
    arrays = {f"ev_{c}": v for c, v in small_release.events.items()}
    arrays.update({f"drv_{k}": v for k, v in old.items()})
    arrays.update({f"uptime_{i}": s.uptime for i, s in enumerate(small_release.seasons)})
    for irf, a in small_release.aeff.items():
        arrays.update({f"aeff_e_{irf}": a.log_e_edges, f"aeff_d_{irf}": a.dec_edges,
                       f"aeff_v_{irf}": a.values, f"smear_{irf}": small_release.smearing[irf]})
    header = {"version": release.CACHE_VERSION, "name": small_release.name,
              "meta": small_release.meta, "irfs": sorted(small_release.aeff),
              "seasons": [[s.name, s.irf] for s in small_release.seasons]}
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    np.savez(path, **arrays)
    assert release.cache_is_current(path)
    rel = release.load_current(path)
    assert set(rel.derived) == set(small_release.derived)
    again = release.load_cache(path)
    assert set(again.derived) == set(small_release.derived) and ENERGY_TABLE_KEY in again.derived
    assert not again.events["ra"].flags.owndata           # rewritten in the mapped layout
    ana, ref = PointSourceAnalysis(again), PointSourceAnalysis(small_release)
    for dec in (-30.0, 20.0, 60.0):
        a, b = ana.fit(150.0, dec, None), ref.fit(150.0, dec, None)
        assert (a.ts, a.ns, a.gamma) == (b.ts, b.ns, b.gamma)


def test_cold_request_imports_numpy_only(small_release_dir, analysis):
    """A fresh process answering one request (cache, analysis, gamma-free fit, limit)
    imports no scipy, astropy, matplotlib or numpy.random (nor, through the data manager,
    the converters and the synthetic generator) and draws no signal events:
    each costs a cold start milliseconds to a second. Same answer as in this process."""
    import subprocess
    import sys
    from pathlib import Path

    from icecube_ps import limits

    code = (
        "import json, sys\n"
        "from icecube_ps import data, limits, release  # data: as the notebook does\n"
        "from icecube_ps.likelihood import PointSourceAnalysis\n"
        f"ana = PointSourceAnalysis(release.open_release({str(small_release_dir)!r}))\n"
        "sel = ana.select(150.0, 20.0)\n"
        "fit = ana.fit_selection(sel, 20.0, None)\n"
        "ul = limits.ns_upper_limit(ana, sel, 20.0, 2.0, 0.9)\n"
        "print(json.dumps([[fit.ts, fit.ns, fit.gamma, ul], sorted(sys.modules)]))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parents[1]).stdout
    answer, modules = json.loads(out)
    heavy = [m for m in modules if m.split(".")[0] in ("scipy", "astropy", "matplotlib")
             or m.startswith(("numpy.random", "icecube_ps.inject", "icecube_ps.synthetic",
                              "icecube_ps.threeyear", "icecube_ps.detector"))]
    assert heavy == []
    sel = analysis.select(150.0, 20.0)
    fit = analysis.fit_selection(sel, 20.0, None)
    assert answer == [fit.ts, fit.ns, fit.gamma,
                      limits.ns_upper_limit(analysis, sel, 20.0, 2.0, 0.9)]
