"""The synthetic release does what it says: DR1's layout, IRFs that vary as stated, events
that follow the injected models, a Crab whose index a standard analysis recovers, and the
same bytes from the same seed."""

from __future__ import annotations

from pathlib import Path

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import AltAz, SkyCoord
from astropy.io import fits
from astropy.table import Table
from gammapy.data import DataStore
from gammapy.data.observations import ObservationChecker
from gammapy.modeling.models import FoVBackgroundModel
from hess_dl3.errors import AnalysisError
from hess_dl3.synthetic import generate_release, truth_models
from hess_dl3.synthetic.irfs import make_irfs
from hess_dl3.synthetic.observations import HESS_LOCATION, REFERENCE_TIME
from hess_dl3.synthetic.validate import dataset_from_files, fit_crab_spectrum

DR1_OBS_COLUMNS = ("OBS_ID", "RA_PNT", "DEC_PNT", "GLON_PNT", "GLAT_PNT", "ZEN_PNT", "ALT_PNT",
                   "AZ_PNT", "OBJECT", "ONTIME", "LIVETIME", "DEADC", "TSTART", "TSTOP",
                   "DATE-OBS", "TIME-OBS", "DATE-END", "TIME-END", "N_TELS", "QUALITY",
                   "EVENT_COUNT", "SAFE_ENERGY_LO", "SAFE_ENERGY_HI")


def test_datastore_reads_the_release_as_dr1(synthetic_release: Path):
    store = DataStore.from_dir(synthetic_release)
    table = store.obs_table
    assert set(DR1_OBS_COLUMNS) <= set(table.colnames)
    assert table.meta["ORIGIN"] == "astroflow synthetic" and table.meta["SEED"] == 0
    for key in ("MJDREFI", "MJDREFF", "TIMESYS", "GEOLON", "GEOLAT", "ALTITUDE"):
        assert key in table.meta
    # gammapy's own checks; its event-list check fails on DR1 itself in gammapy 2.1 (it reads
    # the unit of the TIME column, now a Time), so the events are checked below instead
    records = list(store.check(checks=["obs_table", "hdu_table", "consistency"]))
    for observation in store.get_observations():
        records += ObservationChecker(observation).run(
            checks=[c for c in ObservationChecker.CHECKS if c != "events"])
    assert [r for r in records if r.get("level") in ("error", "warning")] == []
    assert len(table) == 18 and len(store.hdu_table) == 6 * 18
    observations = store.get_observations(required_irf="full-enclosure")
    first = observations[0]
    assert len(first.events.table) == table["EVENT_COUNT"][0]
    path = store.hdu_table.hdu_location(int(table["OBS_ID"][0]), "events").path()
    with fits.open(path) as hdul:
        assert [h.name for h in hdul[1:]] == ["EVENTS", "GTI", "AEFF", "EDISP", "PSF", "BKG"]
        assert hdul["AEFF"].header["HDUCLAS4"] == "AEFF_2D"
        assert hdul["PSF"].header["HDUCLAS4"] == "PSF_TABLE"


def test_real_dr1_columns_are_all_there(synthetic_release: Path, real_dr1: Path):
    """Every obs-index column DR1 has that a service could read is in the synthetic one."""
    real = Table.read(real_dr1 / "obs-index.fits.gz")
    ours = Table.read(synthetic_release / "obs-index.fits.gz")
    missing = set(real.colnames) - set(ours.colnames) - {"MUONEFF", "TARGET_TAG"}
    assert missing == set()
    for key in ("MJDREFI", "MJDREFF", "TIMESYS"):
        assert float(ours.meta[key]) == pytest.approx(float(real.meta[key])) \
            if key != "TIMESYS" else ours.meta[key] == real.meta[key]


def test_pointings_times_and_zenith(synthetic_release: Path):
    """Wobble offsets as planned; zenith angles recomputed with astropy match the index."""
    table = Table.read(synthetic_release / "obs-index.fits.gz")
    pointing = SkyCoord(table["RA_PNT"], table["DEC_PNT"], unit="deg")
    target = SkyCoord(table["RA_OBJ"], table["DEC_OBJ"], unit="deg")
    offsets = np.round(pointing.separation(target).deg, 3)
    assert set(offsets) <= {0.5, 0.7, 1.0} and len(set(offsets)) == 3
    mid = REFERENCE_TIME + (table["TSTART"].quantity + table["TSTOP"].quantity) / 2
    altaz = pointing.transform_to(AltAz(obstime=mid, location=HESS_LOCATION))
    np.testing.assert_allclose(90 - altaz.alt.deg, table["ZEN_PNT"], atol=0.01)
    assert 19 < table["ZEN_PNT"].min() < 25 and table["ZEN_PNT"].max() > 48
    assert len(set(np.round(table["TSTART"]))) == len(table)
    assert np.all(table["TSTOP"] - table["TSTART"] == pytest.approx(table["ONTIME"]))


def test_irfs_depend_on_offset_and_zenith():
    low, high = make_irfs(20 * u.deg), make_irfs(50 * u.deg)
    offsets = [0.5, 1.5, 2.5] * u.deg
    area = low["aeff"].evaluate(energy_true=1 * u.TeV, offset=offsets).to_value("m2")
    assert area[0] > area[1] > area[2] and area[2] < 0.2 * area[0]
    plateau = low["aeff"].evaluate(energy_true=10 * u.TeV, offset=0.5 * u.deg).to_value("m2")
    assert 0.8e5 < plateau < 3e5  # H.E.S.S. after cuts
    # threshold rises with zenith: less area at 0.3 TeV, not less at 10 TeV
    at_03 = [irf["aeff"].evaluate(energy_true=0.3 * u.TeV, offset=0.5 * u.deg)
             for irf in (low, high)]
    assert at_03[1] < 0.3 * at_03[0]
    assert high["aeff"].evaluate(energy_true=10 * u.TeV, offset=0.5 * u.deg) > plateau * u.m**2
    psf68 = low["psf"].containment_radius(0.68, energy_true=1 * u.TeV, offset=offsets)
    assert 0.07 < psf68[0].to_value("deg") < 0.13 and psf68[2] > psf68[0]
    assert high["psf"].containment_radius(0.68, energy_true=1 * u.TeV, offset=0.5 * u.deg) \
        > psf68[0]
    bkg = low["bkg"].evaluate(energy=1 * u.TeV, offset=offsets)
    assert bkg[0] > bkg[1] > bkg[2]
    resolution = low["edisp"].to_edisp_kernel(0.5 * u.deg).get_resolution([0.3, 10] * u.TeV)
    assert 0.08 < resolution[1] < resolution[0] < 0.3


def test_event_counts_follow_the_injected_models(synthetic_release: Path):
    """Counts per run (total and per source) agree with npred within Poisson errors."""
    store = DataStore.from_dir(synthetic_release)
    truth = truth_models(synthetic_release)
    lightcurve = Table.read(synthetic_release / "truth-lightcurve.ecsv")
    base = truth["pks2155"].spectral_model.integral(1 * u.TeV, 1000 * u.TeV)
    pulls = []
    for obs_id, name in ((110001, "crab"), (120003, "pks2155"), (130001, "extended"),
                         (140001, None)):
        dataset = dataset_from_files(store, obs_id)
        models = []
        if name is not None:
            model = truth[name].copy(name=name)
            if name == "pks2155":
                row = lightcurve[lightcurve["obs_id"] == obs_id][0]
                model.spectral_model.amplitude.value *= float(row["flux"] / base.value)
            models.append(model)
        dataset.models = models + [FoVBackgroundModel(dataset_name=dataset.name)]
        events = store.obs(obs_id).events
        counts = len(events.table)
        npred = dataset.npred().data.sum()
        pulls.append((counts - npred) / np.sqrt(npred))
        if name is not None:
            signal = dataset.npred_signal().data.sum()
            n_signal = np.sum(events.table["MC_ID"] == 1)
            assert signal > 10
            pulls.append((n_signal - signal) / np.sqrt(signal))
    assert np.all(np.abs(pulls) < 4), pulls


def test_a_standard_analysis_recovers_the_crab_index(make_release):
    """1-D reflected-regions analysis of a Crab-only release: the fitted index and amplitude
    agree with the injected ones within 3 sigma (one seed)."""
    release = make_release(3, sources=("crab",), n_obs=4)
    truth = truth_models(release)["crab"].spectral_model
    model = fit_crab_spectrum(release)
    index, amplitude = model.parameters["index"], model.parameters["amplitude"]
    assert abs(index.value - truth.index.value) < 3 * index.error
    assert abs(amplitude.value - truth.amplitude.value) < 3 * amplitude.error
    assert index.error < 0.25


def test_truth_files(synthetic_release: Path):
    truth = truth_models(synthetic_release)
    assert sorted(truth.names) == ["crab", "extended", "pks2155"]
    assert truth["extended"].spatial_model.sigma.quantity == 0.2 * u.deg
    assert truth["crab"].spectral_model.index.value == pytest.approx(2.6)
    lightcurve = Table.read(synthetic_release / "truth-lightcurve.ecsv")
    assert set(lightcurve["source"]) == {"pks2155"} and len(lightcurve) == 6
    quiescent = truth["pks2155"].spectral_model.integral(1 * u.TeV, 1000 * u.TeV)
    ratio = (lightcurve["flux"].quantity / quiescent).to_value("")
    assert ratio.min() >= 1 and ratio.max() > 3  # a flare over a few runs
    assert int(np.argmax(ratio)) in (2, 3)
    assert np.all(lightcurve["time_max"] > lightcurve["time_min"])
    with pytest.raises(AnalysisError, match="truth.yaml"):
        truth_models(synthetic_release / "data")


def test_same_seed_same_bytes_other_seed_other_events(tmp_path: Path):
    one = generate_release(tmp_path / "a", seed=11, sources=("crab",), n_obs=1)
    two = generate_release(tmp_path / "b", seed=11, sources=("crab",), n_obs=1)
    other = generate_release(tmp_path / "c", seed=12, sources=("crab",), n_obs=1)
    files = sorted(p.relative_to(one) for p in one.rglob("*") if p.is_file())
    assert len(files) == 6  # 2 indices, 1 run, truth.yaml, truth-lightcurve, release.json
    for name in files:
        assert (one / name).read_bytes() == (two / name).read_bytes(), name
    run = next(p for p in files if p.parent.name == "data")
    ours = Table.read(one / run, hdu="EVENTS")
    theirs = Table.read(other / run, hdu="EVENTS")
    assert len(ours) != len(theirs) or not np.array_equal(ours["ENERGY"], theirs["ENERGY"])


def test_bad_arguments_are_analysis_errors(tmp_path: Path):
    with pytest.raises(AnalysisError, match="sources"):
        generate_release(tmp_path / "x", sources=("vela",))
    with pytest.raises(AnalysisError, match="n_obs"):
        generate_release(tmp_path / "x", sources=("crab",), n_obs=0)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "thesis.tex").write_text("not a release")
    with pytest.raises(AnalysisError, match="not a synthetic release"):
        generate_release(tmp_path / "busy", sources=("crab",), n_obs=1)
    assert (tmp_path / "busy" / "thesis.tex").is_file()
