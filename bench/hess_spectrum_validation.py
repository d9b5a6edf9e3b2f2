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
from hess_dl3 import lightcurve as lc  # noqa: E402
from hess_dl3 import spectrum as sp  # noqa: E402
from hess_dl3.reduction import ENERGY_AXIS, on_region, reduce_observations  # noqa: E402
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


def reference_crab(models: tuple[str, ...], like_service: bool = False) -> dict:
    """gammapy's spectral-analysis tutorial on the DR1 Crab runs, written independently of the
    service: its axes (0.1-40 TeV, 10/decade), its exclusion (a 0.5 deg circle at Galactic
    183.604, -8.708), one dataset per run fitted jointly. `like_service`: the service's energy
    axes and excluded sources instead, so that only the code differs."""
    from gammapy.data import DataStore
    from gammapy.datasets import Datasets, SpectrumDataset
    from gammapy.makers import ReflectedRegionsBackgroundMaker, SafeMaskMaker, SpectrumDatasetMaker
    from gammapy.maps import MapAxis, RegionGeom, WcsGeom
    from gammapy.modeling import Fit
    from gammapy.modeling.models import SkyModel
    from regions import CircleSkyRegion

    store = DataStore.from_dir(DR1)
    observations = store.get_observations([23523, 23526, 23559, 23592])
    region = CircleSkyRegion(center=CRAB, radius=0.11 * u.deg)
    exclusion_region = CircleSkyRegion(center=SkyCoord(183.604, -8.708, unit="deg",
                                                       frame="galactic"), radius=0.5 * u.deg)
    geom = WcsGeom.create(npix=(150, 150), binsz=0.05, skydir=CRAB.galactic, proj="TAN",
                          frame="icrs")
    exclusion_mask = ~geom.region_mask([exclusion_region])
    energy_axis = MapAxis.from_energy_bounds(0.1, 40, nbin=10, per_decade=True, unit="TeV",
                                             name="energy")
    energy_axis_true = MapAxis.from_energy_bounds(0.05, 100, nbin=20, per_decade=True,
                                                  unit="TeV", name="energy_true")
    if like_service:
        from hess_dl3.exclusion import exclusion_regions
        from hess_dl3.reduction import ENERGY_AXIS_TRUE

        exclusion_mask = ~geom.region_mask(exclusion_regions(DR1))
        energy_axis, energy_axis_true = ENERGY_AXIS, ENERGY_AXIS_TRUE
    empty = SpectrumDataset.create(geom=RegionGeom.create(region=region, axes=[energy_axis]),
                                   energy_axis_true=energy_axis_true)
    maker = SpectrumDatasetMaker(containment_correction=True,
                                 selection=["counts", "exposure", "edisp"])
    background = ReflectedRegionsBackgroundMaker(exclusion_mask=exclusion_mask)
    safe = SafeMaskMaker(methods=["aeff-max"], aeff_percent=10)
    datasets = Datasets()
    for observation in observations:
        dataset = maker.run(empty.copy(name=str(observation.obs_id)), observation)
        datasets.append(safe.run(background.run(dataset, observation), observation))
    out = {}
    for name in models:
        datasets.models = [SkyModel(spectral_model=sp.spectral_model(name), name="crab")]
        if like_service:
            for dataset in datasets:
                dataset.mask_fit = dataset.counts.geom.energy_mask(E_MIN, E_MAX)
        Fit().run(datasets)
        out[name] = datasets.models["crab"].spectral_model.copy()
    return out


def service_crab(models: tuple[str, ...], cache: Path) -> dict:
    from gammapy.modeling import Fit
    from gammapy.modeling.models import SkyModel

    selection = select_observations(DR1, CRAB)
    reduction = reduce_observations(selection, DR1, on_region(83.633, 22.0145, 0.11),
                                    cache_dir=cache)
    stacked = sp.stack(sp.restrict_energy(reduction.datasets, E_MIN, E_MAX))
    summary = sp.counts(sp.restrict_energy(reduction.datasets, E_MIN, E_MAX))
    print(f"service: {len(reduction.datasets)} runs {selection.obs_ids}, {summary.livetime:.2f}, "
          f"N_on {summary.n_on:.0f}, N_off {summary.n_off:.0f}, alpha {summary.alpha:.4f}, "
          f"excess {summary.excess:.1f}, Li & Ma {summary.significance:.1f} sigma")
    fits = {name: sp.fit(stacked, name, "crab").model.spectral_model.copy() for name in models}
    joint = sp.restrict_energy(reduction.datasets, E_MIN, E_MAX)
    for name in models:  # the same per-run datasets fitted jointly: what stacking changes
        joint.models = [SkyModel(spectral_model=sp.spectral_model(name), name="crab")]
        Fit().run(joint)
        fits[f"{name} joint"] = joint.models["crab"].spectral_model.copy()
    return fits


def _describe(model) -> str:
    return ", ".join(f"{p.name} {p.value:.4g} ± {p.error:.2g}" for p in model.parameters
                     if not p.frozen)


def dr1() -> None:
    if not (DR1 / "obs-index.fits.gz").is_file():
        print(f"DR1 absent ({DR1}); nothing to compare")
        return
    models = ("power_law", "log_parabola", "cutoff_power_law")
    service = service_crab(models, Path(tempfile.mkdtemp(prefix="hess-spectrum-bench-")))
    reference = reference_crab(models)
    same_choices = reference_crab(models, like_service=True)
    for name in models:
        print(f"{name}:\n  service (stacked)      : {_describe(service[name])}\n"
              f"  service runs, joint    : {_describe(service[name + ' joint'])}\n"
              f"  tutorial chain (joint) : {_describe(reference[name])}\n"
              f"  tutorial chain with the service's axes and exclusions (joint): "
              f"{_describe(same_choices[name])}")
        for p, q, r in zip(service[name].parameters, reference[name].parameters,
                           same_choices[name].parameters, strict=True):
            if not p.frozen:
                print(f"    {p.name}: service - tutorial {(p.value - q.value) / q.error:+.2f} "
                      f"sigma; service joint - tutorial with the service's choices "
                      f"{(service[name + ' joint'].parameters[p.name].value - r.value):+.2e}")
    print("published: H.E.S.S. 2006 (A&A 457, 899) power law index 2.63, amplitude 3.45e-11 "
          "cm-2 s-1 TeV-1 at 1 TeV (as quoted in gammapy's CrabSpectrum)")
    print("PKS 2155-304 per-run light curve above 1 TeV (DR1):")
    selection = select_observations(DR1, PKS)
    cache = Path(tempfile.mkdtemp(prefix="hess-lc-bench-"))
    reduction = reduce_observations(selection, DR1, on_region(329.717, -30.2256, 0.11),
                                    cache_dir=cache)
    stacked = sp.stack(sp.restrict_energy(reduction.datasets, 1 * u.TeV, 100 * u.TeV))
    index = sp.fit(stacked, "power_law", "pks").model.spectral_model.index.value
    table = lc.light_curve(reduction.datasets, lc.time_bins(selection.table, "run"), index,
                           "pks", 1 * u.TeV, ENERGY_AXIS.edges[-1])
    print(f"  index (fit above 1 TeV) {index:.3f}; {len(table)} runs, {int(table['is_ul'].sum())}"
          f" upper limits")
    for row in table:
        print(f"  {row['obs_id']:>6} MJD {row['time']:.4f} flux {row['flux']:.3e} ± "
              f"{row['flux_err']:.2e} (sig {row['significance']:5.1f})"
              + (f" UL {row['flux_ul']:.2e}" if row["is_ul"] else ""))


def lightcurve(seeds: int) -> None:
    """pks2155-only releases (6 runs): per-run flux above 1 TeV against the truth."""
    from astropy.table import Table

    cache = Path(tempfile.mkdtemp(prefix="hess-lc-bench-"))
    pulls, limits = [], []
    for seed in range(seeds):
        release = cached_release(seed, sources=("pks2155",), n_obs=6)
        truth = Table.read(release / "truth-lightcurve.ecsv")
        true_flux = {int(r["obs_id"]): float(r["flux"]) for r in truth
                     if r["source"] == "pks2155"}
        selection = select_observations(release, PKS)
        reduction = reduce_observations(selection, release, on_region(329.717, -30.2256, 0.11),
                                        cache_dir=cache)
        stacked = sp.stack(sp.restrict_energy(reduction.datasets, 1 * u.TeV, 100 * u.TeV))
        index = sp.fit(stacked, "power_law", "pks").model.spectral_model.index.value
        table = lc.light_curve(reduction.datasets, lc.time_bins(selection.table, "run"), index,
                               "pks", 1 * u.TeV, ENERGY_AXIS.edges[-1])
        for row in table:
            expected = true_flux[int(row["obs_id"])]
            if row["is_ul"]:
                limits.append(row["flux_ul"] >= expected)
            else:
                pulls.append((row["flux"] - expected) / row["flux_err"])
        print(f"seed {seed}: index {index:.2f}, pulls "
              + " ".join(f"{p:+.2f}" for p in pulls[-len(table):]), flush=True)
    pulls = np.array(pulls)
    print(f"per-run flux pulls: n {len(pulls)}, mean {pulls.mean():+.2f} ± "
          f"{pulls.std(ddof=1) / np.sqrt(len(pulls)):.2f}, std {pulls.std(ddof=1):.2f}, "
          f"|pull| <= 1: {np.mean(np.abs(pulls) <= 1):.1%}; upper limits above the truth "
          f"{sum(limits)}/{len(limits)}")


def speed() -> None:
    """A spectrum request on 10 PKS 2155-304 DR1 runs: cold (reduction) and warm (cache)."""
    import os
    import shutil

    from hess_dl3.data import write_current

    from astroflow import Workflow

    if not (DR1 / "obs-index.fits.gz").is_file():
        print(f"DR1 absent ({DR1})")
        return
    root = Path(tempfile.mkdtemp(prefix="hess-speed-"))
    (root / "hess").mkdir()
    (root / "hess" / "dr1").symlink_to(DR1, target_is_directory=True)
    write_current(root / "hess", "dr1")
    os.environ["ASTROFLOW_DATA_DIR"] = str(root)
    cache = root / "hess" / "cache" / "spectrum"
    selection = select_observations(DR1, PKS, max_observations=10)
    region = on_region(329.717, -30.2256, 0.11)
    for label in ("cold", "warm", "warm"):
        t0 = time.perf_counter()
        reduction = reduce_observations(selection, DR1, region, cache_dir=cache)
        t1 = time.perf_counter()
        datasets = sp.restrict_energy(reduction.datasets, E_MIN, E_MAX)
        summary = sp.counts(datasets)
        stacked = sp.stack(datasets)
        outcome = sp.fit(stacked, "power_law", "pks")
        t2 = time.perf_counter()
        edges = sp.energy_edges(stacked, E_MIN, E_MAX, 8)
        points = sp.flux_points(stacked, "pks", edges)
        sp.sed(points, outcome.model.spectral_model, edges)
        sp.fit_table(outcome, summary, "power_law")
        t3 = time.perf_counter()
        print(f"in-process {label}: reduction {t1 - t0:.2f} s, counts+stack+fit {t2 - t1:.2f} s,"
              f" flux points+SED {t3 - t2:.2f} s, total {t3 - t0:.2f} s", flush=True)
    shutil.rmtree(cache)
    workflow = Workflow.from_path(HESS / "hess_spectrum.py")
    values = {"src_name": "PKS 2155-304", "RA": 329.717, "DEC": -30.2256,
              "max_observations": 10}
    for label in ("cold", "warm", "warm", "warm"):
        t0 = time.perf_counter()
        result = workflow.run(values, job_dir=Path(tempfile.mkdtemp(prefix="hess-speed-job-")),
                              time_limit=300, env={"ASTROFLOW_DATA_DIR": str(root)})
        print(f"Workflow.run {label}: {result.status} in {time.perf_counter() - t0:.2f} s",
              flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=("synthetic", "dr1", "lightcurve", "speed"))
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--radius", type=float, default=0.11, help="on-region radius (deg)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    {"synthetic": lambda: synthetic(args.seeds, args.radius), "dr1": dr1,
     "lightcurve": lambda: lightcurve(args.seeds), "speed": speed}[args.what]()


if __name__ == "__main__":
    main()
