"""Validation of the H.E.S.S. spectrum and light-curve services (prints figures).

  .venv/bin/python bench/hess_spectrum_validation.py synthetic --seeds 20
  .venv/bin/python bench/hess_spectrum_validation.py dr1          # needs /work/shared DR1
  .venv/bin/python bench/hess_spectrum_validation.py lightcurve --seeds 10
  .venv/bin/python bench/hess_spectrum_validation.py speed

synthetic: Crab-only releases (4 runs of 0.5 h) from hess_dl3.synthetic, one per seed; the
fitted power law against the injected one (pulls, fraction within 2 sigma) and flux-point
coverage of the true model (1-sigma points, 2-sigma limits).
dr1: the Crab Nebula's 4 DR1 runs through the service and through an independent gammapy
tutorial-style chain (DataStore -> SpectrumDatasetMaker -> ReflectedRegions -> joint Fit of
the per-run datasets), and the published DR1 numbers; PKS 2155-304 per-run light curve.
lightcurve: the variable pks2155 of synthetic releases against truth-lightcurve.ecsv.
speed: a spectrum request on 10 observations, cold (reduction) and warm (cache), in-process
and through astroflow's Workflow.run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord

HESS = Path(__file__).resolve().parents[1] / "workflows" / "hess"
sys.path.insert(0, str(HESS))
sys.path.insert(0, str(HESS / "tests"))

from conftest import cached_release  # noqa: E402  (the tests' cached synthetic releases)
from hess_dl3 import spectrum as sp  # noqa: E402
from hess_dl3.reduction import on_region, reduce_observations  # noqa: E402
from hess_dl3.selection import select_observations  # noqa: E402
from hess_dl3.synthetic import truth_models  # noqa: E402

DR1 = Path("/work/shared/data/hess-dl3-dr1")
CRAB = SkyCoord(83.633, 22.0145, unit="deg")
PKS = SkyCoord(329.717, -30.2256, unit="deg")
E_MIN, E_MAX = 0.3 * u.TeV, 100 * u.TeV


def crab_fit(release: Path, cache: Path, radius: float, n_bins: int = 6) -> dict:
    """The service's chain on one release: fit, flux points, and the truth to compare."""
    truth = truth_models(release)["crab"].spectral_model
    selection = select_observations(release, CRAB)
    reduction = reduce_observations(selection, release, on_region(83.633, 22.0145, radius),
                                    cache_dir=cache)
    stacked = sp.stack(sp.restrict_energy(reduction.datasets, E_MIN, E_MAX))
    model = sp.fit(stacked, "power_law", "crab").model.spectral_model
    points = sp.flux_points(stacked, "crab", sp.energy_edges(stacked, E_MIN, E_MAX, n_bins))
    true_e2 = (points["e_ref"] ** 2 * truth(points["e_ref"])).to(points["e2dnde"].unit)
    detected = ~np.asarray(points["is_ul"], bool)
    inside = np.abs(points["e2dnde"] - true_e2) <= points["e2dnde_err"]
    return {
        "index": (model.index.value, model.index.error, truth.index.value),
        "amplitude": (model.amplitude.value, model.amplitude.error, truth.amplitude.value),
        "covered": int(np.sum(inside & detected)), "points": int(detected.sum()),
        "ul_covered": int(np.sum((true_e2 <= points["e2dnde_ul"]) & ~detected)),
        "uls": int((~detected).sum()),
    }


def synthetic(seeds: int, radius: float) -> None:
    cache = Path(tempfile.mkdtemp(prefix="hess-spectrum-bench-"))
    rows = []
    for seed in range(seeds):
        t0 = time.perf_counter()
        release = cached_release(seed, sources=("crab",), n_obs=4)
        t1 = time.perf_counter()
        row = crab_fit(release, cache, radius)
        rows.append(row)
        pulls = {k: (row[k][0] - row[k][2]) / row[k][1] for k in ("index", "amplitude")}
        print(f"seed {seed:3d}: index {row['index'][0]:.3f} ± {row['index'][1]:.3f} "
              f"(pull {pulls['index']:+.2f}), amplitude {row['amplitude'][0]:.3e} ± "
              f"{row['amplitude'][1]:.2e} (pull {pulls['amplitude']:+.2f}); points "
              f"{row['covered']}/{row['points']} covered, limits {row['ul_covered']}/"
              f"{row['uls']}; release {t1 - t0:.1f} s, analysis {time.perf_counter() - t1:.1f} s",
              flush=True)
    for key in ("index", "amplitude"):
        pulls = np.array([(r[key][0] - r[key][2]) / r[key][1] for r in rows])
        print(f"{key}: within 2 sigma {np.sum(np.abs(pulls) <= 2)}/{len(pulls)}, mean pull "
              f"{pulls.mean():+.2f} ± {pulls.std(ddof=1) / np.sqrt(len(pulls)):.2f}, "
              f"pull std {pulls.std(ddof=1):.2f}")
    covered, points = sum(r["covered"] for r in rows), sum(r["points"] for r in rows)
    print(f"flux points: 1-sigma interval covers the true model in {covered}/{points} "
          f"= {covered / max(points, 1):.1%} (expect 68%); upper limits above the truth "
          f"{sum(r['ul_covered'] for r in rows)}/{sum(r['uls'] for r in rows)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=("synthetic", "dr1", "lightcurve", "speed"))
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--radius", type=float, default=0.11, help="on-region radius (deg)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    {"synthetic": lambda: synthetic(args.seeds, args.radius)}[args.what]()


if __name__ == "__main__":
    main()
