"""The gw-strain service through a real `astroflow serve`, its archive a GWOSC API v2 replay
on 127.0.0.1 (host mode: gwosc locates, gwpy downloads over HTTP into the run's cache)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from astropy.io import fits
from astropy.time import Time
from astropy.wcs import WCS
from gw_open import synthetic
from server_process import ServerProcess

from astroflow.client import Client

GPS = Time("2012-06-18T12:00:00", scale="utc").gps


@pytest.fixture(scope="module")
def client(tmp_path_factory, replay):
    url, _ = replay
    root = tmp_path_factory.mktemp("gw-strain")
    data_dir = root / "data"
    (data_dir / "gw").mkdir(parents=True)
    (data_dir / "gw" / "current.json").write_text(json.dumps({"mode": "host", "host": url}))
    services = root / "services"
    services.mkdir()
    (services / "gw").symlink_to(synthetic.__file__.rsplit("/gw_open/", 1)[0])
    with ServerProcess(data_dir, services=[services], workers=2).running() as proc, \
            Client(proc.url, token="") as c:
        yield c


def test_strain_service_products(client, replay, tmp_path):
    _, server = replay
    before = sum(".hdf5" in p for p in server.requests)
    job = client.submit("gw-strain", {"event": synthetic.NAME, "window": 4.0})
    failed = client.submit("gw-strain", {"event": synthetic.NAME, "detectors": "H1,X1"})
    job.wait(progress=False, timeout=120)
    assert job.state == "done", job.error
    assert sum(".hdf5" in p for p in server.requests) > before  # downloaded over HTTP

    products = job.products
    table = products["whitened_strain"].to_astropy(format="ecsv")
    assert table.colnames == ["time", "H1", "L1"]
    assert table["time"][0] == pytest.approx(GPS - 2.0, abs=1e-3)
    assert table["time"][-1] == pytest.approx(GPS + 2.0, abs=1e-3)
    assert table.meta["sample_rate_Hz"] == 2048
    quiet = np.abs(np.asarray(table["time"]) - GPS) > 0.5
    assert np.var(np.asarray(table["H1"])[quiet]) == pytest.approx(1.0, rel=0.15)

    path = products["q_transform"].save(tmp_path, format="fits")
    with fits.open(path) as hdul:
        assert [h.name for h in hdul] == ["H1", "L1"]
        for hdu in hdul:
            wcs = WCS(hdu.header)
            row, col = np.unravel_index(np.argmax(hdu.data), hdu.data.shape)
            t, f = wcs.pixel_to_world_values(col, row)
            assert abs(t) < 0.05 and 60 < f < 400  # seconds from GPSREF = the event; Hz
            assert hdu.header["GPSREF"] == pytest.approx(GPS)
    assert products["q_plot"].save(tmp_path, format="png").stat().st_size > 20_000

    failed.wait(progress=False, timeout=60, check=False)
    assert failed.state == "failed"
    assert "choose among H1, L1, V1" in str(failed.error)
