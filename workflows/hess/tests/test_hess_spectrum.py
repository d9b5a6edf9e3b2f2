"""H.E.S.S. spectrum service: exclusion, cached reduction, fit and SED, and bad input.

All on the session's small synthetic release (conftest.py); the science (pulls, coverage)
is in test_hess_spectrum_science.py.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.table import Table
from hess_dl3 import spectrum
from hess_dl3.errors import AnalysisError
from hess_dl3.exclusion import exclusion_mask, exclusion_regions, known_sources
from hess_dl3.reduction import default_cache_dir, on_region, reduce_observations
from hess_dl3.selection import select_observations

from astroflow import Workflow
from astroflow.products.sed import is_sed, validate
from astroflow.workflow import ValidationError

HERE = Path(__file__).resolve().parents[1]
CRAB = SkyCoord(83.633, 22.0145, unit="deg")


def _run(data_root: Path, values: dict, tmp_path: Path, notebook: str = "hess_spectrum.py"):
    workflow = Workflow.from_path(HERE / notebook)
    return workflow.run(values, job_dir=tmp_path / notebook, time_limit=120,
                        env={"ASTROFLOW_DATA_DIR": str(data_root)})


def _error(result) -> str:
    error = result.error
    return str(getattr(error, "evalue", None) or (error or {}).get("evalue", error))


def test_known_sources_are_cited_and_masked(synthetic_release):
    table = known_sources()
    assert {"Crab Nebula", "PKS 2155-304", "MSH 15-52", "RX J1713.7-3946"} <= set(table["name"])
    assert "TeVCat" in table.meta["positions"] and "A&A 612, A1" in table.meta["positions"]
    assert np.all(table["radius"] >= table["extension"] + 0.29 * u.deg)
    regions = exclusion_regions(synthetic_release)
    extended = [r for r in regions if r.center.separation(SkyCoord(228.5, -59.2,
                                                                   unit="deg")).deg < 0.01]
    assert extended and extended[0].radius > 0.45 * u.deg  # truth sigma ~0.2 deg + margin
    mask = exclusion_mask(regions, SkyCoord(83.633, 22.5145, unit="deg"), 3 * u.deg)
    assert not mask.get_by_coord(CRAB)[0]
    assert mask.get_by_coord(SkyCoord(83.633, 23.6, unit="deg"))[0]


@pytest.fixture(scope="module")
def crab_reductions(synthetic_release, tmp_path_factory):
    """Two Crab runs reduced into a fresh cache, then asked for again."""
    cache = tmp_path_factory.mktemp("spectrum-cache")
    selection = select_observations(synthetic_release, CRAB, max_observations=2)
    region = on_region(83.633, 22.0145, 0.11)
    first = reduce_observations(selection, synthetic_release, region, cache_dir=cache)
    second = reduce_observations(selection, synthetic_release, region, cache_dir=cache)
    return selection, first, second, cache


def test_reduction_is_cached_per_observation_and_request(synthetic_release, crab_reductions):
    selection, first, second, cache = crab_reductions
    assert first.reduced == selection.obs_ids and not first.cached and not first.dropped
    assert second.cached == selection.obs_ids and not second.reduced
    for a, b in zip(first.datasets, second.datasets, strict=True):
        assert np.array_equal(a.counts.data, b.counts.data)
        assert np.array_equal(a.counts_off.data, b.counts_off.data)
        assert a.exposure.meta["livetime"] == b.exposure.meta["livetime"] > 0 * u.s
        assert len(b.gti.table) == 1
    wider = reduce_observations(selection, synthetic_release, on_region(83.633, 22.0145, 0.15),
                                cache_dir=cache)
    assert wider.reduced == selection.obs_ids
    assert sum(d.counts.data.sum() for d in wider.datasets) > sum(
        d.counts.data.sum() for d in first.datasets)
    assert len(list(cache.iterdir())) == 2 * len(selection.obs_ids)  # no temporary left


def test_cache_folder_and_an_unwritable_cache(synthetic_release, tmp_path, monkeypatch):
    monkeypatch.setenv("ASTROFLOW_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("ASTROFLOW_CACHE_DIR", raising=False)
    assert default_cache_dir() == tmp_path / "data" / "hess" / "cache" / "spectrum"
    monkeypatch.setenv("ASTROFLOW_CACHE_DIR", str(tmp_path / "sandbox-cache"))
    assert default_cache_dir() == tmp_path / "sandbox-cache" / "hess-spectrum"
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    selection = select_observations(synthetic_release, CRAB, max_observations=1)
    reduction = reduce_observations(selection, synthetic_release,
                                    on_region(83.633, 22.0145, 0.11), cache_dir=blocked / "x")
    assert reduction.reduced == selection.obs_ids and len(reduction.datasets) == 1


def _reduce_into(release: str, cache: str) -> list[float]:
    selection = select_observations(release, CRAB, max_observations=2)
    reduction = reduce_observations(selection, release, on_region(83.633, 22.0145, 0.11),
                                    cache_dir=Path(cache))
    return [float(d.counts_off.data.sum()) for d in reduction.datasets]


def test_two_jobs_writing_the_same_cache_at_once(synthetic_release, tmp_path):
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(2, mp_context=context) as pool:
        jobs = [pool.submit(_reduce_into, str(synthetic_release), str(tmp_path))
                for _ in range(2)]
        results = [job.result(timeout=120) for job in jobs]
    assert results[0] == results[1]
    assert _reduce_into(str(synthetic_release), str(tmp_path)) == results[0]
    assert all(not p.name.startswith(".") for p in tmp_path.iterdir())


def test_the_stack_is_cached_per_observations_and_energy_range(synthetic_release,
                                                              crab_reductions):
    """A warm request reads one stacked file, equal to the stack made from the observations;
    another energy range, or another on-region, is stacked anew."""
    from hess_dl3.stacking import stacked_spectrum

    selection, first, _second, cache = crab_reductions
    region = on_region(83.633, 22.0145, 0.11)
    made = stacked_spectrum(selection, synthetic_release, region, 0.5 * u.TeV, 50 * u.TeV,
                            cache_dir=cache)
    again = stacked_spectrum(selection, synthetic_release, region, 0.5 * u.TeV, 50 * u.TeV,
                             cache_dir=cache)
    assert not made.from_cache and made.reduced == ()  # its observations were cached already
    assert again.from_cache and again.obs_ids == made.obs_ids == list(first.datasets.names)
    plain = spectrum.stack(spectrum.restrict_energy(first.datasets, 0.5 * u.TeV, 50 * u.TeV))
    for stacked in (made.stacked, again.stacked):
        assert np.array_equal(stacked.counts.data, plain.counts.data)
        assert np.array_equal(stacked.mask_safe.data, plain.mask_safe.data)
        assert np.allclose(stacked.alpha.data, plain.alpha.data)
    assert again.summary == made.summary and again.summary.n_on > 0
    other = stacked_spectrum(selection, synthetic_release, region, 1 * u.TeV, 50 * u.TeV,
                             cache_dir=cache)
    assert not other.from_cache and other.summary.n_on < made.summary.n_on


def test_models_fit_the_stacked_spectrum(crab_reductions):
    reduction = crab_reductions[1]
    datasets = spectrum.restrict_energy(reduction.datasets, 0.5 * u.TeV, 50 * u.TeV)
    assert all(d.energy_range_safe[0].quantity.min() >= 0.49 * u.TeV for d in datasets)
    stacked = spectrum.stack(datasets)
    names = {"power_law": {"index", "amplitude"}, "log_parabola": {"alpha", "beta", "amplitude"},
             "cutoff_power_law": {"index", "amplitude", "lambda_"}}
    for model, free in names.items():
        outcome = spectrum.fit(stacked, model, "crab")
        parameters = outcome.model.spectral_model.parameters
        assert {p.name for p in parameters.free_parameters} == free
        assert all(np.isfinite(p.error) and p.error > 0 for p in parameters.free_parameters)
    with pytest.raises(AnalysisError, match="model 'broken_power_law' is not known"):
        spectrum.spectral_model("broken_power_law")
    with pytest.raises(AnalysisError, match="E_min"):
        spectrum.restrict_energy(reduction.datasets, 5 * u.TeV, 2 * u.TeV)


def test_spectrum_service(data_root, tmp_path):
    result = _run(data_root, {"src_name": "Crab", "RA": 83.633, "DEC": 22.0145, "n_bins": 5,
                              "max_observations": 2}, tmp_path)
    assert result.status == "done", result.error
    assert {p.name for p in result.products} == {"sed", "fit_results", "spectrum_plot",
                                                 "significance", "excess"}
    sed = Table.read(next(tmp_path.rglob("sed.ecsv")))
    validate(sed)
    assert is_sed(sed) and set(sed["instrument"]) == {"H.E.S.S."}
    assert set(sed["messenger"]) == {"gamma-rays"}
    points, model = sed[sed["kind"] == "point"], sed[sed["kind"] == "model"]
    assert 3 <= len(points) <= 5 and len(model) == 40
    assert np.all(model["e2dnde_errn"] > 0) and np.all(model["e2dnde_errp"] > 0)
    detected = points[~points["is_ul"]]
    assert len(detected) >= 2 and np.all(detected["ts"] >= 4)
    assert np.all(points[points["is_ul"]]["e2dnde_errn"] == 0)
    assert "Synthetic" in sed.meta["attribution"]
    fit = Table.read(next(tmp_path.rglob("fit_results.ecsv")))
    rows = {str(r["parameter"]): r for r in fit}
    assert {"index", "amplitude", "n_on", "n_off", "alpha", "excess", "significance",
            "livetime", "fit_statistic"} <= set(rows)
    assert 2.0 < rows["index"]["value"] < 3.3 and rows["index"]["error"] > 0
    excess = rows["excess"]["value"]
    assert excess == pytest.approx(rows["n_on"]["value"]
                                   - rows["alpha"]["value"] * rows["n_off"]["value"])
    significance = next(p for p in result.products if p.name == "significance")
    assert rows["significance"]["value"] > 5
    assert significance is not None
    assert next(tmp_path.rglob("spectrum_plot.png")).stat().st_size > 20_000


@pytest.mark.parametrize(("values", "message"), [
    ({"T1": "2010-01-01T00:00:00", "T2": "2009-01-01T00:00:00"}, "must be before T2"),
    ({"RA": 10.0, "DEC": -89.0}, "The release holds"),
    ({"E_min": 10.0, "E_max": 1.0}, "E_min (10 TeV) must be below E_max (1 TeV)"),
    # pointed at the position itself: no reflected region can be placed around the pointing
    ({"DEC": 22.5145, "radius": 0.3, "max_observations": 1}, "Choose a smaller on-region"),
])
def test_spectrum_bad_request_is_an_analysis_error(data_root, tmp_path, values, message):
    result = _run(data_root, {"RA": 83.633, "DEC": 22.0145, **values}, tmp_path)
    assert result.status == "failed"
    assert message in _error(result)
    if "RA" in values and values["RA"] == 10.0:
        assert "Crab Nebula" in _error(result)  # says where the data are


@pytest.mark.parametrize(("values", "field"), [({"model": "broken_power_law"}, "model"),
                                               ({"radius": 0.8}, "radius"),
                                               ({"n_bins": 0}, "n_bins")])
def test_spectrum_invalid_parameter_names_the_field(data_root, tmp_path, values, field):
    with pytest.raises(ValidationError, match=f"{field}:"):
        _run(data_root, values, tmp_path)


def test_no_source_gives_limits_and_no_negative_curve(synthetic_release, tmp_path):
    """An empty field: the fit may find a negative normalisation; the SED then holds only
    positive 2-sigma limits (scaled on a positive power law) and says the model is left out."""
    position = SkyCoord(10.0, -25.0, unit="deg")  # the release's first empty field
    selection = select_observations(synthetic_release, position)
    reduction = reduce_observations(selection, synthetic_release, on_region(10.0, -25.0, 0.11),
                                    cache_dir=tmp_path)
    datasets = spectrum.restrict_energy(reduction.datasets, 0.3 * u.TeV, 100 * u.TeV)
    assert abs(spectrum.counts(datasets).significance) < 3
    stacked = spectrum.stack(datasets)
    outcome = spectrum.fit(stacked, "power_law", "empty")
    edges = spectrum.energy_edges(stacked, 0.3 * u.TeV, 100 * u.TeV, 4)
    sed = spectrum.sed(spectrum.flux_points(stacked, "empty", edges),
                       outcome.model.spectral_model, edges)
    validate(sed)
    points = sed[sed["kind"] == "point"]
    assert len(points) >= 3 and np.all(points["is_ul"]) and np.all(points["e2dnde"] > 0)
    if outcome.model.spectral_model.amplitude.value <= 0:
        assert not np.any(sed["kind"] == "model") and "no detection" in sed.meta["model_note"]
