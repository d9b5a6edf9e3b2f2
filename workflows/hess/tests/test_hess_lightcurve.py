"""H.E.S.S. light-curve service: time bins (runs, nights noon to noon) and the flaring
synthetic pks2155 against its true per-run flux."""

from __future__ import annotations

from pathlib import Path

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.table import Table
from astropy.time import Time
from hess_dl3.lightcurve import night_of, time_bins
from hess_dl3.selection import select_observations

from astroflow import Workflow
from astroflow.workflow import ValidationError

HERE = Path(__file__).resolve().parents[1]
PKS = {"src_name": "PKS 2155-304", "RA": 329.717, "DEC": -30.2256}


def _run(data_root: Path, values: dict, tmp_path: Path):
    workflow = Workflow.from_path(HERE / "hess_light_curve.py")
    return workflow.run(values, job_dir=tmp_path / "light_curve", time_limit=120,
                        env={"ASTROFLOW_DATA_DIR": str(data_root)})


def _error(result) -> str:
    error = result.error
    return str(getattr(error, "evalue", None) or (error or {}).get("evalue", error))


def test_a_night_runs_from_local_noon_to_noon():
    # local mean solar time at 16.5 deg E is UTC + 1 h 06 min: noon is 10:54 UTC
    times = Time(["2004-12-04T19:00:00", "2004-12-05T03:00:00", "2004-12-05T10:40:00",
                  "2004-12-05T11:10:00"], scale="utc")
    nights = night_of(times)
    assert nights[0] == nights[1] == nights[2] and nights[3] == nights[0] + 1


def test_time_bins_cover_each_run_once(synthetic_release):
    table = select_observations(synthetic_release, SkyCoord(329.717, -30.2256,
                                                             unit="deg")).table
    runs = time_bins(table, "run")
    nights = time_bins(table, "night")
    assert [b.obs_ids[0] for b in runs] == sorted(int(i) for i in table["OBS_ID"])
    assert sorted(i for b in nights for i in b.obs_ids) == sorted(int(i) for i in table["OBS_ID"])
    assert len(nights) < len(runs)
    for night in nights:
        members = [b for b in runs if b.obs_ids[0] in night.obs_ids]
        assert night.start == min(b.start for b in members)
        assert night.stop == max(b.stop for b in members)
        assert (night.stop - night.start) < 1 * u.d


def test_light_curve_follows_the_true_flare(data_root, synthetic_release, tmp_path):
    result = _run(data_root, {**PKS, "binning": "run", "E_threshold": 1.0}, tmp_path)
    assert result.status == "done", result.error
    assert {p.name for p in result.products} == {"light_curve", "lc_plot"}
    lc = Table.read(next(tmp_path.rglob("light_curve.ecsv")))
    assert {"time", "time_min", "time_max", "flux", "flux_err", "flux_ul", "is_ul",
            "significance", "livetime", "obs_id"} <= set(lc.colnames)
    assert "Synthetic" in lc.meta["attribution"] and lc.meta["binning"] == "run"
    truth = Table.read(synthetic_release / "truth-lightcurve.ecsv")
    truth = truth[truth["source"] == "pks2155"]
    true_flux = {int(r["obs_id"]): r["flux"] for r in truth}
    assert sorted(int(i) for i in lc["obs_id"]) == sorted(true_flux)
    assert np.ptp(list(true_flux.values())) > 0  # the source flares
    pulls = []
    for row in lc:
        expected = true_flux[int(row["obs_id"])]
        assert row["time_min"] < row["time"] < row["time_max"]
        assert row["livetime"] > 0
        if row["is_ul"]:
            assert row["flux_ul"] >= expected
        else:
            pulls.append((row["flux"] - expected) / row["flux_err"])
    assert len(pulls) >= 4 and np.all(np.abs(pulls) < 3), pulls
    assert next(tmp_path.rglob("lc_plot.png")).stat().st_size > 15_000


def test_light_curve_per_night_with_a_fixed_index(data_root, tmp_path):
    result = _run(data_root, {**PKS, "binning": "night", "index_from": "fixed", "index": 3.0},
                  tmp_path)
    assert result.status == "done", result.error
    lc = Table.read(next(tmp_path.rglob("light_curve.ecsv")))
    assert lc.meta["index"] == 3.0 and lc.meta["binning"] == "night"
    assert np.all(lc["time_max"] - lc["time_min"] < 1.0)
    assert sum(len(str(i).split()) for i in lc["obs_id"]) >= 4 > len(lc) - 1


def test_light_curve_bad_requests(data_root, tmp_path):
    result = _run(data_root, {**PKS, "RA": 120.0, "DEC": 10.0}, tmp_path)
    assert result.status == "failed" and "The release holds" in _error(result)
    with pytest.raises(ValidationError, match="binning:"):
        _run(data_root, {**PKS, "binning": "week"}, tmp_path)
    with pytest.raises(ValidationError, match="E_threshold:"):
        _run(data_root, {**PKS, "E_threshold": 500.0}, tmp_path)
