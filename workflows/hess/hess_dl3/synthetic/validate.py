"""Statistical checks of the generator, too long for the tests: prints figures.

    python -m hess_dl3.synthetic.validate [--seeds 20] [--first-seed 0] [--dr1 PATH]

1. Crab index and amplitude pulls over many seeds (crab-only releases of 4 half-hour runs):
   a 3-D fit of the written files with the true background (mean ~0 and width ~1 if the
   events follow the model and the IRFs written are those used to sample them), and the
   standard 1-D reflected-regions analysis (what a spectrum service does).
2. Counts against npred (rebuilt from the written files) for every run of the default
   release: Poisson pulls.
3. Orders of magnitude against the real DR1 (if present): effective area, PSF, events per
   run and safe threshold against zenith.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord
from gammapy.data import DataStore
from gammapy.datasets import MapDataset, SpectrumDataset
from gammapy.makers import (
    MapDatasetMaker,
    ReflectedRegionsBackgroundMaker,
    SafeMaskMaker,
    SpectrumDatasetMaker,
)
from gammapy.maps import MapAxis, RegionGeom
from gammapy.modeling import Fit
from gammapy.modeling.models import FoVBackgroundModel, PowerLawSpectralModel, SkyModel
from regions import CircleSkyRegion

from . import generate_release, truth_models
from .release import simulation_geom

CRAB = SkyCoord(83.633, 22.0145, unit="deg")


def fit_crab_spectrum(release: Path, radius: u.Quantity = 0.11 * u.deg) -> PowerLawSpectralModel:
    """Power law fitted to the Crab: ON region, reflected OFF regions, containment-corrected
    exposure, safe range from 10% of the maximum area; stacked over all runs."""
    store = DataStore.from_dir(release)
    region = CircleSkyRegion(CRAB, radius)
    energy = MapAxis.from_energy_bounds(0.5, 50, nbin=12, unit="TeV")
    energy_true = MapAxis.from_energy_bounds(0.2, 100, nbin=25, unit="TeV", name="energy_true")
    empty = SpectrumDataset.create(RegionGeom.create(region, axes=[energy]),
                                   energy_axis_true=energy_true)
    maker = SpectrumDatasetMaker(selection=["counts", "exposure", "edisp"],
                                 containment_correction=True)
    background = ReflectedRegionsBackgroundMaker()
    safe = SafeMaskMaker(methods=["aeff-max"], aeff_percent=10)
    stacked = None
    for observation in store.get_observations():
        dataset = maker.run(empty.copy(name=f"o{observation.obs_id}"), observation)
        dataset = safe.run(background.run(dataset, observation), observation)
        if stacked is None:
            stacked = dataset.copy(name="crab")
        else:
            stacked.stack(dataset)
    model = PowerLawSpectralModel(index=2, amplitude=1e-11 * u.Unit("cm-2 s-1 TeV-1"),
                                  reference=1 * u.TeV)
    stacked.models = [SkyModel(spectral_model=model, name="crab")]
    if not Fit().run([stacked]).success:
        raise RuntimeError(f"the Crab fit of {release} did not converge")
    return model


def dataset_from_files(store: DataStore, obs_id: int) -> MapDataset:
    """A run's MapDataset rebuilt from its written IRFs, on the generator's geometry."""
    observation = store.obs(obs_id)
    geom = simulation_geom(observation.get_pointing_icrs(observation.tmid))
    energy_true = MapAxis.from_energy_bounds(0.1, 100, nbin=9, per_decade=True, unit="TeV",
                                             name="energy_true")
    empty = MapDataset.create(geom, energy_axis_true=energy_true, name=f"o{obs_id}",
                              binsz_irf=0.5 * u.deg)
    return MapDatasetMaker().run(empty, observation)


def run_npred(release: Path, obs_id: int) -> tuple[int, float]:
    """(events, npred) of one run with the release's truth (variable sources at their run's
    flux from truth-lightcurve.ecsv) plus its background IRF."""
    from astropy.table import Table

    store = DataStore.from_dir(release)
    dataset = dataset_from_files(store, obs_id)
    truth = truth_models(release)
    curve = Table.read(release / "truth-lightcurve.ecsv")
    models = []
    for model in truth:
        model = model.copy(name=model.name)
        rows = curve[(curve["obs_id"] == obs_id) & (curve["source"] == model.name)]
        if len(rows):
            quiescent = model.spectral_model.integral(1 * u.TeV, 1000 * u.TeV)
            model.spectral_model.amplitude.value *= float(rows["flux"].quantity[0] / quiescent)
        models.append(model)
    inside = [m for m in models if dataset.counts.geom.to_image().contains(m.position)[0]]
    dataset.models = inside + [FoVBackgroundModel(dataset_name=dataset.name)]
    return len(store.obs(obs_id).events.table), float(dataset.npred().data.sum())


def fit_crab_3d(release: Path) -> PowerLawSpectralModel:
    """The Crab's power law fitted jointly on every run's MapDataset rebuilt from the files
    (counts from the events; background = the BKG IRF, fixed; position fixed; above 0.5 TeV)."""
    store = DataStore.from_dir(release)
    model = truth_models(release)["crab"].copy(name="crab")
    model.spectral_model.index.value = 2.0
    model.spatial_model.freeze()
    datasets = []
    for obs_id in store.obs_table["OBS_ID"]:
        dataset = dataset_from_files(store, int(obs_id))
        dataset.mask_safe = dataset.counts.geom.energy_mask(energy_min=0.5 * u.TeV)
        background = FoVBackgroundModel(dataset_name=dataset.name)
        background.freeze()
        dataset.models = [model, background]
        datasets.append(dataset)
    if not Fit().run(datasets).success:
        raise RuntimeError(f"the 3-D Crab fit of {release} did not converge")
    return model.spectral_model


def crab_pulls(seeds: int, first_seed: int = 0) -> None:
    pulls: dict[str, list[float]] = {}
    seconds = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(first_seed, first_seed + seeds):
            start = time.perf_counter()
            release = generate_release(Path(tmp) / f"s{seed}", seed=seed, sources=("crab",),
                                       n_obs=4)
            seconds.append(time.perf_counter() - start)
            truth = truth_models(release)["crab"].spectral_model
            line = f"  seed {seed:3d} (generated in {seconds[-1]:.1f} s):"
            for method, fit in (("3-D", fit_crab_3d), ("1-D", fit_crab_spectrum)):
                model = fit(release)
                for name in ("index", "amplitude"):
                    fitted, true = model.parameters[name], truth.parameters[name]
                    pulls.setdefault(f"{method} {name}", []).append(
                        (fitted.value - true.value) / fitted.error)
                line += (f"  {method} index {model.index.value:.3f} ± {model.index.error:.3f}"
                         f" amplitude {model.amplitude.value:.2e} ± "
                         f"{model.amplitude.error:.1e}")
            print(line)
    for name, values in pulls.items():
        values = np.array(values)
        print(f"{name} pull over {seeds} seeds: mean {values.mean():+.2f} ± "
              f"{values.std(ddof=1) / np.sqrt(seeds):.2f}, std {values.std(ddof=1):.2f}, "
              f"|pull| < 1 in {np.mean(np.abs(values) < 1):.0%} (68% expected)")
    print(f"generate_release(crab, n_obs=4): median {np.median(seconds):.1f} s, "
          f"max {np.max(seconds):.1f} s")


def npred_pulls(dr1: Path | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        release = generate_release(Path(tmp) / "default", seed=0)
        print(f"default release (seed 0) generated in {time.perf_counter() - start:.1f} s")
        store = DataStore.from_dir(release)
        pulls = []
        for obs_id in store.obs_table["OBS_ID"]:
            counts, npred = run_npred(release, int(obs_id))
            pulls.append((counts - npred) / np.sqrt(npred))
            print(f"  run {obs_id}: {counts} events, npred {npred:.1f}, pull {pulls[-1]:+.2f}")
        pulls = np.array(pulls)
        print(f"counts vs npred over {len(pulls)} runs: mean pull {pulls.mean():+.2f}, "
              f"std {pulls.std(ddof=1):.2f}")
        compare_with_dr1(store, dr1)


def compare_with_dr1(store: DataStore, dr1: Path | None) -> None:
    table = store.obs_table
    print("synthetic: zenith, events per run, safe threshold (TeV)")
    for row in table:
        print(f"  {row['OBJECT']:24s} {row['ZEN_PNT']:5.1f}° {row['EVENT_COUNT']:6d} "
              f"{row['SAFE_ENERGY_LO']:.2f}")
    observation = store.obs(int(table["OBS_ID"][0]))
    describe_irfs("synthetic", observation)
    if dr1 is not None and (dr1 / "obs-index.fits.gz").is_file():
        real = DataStore.from_dir(dr1)
        print("DR1: zenith, events per run, safe threshold (TeV), first 12 runs")
        for row in real.obs_table[:12]:
            print(f"  {row['OBJECT']:24s} {row['ZEN_PNT']:5.1f}° {row['EVENT_COUNT']:6d} "
                  f"{row['SAFE_ENERGY_LO']:.2f}")
        describe_irfs("DR1 run 23523 (Crab)", real.obs(23523))
        print(f"DR1 events per run: median {np.median(real.obs_table['EVENT_COUNT']):.0f}")


def describe_irfs(label: str, observation) -> None:
    energy = [0.3, 1, 10] * u.TeV
    area = observation.aeff.evaluate(energy_true=energy, offset=0.5 * u.deg).to("m2")
    psf = observation.psf.containment_radius(0.68, energy_true=energy, offset=0.5 * u.deg)
    print(f"{label}: Aeff(0.5°) at {energy.value} TeV = {np.round(area.value, -2)} m², "
          f"PSF 68% = {np.round(psf.to_value('deg'), 3)}°")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20, help="how many seeds")
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--dr1", type=Path, default=None, help="real DR1 folder to compare")
    args = parser.parse_args(argv)
    crab_pulls(args.seeds, args.first_seed)
    npred_pulls(args.dr1)


if __name__ == "__main__":
    main()
