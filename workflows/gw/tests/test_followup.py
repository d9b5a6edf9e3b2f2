"""The neutrino follow-up of the synthetic GW event through a real server: IceCube sub-jobs
over its 90% credible region, and per pixel the same limit as a direct request there.

The server runs this repository and the IceCube one, on IceCube's real 3-year release (the
flarestack wheel from PyPI, fetched once into the test cache as the multi-messenger tests
do) and the GW mirror (synthetic event, offline)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parents[1]
WORKFLOWS = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(WORKFLOWS / "multi-messenger" / "tests"))
sys.path.insert(0, str(WORKFLOWS.parent / "tests"))

from gw_open import mirror, synthetic  # noqa: E402
from mm_server import icecube_cache, place  # noqa: E402
from server_process import ServerProcess  # noqa: E402

from astroflow.client import Client  # noqa: E402

RELEASE_SPAN = ("2008-04-06T00:00:00", "2018-07-10T00:00:00")


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    cache = icecube_cache()
    root = tmp_path_factory.mktemp("gwfu")
    data_dir = root / "data"
    place([cache], data_dir / "icecube" / "3year")
    mirror.build(data_dir / "gw" / "mirror", log=lambda m: None)
    (data_dir / "gw" / "current.json").write_text(json.dumps({"mode": "mirror",
                                                             "path": "mirror"}))
    services = root / "services"
    services.mkdir()
    for name in ("icecube", "gw"):
        (services / name).symlink_to(WORKFLOWS / name)
    with ServerProcess(data_dir, services=[services], workers=2).running() as proc, \
            Client(proc.url, token="") as c:
        yield c


def _followup(client, **parameters):
    job = client.submit("gw-neutrino-followup", {"event": synthetic.NAME, **parameters})
    job.wait(progress=False, timeout=240)
    assert job.state == "done", job.error
    products = job.products
    return (job, products["summary"].to_astropy(format="ecsv")[0],
            products["pixel_limits"].to_astropy(format="ecsv"),
            products["status"].to_astropy(format="ecsv"))


def test_transient_followup_of_the_synthetic_event(client):
    job, summary, pixels, status = _followup(client, time_window=500.0)
    assert list(status["state"]) == ["done"] * 4
    assert sum(status["pixels"]) == len(pixels) == summary["n_pixels"]
    # the 90% region of the synthetic map: 1000 deg2 (its analytic area) in 0.84 deg2 pixels
    assert summary["area_deg2"] == pytest.approx(synthetic.credible_area(0.9), rel=0.05)
    assert summary["prob_covered"] == pytest.approx(0.9, abs=0.01)
    assert summary["likelihood"] == "transient"
    assert summary["livetime_s"] == pytest.approx(1000.0, rel=0.01)
    # a handful of background events in 1000 s: the limits sit at the Poisson 2.3 events
    assert np.median(pixels["ns_ul"]) == pytest.approx(-np.log(0.1), rel=0.05)
    weighted = np.sum(pixels["prob"] * pixels["flux_ul"]) / np.sum(pixels["prob"])
    assert summary["flux_ul_weighted"] == pytest.approx(weighted, rel=1e-9)
    # E_iso = 4 pi <D^2> fluence: 1e51-1e54 erg for a BBH at 410 Mpc (IceCube's published
    # follow-ups of O1-O3 mergers give limits of this order)
    assert 1e50 < summary["e_iso_ul_weighted"] < 1e54
    assert np.all(pixels["e_iso_ul"] > 0)
    # the same request again joins the cached sub-jobs
    again = client.submit("gw-neutrino-followup", {"event": synthetic.NAME,
                                                   "time_window": 500.0})
    assert again.cached or again.id == job.id


def test_a_pixel_limit_equals_a_direct_icecube_request(client):
    _, summary, pixels, _ = _followup(client, time_window=0.0)
    assert summary["likelihood"] == "time-integrated"
    for row in (pixels[int(np.argmax(pixels["ts"]))], pixels[len(pixels) // 3]):
        direct = client.submit("icecube", {
            "RA": float(row["ra"]), "DEC": float(row["dec"]), "T1": RELEASE_SPAN[0],
            "T2": RELEASE_SPAN[1], "index": 2.0, "upper_limit_method": "profile",
            "background_trials": 0, "ts_map_radius": 0.5})
        direct.wait(progress=False, timeout=120)
        assert direct.state == "done", direct.error
        s = direct.products["summary"].to_astropy(format="ecsv")[0]
        assert float(row["flux_ul"]) == pytest.approx(float(s["flux_upper_limit"]), rel=1e-6)
        assert float(row["ts"]) == pytest.approx(float(s["ts"]), rel=1e-6, abs=1e-9)


def test_transient_pixel_equals_a_single_pixel_request(client):
    _, summary, pixels, _ = _followup(client, time_window=500.0)
    row = pixels[7]
    single = client.submit("icecube-region", {
        "nside": 64, "pixels": str(int(row["ipix"])), "T1": summary["t_start"],
        "T2": summary["t_stop"], "likelihood": "transient"})
    single.wait(progress=False, timeout=120)
    assert single.state == "done", single.error
    one = single.products["pixel_limits"].to_astropy(format="ecsv")[0]
    assert float(one["flux_ul"]) == pytest.approx(float(row["flux_ul"]), rel=1e-9)


def test_an_unknown_event_is_a_clear_error(client):
    from astroflow.client.errors import JobFailed

    job = client.submit("gw-neutrino-followup", {"event": "GW999999_000000"})
    with pytest.raises(JobFailed, match="knows no event 'GW999999_000000'"):
        job.wait(progress=False, timeout=60)
    assert job.state == "failed" and job.error.analysis
