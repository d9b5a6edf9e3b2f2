"""Validation of the H.E.S.S. sky-map service (workflows/hess/hess_dl3/skymap.py); prints figures.

  .venv/bin/python bench/hess_map_validation.py dr1          # real DR1 (absent: skipped)
  .venv/bin/python bench/hess_map_validation.py null [--seeds 0 1 2 3]
  .venv/bin/python bench/hess_map_validation.py sources [--seeds 0]
  .venv/bin/python bench/hess_map_validation.py speed

dr1:   Crab map of its 4 runs (peak position and significance), MSH 15-52 (extended), and the
       service's maps against an independent gammapy chain written as in gammapy's tutorials
       (MapDataset.create + MapDatasetMaker, SafeMaskMaker, FoVBackgroundMaker, stack in a loop,
       RingBackgroundMaker, ExcessMapEstimator) with the same settings, pixel by pixel; and
       the tutorials' default correlate_off=True against the service's correlate_off=False.
null:  synthetic releases: significance at independent positions (a grid spaced by more than
       twice the correlation radius, outside the excluded circles) in the empty fields and
       in the source fields away from the sources, pooled over seeds: mean and width, ring
       and fov; and the same with a background scaled by 0.9 (a broken normalisation) to show
       the check has power.
sources: synthetic Crab-like, PKS 2155-like and extended sources: peak against the true
       position, excess against the counts the truth model predicts (pull in sqrt(counts)),
       the faint extended source also in a release with 24 runs of it.
speed: a 2x2 deg map with 0.02 deg pixels, cold and warm, in-process and via Workflow.run.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflows" / "hess"))

from hess_dl3.selection import select_observations  # noqa: E402
from hess_dl3.skymap import MapSettings, estimate_maps, sky_maps  # noqa: E402

DR1 = Path("/work/shared/data/hess-dl3-dr1")
CRAB = SkyCoord(83.633, 22.0145, unit="deg")
MSH = SkyCoord(228.53, -59.17, unit="deg")


def tutorial_chain(selection, settings: MapSettings, regions, correlate_off: bool):
    """The gammapy tutorials' chain, written independently of the service's code."""
    from gammapy.datasets import MapDataset
    from gammapy.estimators import ExcessMapEstimator
    from gammapy.makers import (
        FoVBackgroundMaker,
        MapDatasetMaker,
        RingBackgroundMaker,
        SafeMaskMaker,
    )
    from gammapy.maps import MapAxis

    geom = settings.analysis_geom()
    exclusion = geom.to_image().region_mask(regions, inside=False)
    energy_true = MapAxis.from_energy_bounds(0.3, 100, 12, unit="TeV", name="energy_true")
    stacked = MapDataset.create(geom=geom, energy_axis_true=energy_true, name="stacked")
    maker = MapDatasetMaker()
    safe = SafeMaskMaker(methods=["offset-max"], offset_max=settings.offset_max * u.deg)
    fov = FoVBackgroundMaker(method="scale", exclusion_mask=exclusion)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for obs in selection.observations():
            dataset = maker.run(stacked.copy(name=f"obs-{obs.obs_id}"), obs)
            dataset = safe.run(dataset, obs)
            dataset = fov.run(dataset)
            stacked.stack(dataset)
        image = stacked.to_image()
        if settings.background == "ring":
            image = RingBackgroundMaker(r_in=settings.ring_inner_radius * u.deg,
                                        width=settings.ring_width * u.deg,
                                        exclusion_mask=exclusion).run(image)
        result = ExcessMapEstimator(settings.correlation_radius * u.deg, selection_optional=[],
                                    correlate_off=correlate_off).run(image)
    m, n = settings.margin_pixels, settings.npix
    return {"significance": result["sqrt_ts"].data[0, m:m + n, m:m + n],
            "excess": result["npred_excess"].data[0, m:m + n, m:m + n]}


def peak(maps) -> tuple[float, SkyCoord]:
    sig = maps.significance
    iy, ix = np.unravel_index(np.nanargmax(sig.data), sig.data.shape)
    return float(sig.data[iy, ix]), sig.geom.pix_to_coord((ix, iy))


def run_dr1(cache: Path) -> dict:
    if not (DR1 / "obs-index.fits.gz").is_file():
        print(f"DR1 absent at {DR1}: skipped")
        return {}
    out: dict = {}
    for name, target, width in (("crab", CRAB, 2.0), ("msh15-52", MSH, 3.0)):
        selection = select_observations(DR1, target)
        for background in ("ring", "fov"):
            settings = MapSettings(target, width=width, background=background)
            maps = sky_maps(selection, settings, cache_dir=cache)
            value, (ra, dec) = peak(maps)
            where = SkyCoord(ra, dec)
            row = {"obs": len(selection.obs_ids), "livetime_h": round(
                float(selection.livetime.to_value(u.h)), 3), "peak_sigma": round(value, 2),
                "peak_offset_deg": round(float(where.separation(target).deg), 4),
                "sigma_at_target": round(maps.value_at("significance", target), 2),
                "excess_at_target": round(maps.value_at("excess", target), 1),
                "hotspots": len(maps.hotspots())}
            reference = tutorial_chain(selection, settings, maps.regions, correlate_off=False)
            mine = maps.significance.data
            both = np.isfinite(mine) & np.isfinite(reference["significance"])
            row["tutorial_max_abs_diff_sigma"] = float(np.max(np.abs(
                mine[both] - reference["significance"][both])))
            row["tutorial_max_abs_diff_excess"] = float(np.nanmax(np.abs(
                maps.excess.data[both] - reference["excess"][both])))
            row["tutorial_pixels_compared"] = int(both.sum())
            if background == "ring":
                default = tutorial_chain(selection, settings, maps.regions, correlate_off=True)
                row["tutorial_default_correlate_off_peak"] = round(
                    float(np.nanmax(default["significance"])), 2)
                off = np.isfinite(default["significance"]) & both & (
                    maps.exclusion.data.astype(bool))
                row["width_outside_exclusion_service"] = round(float(np.std(mine[off])), 3)
                row["width_outside_exclusion_correlate_off_true"] = round(
                    float(np.std(default["significance"][off])), 3)
            out[f"{name}/{background}"] = row
            print(name, background, json.dumps(row))
    return out


def independent_values(maps, settings: MapSettings, spacing: float) -> np.ndarray:
    """(significance, background counts) on a grid spaced `spacing` deg whose correlation
    circles lie wholly outside the excluded circles, inside the safe area, 0.1 deg clear of
    the map's edge; shape (n, 2)."""
    from regions import CircleSkyRegion

    sig = maps.significance
    step = max(1, int(round(spacing / settings.binsz)))
    edge = int(round(0.1 / settings.binsz))
    grown = [CircleSkyRegion(r.center, r.radius + settings.correlation_radius * u.deg)
             for r in maps.regions]
    keep = sig.geom.region_mask(grown, inside=False).data & np.isfinite(sig.data)
    values = []
    for iy in range(edge, sig.data.shape[0] - edge, step):
        for ix in range(edge, sig.data.shape[1] - edge, step):
            if keep[iy, ix]:
                values.append((sig.data[iy, ix], maps.background.data[iy, ix]))
    return np.asarray(values).reshape(-1, 2)


def poisson_expectation(mu: np.ndarray) -> tuple[float, float]:
    """Mean and width of the signed sqrt(TS) of Poisson counts with known background mu,
    pooled over the positions: what an exact null gives (not 0 and 1 at low counts)."""
    from scipy.stats import poisson

    first, second = 0.0, 0.0
    for m in mu:
        n = np.arange(0, int(m + 10 * np.sqrt(m) + 20))
        p = poisson.pmf(n, m)
        with np.errstate(divide="ignore", invalid="ignore"):
            ts = 2 * (np.where(n > 0, n * np.log(n / m), 0.0) - (n - m))
        value = np.sign(n - m) * np.sqrt(np.clip(ts, 0, None))
        first += float((p * value).sum())
        second += float((p * value ** 2).sum())
    mean = first / len(mu)
    return mean, float(np.sqrt(second / len(mu) - mean ** 2))


def null_fields(release: Path) -> list[tuple[str, SkyCoord]]:
    """The pointing targets of a release (one per field), from its obs index."""
    from hess_dl3.selection import open_release

    table = open_release(release).obs_table
    seen: dict[str, SkyCoord] = {}
    for row in table:
        name = str(row["OBJECT"]).strip()
        if name not in seen:
            seen[name] = SkyCoord(float(row["RA_OBJ"]), float(row["DEC_OBJ"]), unit="deg")
    return list(seen.items())


def run_null(seeds: list[int], cache: Path, work: Path, broken: float = 0.9,
             radius: float = 0.2, e_min: float = 0.3, e_max: float = 100.0) -> dict:
    from hess_dl3 import skymap
    from hess_dl3.synthetic import generate_release

    spacing_factor = 2.2
    pooled: dict[str, list] = {}
    for seed in seeds:
        release = work / f"seed-{seed}"
        if not (release / "obs-index.fits.gz").is_file():
            started = time.perf_counter()
            generate_release(release, seed=seed)
            print(f"seed {seed}: release generated in {time.perf_counter() - started:.0f} s")
        for field, centre in null_fields(release):
            selection = select_observations(release, centre)
            for background in ("ring", "fov"):
                settings = MapSettings(centre, width=4.0, binsz=0.02, background=background,
                                       correlation_radius=radius, energy_min=e_min,
                                       energy_max=e_max)
                maps = sky_maps(selection, settings, cache_dir=cache)
                spacing = spacing_factor * settings.correlation_radius
                values = independent_values(maps, settings, spacing)
                pooled.setdefault(background, []).append(values)
                print(f"seed {seed} {field:>14s} {background}: n={len(values)} "
                      f"mean={values[:, 0].mean():+.3f} std={values[:, 0].std():.3f} "
                      f"median background {np.median(values[:, 1]):.1f}")
                if background == "fov":  # a broken background: template scaled by `broken`
                    stacked, _ = skymap.stacked_dataset(
                        selection, settings, maps.regions, cache=skymap.ReductionCache(cache))
                    stacked.background.data *= broken
                    bad = estimate_maps(stacked, settings, maps.regions)
                    bad_maps = type(maps)(settings=settings, selection=selection,
                                          observations=maps.observations,
                                          regions=maps.regions,
                                          **{k: skymap._crop(v, settings.margin_pixels,
                                                             settings.npix)
                                             for k, v in bad.items()})
                    pooled.setdefault(f"fov x{broken}", []).append(
                        independent_values(bad_maps, settings, spacing))
    summary = {}
    for key, chunks in pooled.items():
        both = np.concatenate(chunks)
        for cut in (0.0, 10.0):
            chosen = both[both[:, 1] >= cut]
            values = chosen[:, 0]
            expected = poisson_expectation(chosen[:, 1]) if not key.startswith("fov x") \
                else (float("nan"), float("nan"))
            row = {"positions": int(len(values)), "mean": round(float(values.mean()), 4),
                   "std": round(float(values.std(ddof=1)), 4),
                   "mean_error": round(float(values.std() / np.sqrt(len(values))), 4),
                   "poisson_null_mean": round(expected[0], 4),
                   "poisson_null_std": round(expected[1], 4)}
            summary[f"{key} background>={cut:g}"] = row
            print(f"{key} background>={cut:g}", json.dumps(row))
    return summary


def truth_counts(release: Path, name: str, radius: float, e_min: float, e_max: float) -> float:
    """Counts the injected model predicts within `radius` of its centre over the selected runs
    (exposure, PSF, energy dispersion from each run's IRFs; a variable source at its flux of
    that run from truth-lightcurve.ecsv)."""
    from astropy.table import Table
    from gammapy.datasets import MapDataset
    from gammapy.makers import MapDatasetMaker, SafeMaskMaker
    from gammapy.maps import MapAxis, WcsGeom
    from hess_dl3.synthetic import truth_models
    from regions import CircleSkyRegion

    model = truth_models(release)[name]
    centre = model.spatial_model.position
    curve = Table.read(release / "truth-lightcurve.ecsv")
    curve = curve[curve["source"] == name]
    reference = model.spectral_model.integral(1 * u.TeV, 1000 * u.TeV)
    scale = {int(r["obs_id"]): float(r["flux"] * curve["flux"].unit / reference) for r in curve}
    geom = WcsGeom.create(skydir=centre, binsz=0.02, width=2 * radius + 0.4, frame="icrs",
                          axes=[MapAxis.from_energy_bounds(e_min, e_max, 4, unit="TeV")])
    energy_true = MapAxis.from_energy_bounds(0.1, 200, 24, unit="TeV", name="energy_true")
    inside = geom.region_mask([CircleSkyRegion(centre, radius * u.deg)])
    total = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for obs in select_observations(release, centre).observations():
            dataset = MapDatasetMaker(selection=["exposure", "psf", "edisp"]).run(
                MapDataset.create(geom, energy_axis_true=energy_true), obs)
            dataset = SafeMaskMaker(methods=["offset-max"], offset_max=2.5 * u.deg).run(
                dataset, obs)
            dataset.models = [model.copy(name="truth")]
            npred = float((dataset.npred_signal() * inside * dataset.mask_safe).data.sum())
            total += npred * scale.get(int(obs.obs_id), 1.0)
    return total


def run_sources(seed: int, cache: Path, work: Path, extended_runs: int = 24) -> dict:
    """Synthetic sources: peak position against the truth, excess against the predicted
    counts; the extended source also in a release with `extended_runs` runs."""
    from hess_dl3.synthetic import generate_release, truth_models

    out = {}
    default = work / f"seed-{seed}"
    deep = work / f"extended-seed-{seed}-runs-{extended_runs}"
    for release, kwargs in ((default, {}), (deep, {"sources": ("extended",),
                                                   "n_obs": {"extended": extended_runs}})):
        if not (release / "obs-index.fits.gz").is_file():
            generate_release(release, seed=seed, **kwargs)
    cases = [(default, "crab", 0.2, 0.5), (default, "pks2155", 0.2, 0.5),
             (default, "extended", 0.4, 0.3), (deep, "extended", 0.4, 0.3)]
    for release, name, radius, e_min in cases:
        centre = truth_models(release)[name].spatial_model.position
        selection = select_observations(release, centre)
        for background in ("ring", "fov"):
            settings = MapSettings(centre, width=3.0, energy_min=e_min, energy_max=100.0,
                                   background=background, correlation_radius=radius,
                                   ring_inner_radius=max(0.6, radius + 0.5),
                                   exclusion_radius=max(0.3, radius + 0.3))
            maps = sky_maps(selection, settings, cache_dir=cache)
            value, (ra, dec) = peak(maps)
            expected = truth_counts(release, name, radius, e_min, 100.0)
            counts = maps.value_at("counts", centre)
            row = {"runs": len(selection.obs_ids), "peak_sigma": round(value, 2),
                   "peak_offset_deg": round(float(SkyCoord(ra, dec).separation(centre).deg), 3),
                   "sigma_at_truth": round(maps.value_at("significance", centre), 2),
                   "excess": round(maps.value_at("excess", centre), 1),
                   "truth_counts": round(expected, 1),
                   "pull": round((maps.value_at("excess", centre) - expected)
                                 / np.sqrt(counts), 2)}
            key = f"{release.name}/{name}/{background}"
            out[key] = row
            print(key, json.dumps(row))
    return out


def run_speed(cache: Path) -> dict:
    if not (DR1 / "obs-index.fits.gz").is_file():
        print(f"DR1 absent at {DR1}: speed measured on the synthetic release only by the tests")
        return {}
    selection = select_observations(DR1, CRAB)
    settings = MapSettings(CRAB, width=2.0, binsz=0.02)
    out = {}
    for label in ("cold", "warm", "warm2"):
        started = time.perf_counter()
        maps = sky_maps(selection, settings, cache_dir=cache)
        out[f"in_process_{label}_s"] = round(time.perf_counter() - started, 3)
        out[f"in_process_{label}_parts"] = {k: round(v, 3) for k, v in maps.timings.items()}
    print(json.dumps(out))
    # through astroflow: a data folder whose current release is DR1 (linked, not copied)
    from hess_dl3.data import write_current

    from astroflow import Workflow

    root = cache.parent / "data-root"
    shutil.rmtree(root, ignore_errors=True)
    (root / "hess").mkdir(parents=True)
    (root / "hess" / "dr1").symlink_to(DR1, target_is_directory=True)
    write_current(root / "hess", "dr1")
    workflow = Workflow.from_path(ROOT / "workflows" / "hess" / "hess_sky_map.py")
    for label in ("cold", "warm", "warm2"):
        started = time.perf_counter()
        result = workflow.run({}, job_dir=cache.parent / f"job-{label}", time_limit=300,
                              env={"ASTROFLOW_DATA_DIR": str(root)})
        out[f"workflow_run_{label}_s"] = round(time.perf_counter() - started, 3)
        assert result.status == "done", result.error
    print(json.dumps(out))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["dr1", "null", "sources", "speed"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir())
                        / "hess-map-validation")
    parser.add_argument("--keep-cache", action="store_true")
    parser.add_argument("--radius", type=float, default=0.2, help="null: correlation radius")
    parser.add_argument("--e-min", type=float, default=0.3, help="null: TeV")
    parser.add_argument("--e-max", type=float, default=100.0, help="null: TeV")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    cache = args.work / "cache"
    if not args.keep_cache and args.what == "speed":
        shutil.rmtree(cache, ignore_errors=True)
    if args.what == "dr1":
        run_dr1(cache)
    elif args.what == "null":
        run_null(args.seeds, cache, args.work, radius=args.radius, e_min=args.e_min,
                 e_max=args.e_max)
    elif args.what == "sources":
        run_sources(args.seeds[0], cache, args.work)
    else:
        run_speed(cache)


if __name__ == "__main__":
    main()
