"""The gw-strain service through a real `astroflow serve`, its archive a GWOSC API v2 replay
on 127.0.0.1 (host mode: gwosc locates, gwpy downloads over HTTP into the run's cache), and
the notebook on the offline mirror (mirror mode: files read in place)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from astropy.time import Time
from astropy.wcs import WCS
from gw_open import synthetic
from server_process import ServerProcess

from astroflow.client import Client

GPS = Time("2012-06-18T12:00:00", scale="utc").gps
WORKFLOW = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def client(tmp_path_factory, replay):
    url, _ = replay
    root = tmp_path_factory.mktemp("gw-strain")
    data_dir = root / "data"
    (data_dir / "gw").mkdir(parents=True)
    (data_dir / "gw" / "current.json").write_text(json.dumps({"mode": "host", "host": url}))
    services = root / "services"
    services.mkdir()
    (services / "gw").symlink_to(WORKFLOW)
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


def test_strain_notebook_reads_the_offline_mirror(data_root, tmp_path):
    from astroflow import Workflow

    workflow = Workflow.from_path(WORKFLOW / "gw_strain.py")
    result = workflow.run({"event": "", "gps_time": GPS + 1.0, "detectors": "L1, V1",
                           "window": 2.0, "f_low": 30.0, "f_high": 300.0},
                          job_dir=tmp_path / "job", time_limit=120,
                          env={"ASTROFLOW_DATA_DIR": str(data_root)})
    assert result.status == "done", result.error
    table = Table.read(next(tmp_path.rglob("whitened_strain.ecsv")))
    assert table.colnames == ["time", "L1"]  # V1 has no strain in the mirror: said, not fatal
    assert table.meta["missing_detectors"] == ["V1"]
    assert table.meta["sample_rate_Hz"] == 1024  # 2.5 samples per cycle of 305 Hz
    assert table["time"][0] == pytest.approx(GPS, abs=1e-3)
    assert "offline GWOSC mirror" in table.meta["source"]
    with fits.open(next(tmp_path.rglob("q_transform.fits"))) as hdul:
        assert [h.name for h in hdul] == ["L1"]
        assert hdul[0].header["CRVAL2"] == pytest.approx(30.0)
