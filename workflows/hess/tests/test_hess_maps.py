"""Sky maps: sources where the truth puts them with the excess it predicts, N(0,1) significance
where there is no source (and a broken background caught), the cache, bad input refused by
name, and the notebook through astroflow (FITS with WCS + PNG, picture, hotspots)."""

from __future__ import annotations

import threading
import warnings
from pathlib import Path

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS
from gammapy.datasets import MapDataset
from gammapy.makers import MapDatasetMaker, SafeMaskMaker
from gammapy.maps import MapAxis, WcsGeom
from hess_dl3 import skymap
from hess_dl3.errors import AnalysisError
from hess_dl3.selection import open_release, select_observations
from hess_dl3.skymap import MapSettings, ReductionCache, estimate_maps, sky_maps
from hess_dl3.synthetic import truth_models
from regions import CircleSkyRegion

from astroflow import Workflow
from astroflow.products.stored import product_path
from astroflow.workflow.validation import ValidationError

HERE = Path(__file__).resolve().parents[1]
CRAB = SkyCoord(83.633, 22.0145, unit="deg")


# -- helpers ------------------------------------------------------------------------------------

#: Below ~10 background counts in the circle, the Poisson significance of a true null is
#: itself off N(0, 1) (mean -1/(6 sqrt(mu)): -0.08 at 5 counts); the check is made above it.
MIN_BACKGROUND = 10.0


def independent_values(maps: skymap.SkyMaps, spacing: float, edge: float = 0.1) -> np.ndarray:
    """Significance on a grid `spacing` deg apart (beyond two correlation radii, so the
    circles do not share events) whose correlation circles lie wholly outside the excluded
    circles, clear of the map's edge."""
    sig = maps.significance
    step = int(round(spacing / maps.settings.binsz))
    rim = int(round(edge / maps.settings.binsz))
    grown = [CircleSkyRegion(r.center, r.radius + maps.settings.correlation_radius * u.deg)
             for r in maps.regions]
    keep = sig.geom.region_mask(grown, inside=False).data & np.isfinite(sig.data)
    keep &= np.nan_to_num(maps.background.data) >= MIN_BACKGROUND
    grid = np.zeros_like(keep)
    grid[rim:-rim:step, rim:-rim:step] = True
    return sig.data[grid & keep]


def fields(release: Path) -> dict[str, SkyCoord]:
    """One centre per field of a release (its targets), from the obs index."""
    table = open_release(release).obs_table
    out: dict[str, SkyCoord] = {}
    for row in table:
        out.setdefault(str(row["OBJECT"]).strip(),
                       SkyCoord(float(row["RA_OBJ"]), float(row["DEC_OBJ"]), unit="deg"))
    return out


def truth_excess(release: Path, name: str, radius: float, e_min: float, e_max: float) -> float:
    """Counts the injected model predicts within `radius` of its centre (gammapy's own
    exposure, PSF and energy dispersion of each selected run): what a map should measure."""
    model = truth_models(release)[name]
    centre = model.spatial_model.position
    selection = select_observations(release, centre)
    energy = MapAxis.from_energy_bounds(e_min, e_max, 4, unit="TeV")
    energy_true = MapAxis.from_energy_bounds(0.1, 200, 24, unit="TeV", name="energy_true")
    geom = WcsGeom.create(skydir=centre, binsz=0.02, width=2 * radius + 0.4, frame="icrs",
                          axes=[energy])
    inside = geom.region_mask([CircleSkyRegion(centre, radius * u.deg)])
    # a variable source's flux per run, relative to its truth model (above 1 TeV)
    curve = Table.read(release / "truth-lightcurve.ecsv")
    curve = curve[curve["source"] == name]
    reference = model.spectral_model.integral(1 * u.TeV, 1000 * u.TeV)
    scale = {int(r["obs_id"]): float(r["flux"] * curve["flux"].unit / reference)
             for r in curve}
    total = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for observation in selection.observations():
            dataset = MapDatasetMaker(selection=["exposure", "psf", "edisp"]).run(
                MapDataset.create(geom, energy_axis_true=energy_true), observation)
            dataset = SafeMaskMaker(methods=["offset-max"], offset_max=2.5 * u.deg).run(
                dataset, observation)
            dataset.models = [model.copy(name="truth")]
            npred = float((dataset.npred_signal() * inside * dataset.mask_safe).data.sum())
            total += npred * scale.get(int(observation.obs_id), 1.0)
    return total


def run_notebook(data_root: Path, values: dict, job_dir: Path):
    return Workflow.from_path(HERE / "hess_sky_map.py").run(
        values, job_dir=job_dir, time_limit=120, env={"ASTROFLOW_DATA_DIR": str(data_root)})


def error_text(result) -> str:
    error = result.error
    return str(getattr(error, "evalue", None) or (error or {}).get("evalue", error))


# -- bad input ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("changes", "words"), [
    ({"width": 8.0}, "map width"),
    ({"width": 6.0, "binsz": 0.005}, "pixel size 0.005 deg is too small"),
    ({"binsz": 0.001}, "pixel size"),
    ({"energy_min": 10.0, "energy_max": 1.0}, "E_min (10 TeV) must be below E_max"),
    ({"energy_min": 2.0, "energy_max": 2.0}, "E_min (2 TeV) must be below E_max"),
    ({"background": "flat"}, "background method 'flat'"),
    ({"correlation_radius": 0.6, "ring_inner_radius": 0.5}, "ring inner radius"),
    ({"correlation_radius": -0.1}, "correlation radius"),
    ({"correlation_radius": 0.0}, "correlation radius 0 deg must be in .pixel size"),
])
def test_bad_settings_are_named(changes, words):
    with pytest.raises(AnalysisError, match=words.replace("(", r"\(").replace(")", r"\)")):
        MapSettings(CRAB, **changes).check()


def test_fov_background_needs_no_ring_check():
    MapSettings(CRAB, background="fov", correlation_radius=0.6, ring_inner_radius=0.5).check()


def test_empty_selection_says_what_exists(synthetic_release):
    nowhere = SkyCoord(180.0, 60.0, unit="deg")
    with pytest.raises(AnalysisError, match="no observation pointed within 2 deg.*"
                                            "observations from .*Crab Nebula"):
        select_observations(synthetic_release, nowhere)


# -- sources at their true positions ---------------------------------------------------------------

def test_point_sources_at_truth_with_predicted_excess(synthetic_release, tmp_path):
    """Crab-like and PKS 2155-like: the peak within 0.05 deg of the injected position; the
    excess in 0.2 deg matches the injected model's predicted counts within 3 sigma."""
    truth = truth_models(synthetic_release)
    for name in ("crab", "pks2155"):
        position = truth[name].spatial_model.position
        selection = select_observations(synthetic_release, position)
        settings = MapSettings(position, width=2.0, energy_min=0.5, energy_max=100.0,
                               correlation_radius=0.2, ring_inner_radius=0.6)
        maps = sky_maps(selection, settings, cache_dir=tmp_path)
        hot = maps.hotspots()
        assert len(hot) >= 1 and hot["significance"][0] == pytest.approx(maps.max_significance)
        peak = SkyCoord(hot["ra"][0], hot["dec"][0], unit="deg")
        assert peak.separation(position).deg < 0.05, (name, peak)
        assert maps.max_significance > 15
        measured = maps.value_at("excess", position)
        counts = maps.value_at("counts", position)
        expected = truth_excess(synthetic_release, name, 0.2, 0.5, 100.0)
        assert abs(measured - expected) < 3 * np.sqrt(counts), (name, measured, expected)


def test_extended_source_excess_matches_truth(synthetic_release, tmp_path):
    """The faint extended source (Gaussian, sigma 0.2 deg; ~3 sigma expected in 4 runs):
    its excess within 0.4 deg of the truth position agrees with the predicted counts.
    (Its detection at the true position in a deeper release: bench/hess_map_validation.py
    sources.)"""
    position = truth_models(synthetic_release)["extended"].spatial_model.position
    selection = select_observations(synthetic_release, position)
    settings = MapSettings(position, width=3.0, energy_min=0.3, energy_max=100.0,
                           correlation_radius=0.4, ring_inner_radius=0.9, ring_width=0.3,
                           exclusion_radius=0.7)
    maps = sky_maps(selection, settings, cache_dir=tmp_path)
    measured = maps.value_at("excess", position)
    counts = maps.value_at("counts", position)
    expected = truth_excess(synthetic_release, "extended", 0.4, 0.3, 100.0)
    assert expected > 20
    assert abs(measured - expected) < 3 * np.sqrt(counts), (measured, expected)


# -- the same as gammapy's tutorial chain ----------------------------------------------------

@pytest.mark.parametrize("background", ["ring", "fov"])
def test_maps_equal_an_independent_tutorial_chain(synthetic_release, background, tmp_path):
    """The cached, incrementally stacked reduction gives the maps of the plain chain of
    gammapy's tutorials (create, make, mask, normalise, stack in a loop) pixel for pixel."""
    from gammapy.estimators import ExcessMapEstimator
    from gammapy.makers import FoVBackgroundMaker, RingBackgroundMaker

    selection = select_observations(synthetic_release, CRAB)
    settings = MapSettings(CRAB, width=1.5, background=background)
    sky_maps(selection, settings, cache_dir=tmp_path)  # fill the cache: compare warm maps
    maps = sky_maps(selection, settings, cache_dir=tmp_path)
    assert maps.observations["from_cache"].all()

    geom = settings.analysis_geom()
    exclusion = geom.to_image().region_mask(maps.regions, inside=False)
    energy_true = MapAxis.from_energy_bounds(0.5, 20, 3, unit="TeV", name="energy_true")
    stacked = MapDataset.create(geom=geom, energy_axis_true=energy_true, name="stacked")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for observation in selection.observations():
            dataset = MapDatasetMaker(selection=["counts", "background"]).run(
                stacked.copy(name=f"obs-{observation.obs_id}"), observation)
            dataset = SafeMaskMaker(methods=["offset-max"], offset_max=2.5 * u.deg).run(
                dataset, observation)
            stacked.stack(FoVBackgroundMaker(method="scale", exclusion_mask=exclusion)
                          .run(dataset))
        image = stacked.to_image()
        if background == "ring":
            image = RingBackgroundMaker(r_in=0.5 * u.deg, width=0.3 * u.deg,
                                        exclusion_mask=exclusion).run(image)
        result = ExcessMapEstimator(0.1 * u.deg, selection_optional=[],
                                    correlate_off=False).run(image)
    m, n = settings.margin_pixels, settings.npix
    for mine, theirs in ((maps.significance, result["sqrt_ts"]),
                         (maps.excess, result["npred_excess"])):
        expected = theirs.data[0, m:m + n, m:m + n]
        both = np.isfinite(mine.data)
        assert both.sum() > 0.9 * n * n
        # equal up to float32 rounding: the cache keeps each run's energy sum, the chain sums
        # the stack (a masking or stacking error shows as 0.02-0.1 sigma at the edges)
        np.testing.assert_allclose(mine.data[both], expected[both], rtol=0, atol=1e-5)


# -- background only: N(0, 1) ---------------------------------------------------------------------

NULL_SETTINGS = {"width": 4.0, "energy_min": 0.3, "energy_max": 100.0, "correlation_radius": 0.2}


def null_values(maps: skymap.SkyMaps, cache: Path, scale: float = 1.0) -> np.ndarray:
    """Significance at independent positions of a field's map; `scale` != 1 multiplies the
    stacked background template first (a broken normalisation)."""
    if scale != 1.0:
        settings, regions = maps.settings, maps.regions
        stacked, _ = skymap.stacked_dataset(maps.selection, settings, regions,
                                            cache=ReductionCache(cache))
        stacked.background.data *= scale
        broken = estimate_maps(stacked, settings, regions)
        m, n = settings.margin_pixels, settings.npix
        maps = skymap.SkyMaps(settings=settings, selection=maps.selection,
                              observations=maps.observations, regions=regions,
                              **{k: skymap._crop(v, m, n) for k, v in broken.items()})
    return independent_values(maps, spacing=2.2 * maps.settings.correlation_radius)


@pytest.fixture(scope="module")
def null_maps(synthetic_release, tmp_path_factory
              ) -> tuple[dict[str, list[skymap.SkyMaps]], Path]:
    """Maps of every field of the release (4x4 deg around each target: the sources with the
    excluded circles around them, the empty fields whole), ring and FoV background; and the
    cache that holds their reductions."""
    cache = tmp_path_factory.mktemp("null-cache")
    out: dict[str, list[skymap.SkyMaps]] = {"ring": [], "fov": []}
    for centre in fields(synthetic_release).values():
        selection = select_observations(synthetic_release, centre)
        for background in out:
            settings = MapSettings(centre, background=background, **NULL_SETTINGS)
            out[background].append(sky_maps(selection, settings, cache_dir=cache))
    return out, cache


@pytest.mark.validation  # statistical: `make validate`, not `make test`
@pytest.mark.parametrize("background", ["ring", "fov"])
def test_background_only_significance_is_standard_normal(null_maps, background):
    maps, cache = null_maps
    values = np.concatenate([null_values(m, cache) for m in maps[background]])
    assert len(values) > 300  # the mean known to +-0.06, the width to +-0.04
    assert abs(values.mean()) < 0.1, (len(values), values.mean())
    assert abs(values.std(ddof=1) - 1) < 0.1, (len(values), values.std(ddof=1))


@pytest.mark.validation  # statistical: `make validate`, not `make test`
@pytest.mark.parametrize("scale", [0.9, 1.1])
def test_broken_background_fails_the_check(null_maps, scale):
    """A background template off by 10% moves the mean by ~0.5 sigma: the check sees it."""
    maps, cache = null_maps
    values = np.concatenate([null_values(m, cache, scale) for m in maps["fov"]])
    assert abs(values.mean()) > 0.1 + 3 * values.std() / np.sqrt(len(values))
    assert np.sign(values.mean()) == (1 if scale < 1 else -1)


# -- cache --------------------------------------------------------------------------------------

def test_cache_warm_atomic_and_repaired(synthetic_release, tmp_path):
    """A warm request reads every observation from the cache and gives the same maps (its
    speed is bench/iact.py's to measure, not a test's); another energy range is another entry; concurrent writers and a reader never meet a
    partial file; a damaged entry is recomputed and replaced."""
    selection = select_observations(synthetic_release, CRAB)
    settings = MapSettings(CRAB)
    cold = sky_maps(selection, settings, cache_dir=tmp_path)
    assert not cold.observations["from_cache"].any()
    files = sorted(tmp_path.glob("*.fits"))
    assert len(files) == len(selection.obs_ids)
    warm = sky_maps(selection, settings, cache_dir=tmp_path)
    assert warm.observations["from_cache"].all()
    np.testing.assert_array_equal(warm.significance.data, cold.significance.data)
    other = sky_maps(selection, MapSettings(CRAB, energy_min=2.0), cache_dir=tmp_path)
    assert not other.observations["from_cache"].any()
    assert len(list(tmp_path.glob("*.fits"))) == 2 * len(selection.obs_ids)
    # another correlation radius (whole pixels or not) reuses the reduced observations
    for radius in (0.06, 0.07, 0.08, 0.1, 0.11):
        again = sky_maps(selection, MapSettings(CRAB, correlation_radius=radius),
                         cache_dir=tmp_path)
        assert again.observations["from_cache"].all(), radius

    cache = ReductionCache(tmp_path)
    path = files[0]
    dataset = cache.load(path.stem)
    errors: list[BaseException] = []

    def write() -> None:
        try:
            for _ in range(5):
                cache.store(path.stem, dataset)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=write) for _ in range(3)]
    for thread in threads:
        thread.start()
    for _ in range(20):  # a reader during the writes sees a whole file every time
        assert cache.load(path.stem) is not None
    for thread in threads:
        thread.join()
    assert errors == []
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    path.write_bytes(b"not a FITS file")
    again = sky_maps(selection, settings, cache_dir=tmp_path)
    assert again.observations["from_cache"].sum() == len(selection.obs_ids) - 1
    assert cache.load(path.stem) is not None


# -- the notebook through astroflow ----------------------------------------------------------

def test_notebook_products(data_root, tmp_path):
    values = {"src_name": "Crab", "RA": 83.633, "DEC": 22.0145}
    result = run_notebook(data_root, values, tmp_path / "cold")
    assert result.status == "done", result.error
    assert {p.name for p in result.products} == {"significance_map", "sky_plot",
                                                 "max_significance", "hotspots"}
    products = tmp_path / "cold" / "products"
    with fits.open(products / "significance_map.fits") as hdul:
        assert [h.name for h in hdul] == ["PRIMARY", "COUNTS", "BACKGROUND", "EXCESS",
                                          "SQRT_TS"]
        for hdu in hdul:
            wcs = WCS(hdu.header)
            assert wcs.has_celestial and hdu.data.shape == (100, 100)
            assert "BUNIT" in hdu.header
            assert "Synthetic data" in str(hdu.header["COMMENT"])
        assert hdul["COUNTS"].header["BUNIT"] == "count"
        x, y = WCS(hdul[0].header).world_to_pixel(CRAB)
        assert hdul[0].data[int(round(float(y))), int(round(float(x)))] > 15
        np.testing.assert_allclose(hdul["EXCESS"].data,
                                   hdul["COUNTS"].data - hdul["BACKGROUND"].data, atol=1e-3)
    # the image's PNG is drawn when first asked for (astroflow stores the FITS only)
    made = {p.name: p for p in result.products}
    assert product_path(made["significance_map"], products, "png").stat().st_size > 5_000
    assert (products / "sky_plot.png").stat().st_size > 20_000
    hot = Table.read(products / "hotspots.ecsv")
    assert len(hot) >= 1 and hot["nearest_known"][0] == "Crab Nebula"
    assert np.all(hot["significance"] > 5)
    warm = run_notebook(data_root, values, tmp_path / "warm")
    assert warm.status == "done", warm.error
    assert len(list((data_root / "hess" / "cache" / "maps").glob("*.fits"))) >= 4


def test_notebook_limits_checked_before_running(data_root, tmp_path):
    with pytest.raises(ValidationError, match="map_width: must be ≤ 6 deg"):
        run_notebook(data_root, {"map_width": 8.0}, tmp_path / "job")


@pytest.mark.parametrize(("values", "words"), [
    ({"map_width": 6.0, "pixel_size": 0.005}, "pixel size 0.005 deg is too small"),
    ({"E_min": 5.0, "E_max": 1.0}, "E_min (5 TeV) must be below E_max"),
    ({"RA": 180.0, "DEC": 60.0}, "no observation pointed within"),
])
def test_notebook_refuses_by_name(data_root, tmp_path, values, words):
    result = run_notebook(data_root, values, tmp_path / "job")
    assert result.status == "failed"
    assert words in error_text(result), error_text(result)


# -- the real DR1 -------------------------------------------------------------------------------

def test_dr1_crab(real_dr1, tmp_path):
    selection = select_observations(real_dr1, CRAB)
    assert selection.obs_ids == [23523, 23526, 23559, 23592]
    maps = sky_maps(selection, MapSettings(CRAB), cache_dir=tmp_path)
    hot = maps.hotspots()
    assert len(hot) == 1 and hot["nearest_known"][0] == "Crab Nebula"
    assert SkyCoord(hot["ra"][0], hot["dec"][0], unit="deg").separation(CRAB).deg < 0.05
    assert 25 < maps.max_significance < 45


def test_cache_folder_is_the_one_astroflow_gives_and_an_unwritable_one_costs_no_answer(
        monkeypatch, tmp_path):
    monkeypatch.setenv("ASTROFLOW_CACHE_DIR", str(tmp_path / "workflow-cache"))
    assert skymap.default_cache_dir() == tmp_path / "workflow-cache" / "hess-maps"
    monkeypatch.delenv("ASTROFLOW_CACHE_DIR")
    monkeypatch.setenv("ASTROFLOW_DATA_DIR", str(tmp_path / "data"))
    assert skymap.default_cache_dir() == tmp_path / "data" / "hess" / "cache" / "maps"
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    axis = MapAxis.from_energy_bounds(1, 10, nbin=1, unit="TeV")
    dataset = MapDataset.create(WcsGeom.create(skydir=(0, 0), width=0.2, binsz=0.1, axes=[axis]))
    cache = ReductionCache(blocked / "maps")
    with pytest.warns(UserWarning, match="not cached"):
        cache.store("k" * 32, dataset)
    assert cache.load("k" * 32) is None
