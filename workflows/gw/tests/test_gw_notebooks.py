"""Both notebooks through a real `astroflow serve` whose runs query the replay server
(GWOSC_SERVER_URL, passed to runs by ASTROFLOW_RUN_ENV): products, values against the sky
map read here, WCS of the image, the multi-order file, and user errors by name."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS
from gw_open import synthetic
from gw_open.skymap import read_sky_map
from server_process import ServerProcess

from astroflow.client import Client

WORKFLOW = Path(__file__).resolve().parents[1]



@pytest.fixture(scope="module")
def client(tmp_path_factory, replay, data_root):
    url, _ = replay
    root = tmp_path_factory.mktemp("gw-serve")
    services = root / "services"
    services.mkdir()
    (services / "gw").symlink_to(WORKFLOW)
    env = {"GWOSC_SERVER_URL": url, "GRACEDB_SERVICE_URL": "off",
           "ASTROFLOW_RUN_ENV": "GWOSC_SERVER_URL,GRACEDB_SERVICE_URL"}
    with ServerProcess(data_root, services=[services], workers=2, env=env).running() as server, \
            Client(server.url, token="") as c:
        yield c


@pytest.fixture(scope="module")
def sky(gw_mirror):
    return read_sky_map(gw_mirror / f"skymaps/{synthetic.NAME}/{synthetic.NAME}.multiorder.fits")


@pytest.mark.timeout(120)
def test_sky_map_service(client, sky, replay):
    names = {s.name for s in client.services()}
    assert {"gw-sky-map", "gw-event-search"} <= names
    job = client.submit("gw-sky-map", event=synthetic.NAME, RA=165.0, DEC=30.0)
    search = client.submit("gw-event-search", T1="2012-01-01T00:00:00",
                           T2="2020-12-31T00:00:00", RA=165.0, DEC=30.0, use_position=True)
    job = job.wait(progress=False, timeout=90, check=False)
    assert job.state == "done", job.error
    summary = job.products["summary"].to_astropy()[0]
    density, searched = sky.probability_at(165.0, 30.0)
    assert summary["searched_prob"] == pytest.approx(searched, rel=1e-9)
    assert summary["prob_density"] == pytest.approx(density, rel=1e-9)
    assert summary["area_90"] == pytest.approx(1000.0, rel=0.01)
    assert summary["area_50"] == pytest.approx(250.0, rel=0.02)
    assert (summary["distance_mean"], summary["distance_std"]) == pytest.approx((410, 110))
    assert replay[0] in job.products["summary"].to_astropy().meta["source"]
    assert job.products["sky_picture"].download(format="png").startswith(b"\x89PNG")
    with fits.open(io.BytesIO(job.products["probability_image"].download(format="fits"))) as h:
        image = next(hdu for hdu in h if hdu.data is not None)
        wcs = WCS(image.header)
        assert wcs.has_celestial and image.header["BUNIT"] == "deg-2"
        y, x = np.unravel_index(np.nanargmax(image.data), image.data.shape)
        peak = wcs.pixel_to_world(x, y)
        assert peak.separation(SkyCoord(synthetic.RA0, synthetic.DEC0, unit="deg")).deg < 1.0
    blob = job.products["multiorder_fits"].download()
    with fits.open(io.BytesIO(blob)) as h:
        assert h[1].header["ORDERING"] == "NUNIQ" and h[1].header["OBJECT"] == synthetic.NAME
    search = search.wait(progress=False, timeout=90, check=False)
    assert search.state == "done", search.error
    events = search.products["events"].to_astropy()
    assert list(events["name"]) == [synthetic.NAME]
    assert events["searched_prob"][0] == pytest.approx(searched, rel=1e-9)


@pytest.mark.timeout(120)
def test_user_errors_by_name(client):
    real = client.submit("gw-sky-map", event="GW170817", RA=197.45, DEC=-23.38)
    unknown = client.submit("gw-sky-map", event="GW999999", RA=0.0, DEC=0.0)
    search = client.submit("gw-event-search", T1="2017-01-01T00:00:00",
                           T2="2017-12-31T00:00:00", catalogues="GWTC-1")
    real = real.wait(progress=False, timeout=60, check=False)
    assert real.state == "failed" and real.error.analysis
    assert "no sky map for GW170817" in real.error.message
    unknown = unknown.wait(progress=False, timeout=60, check=False)
    assert unknown.state == "failed" and "knows no event 'GW999999'" in unknown.error.message
    search = search.wait(progress=False, timeout=60, check=False)
    assert search.state == "done", search.error
    assert list(search.products["events"].to_astropy()["name"]) == ["GW170104", "GW170814",
                                                                    "GW170817"]


@pytest.mark.timeout(120)
def test_defaults_work_offline(data_root, tmp_path, monkeypatch):
    """Both notebooks with their default values on the mirror `astroflow data fetch gw
    --release mirror` makes (no GWOSC_SERVER_URL)."""
    from astroflow import Workflow

    monkeypatch.delenv("GWOSC_SERVER_URL", raising=False)
    env = {"ASTROFLOW_DATA_DIR": str(data_root)}
    search = Workflow.from_path(WORKFLOW / "gw_event_search.py").run(
        {}, job_dir=tmp_path / "search", time_limit=60, env=env)
    assert search.status == "done", search.error
    events = Table.read(tmp_path / "search" / "products" / "events.ecsv")
    assert synthetic.NAME in events["name"] and "GW150914" in events["name"]
    assert "offline GWOSC mirror" in events.meta["source"]
    sky = Workflow.from_path(WORKFLOW / "gw_sky_map.py").run(
        {}, job_dir=tmp_path / "sky", time_limit=60, env=env)
    assert sky.status == "done", sky.error
    summary = Table.read(tmp_path / "sky" / "products" / "summary.ecsv")
    assert summary["event"][0] == synthetic.NAME and 0 < summary["searched_prob"][0] < 1
