"""Event search through the real gwosc client against the replay server (GWOSC's API v2 on
127.0.0.1): time and catalogue filters, published values, the sky-map position filter,
pagination, the mirror mode answering the same, the data step, and unreachable hosts."""

from __future__ import annotations

import json
import shutil
import socket
import time

import numpy as np
import pytest
from gw_open import synthetic
from gw_open.archive import Archive, current_archive
from gw_open.catalogue import event_table
from gw_open.data import fetch
from gw_open.errors import AnalysisError
from gwosc import datasets
from gwosc.api import v2

ALL = ["GW120618_120000", "GW150914", "GW151226", "GW170104", "GW170814", "GW170817",
       "GW190425", "GW190521", "GW200129_065458"]


@pytest.fixture(scope="module")
def host(replay, tmp_path_factory):
    url, _ = replay
    return Archive("host", url, cache=tmp_path_factory.mktemp("gw-cache"))


def test_time_range_and_catalogues(host):
    table = event_table(host, "2017-01-01T00:00:00", "2017-12-31T00:00:00")
    assert list(table["name"]) == ["GW170104", "GW170814", "GW170817"]
    everything = event_table(host, "2010-01-01T00:00:00", "2024-01-01T00:00:00")
    assert list(everything["name"]) == ALL
    gwtc1 = event_table(host, "2010-01-01T00:00:00", "2024-01-01T00:00:00", catalogues="GWTC-1")
    assert list(gwtc1["name"]) == ALL[1:6]
    gwtc = event_table(host, "2010-01-01T00:00:00", "2024-01-01T00:00:00", catalogues="GWTC")
    assert synthetic.NAME not in gwtc["name"] and len(gwtc) == 8
    assert "astroflow synthetic" not in gwtc.meta["source"] and "GWOSC API v2" in \
        gwtc.meta["source"]
    assert "Gravitational Wave Open Science Center" in gwtc.meta["attribution"]
    with pytest.raises(AnalysisError, match="later than T1"):
        event_table(host, "2017-12-31T00:00:00", "2017-01-01T00:00:00")
    with pytest.raises(AnalysisError, match="ISO time"):
        event_table(host, "yesterday", "2017-01-01T00:00:00")


def test_published_values_and_units(host):
    table = event_table(host, "2015-09-01T00:00:00", "2017-09-01T00:00:00")
    row = table[list(table["name"]).index("GW150914")]
    assert row["utc"].startswith("2015-09-14T09:50:45")  # GWTC-1 Table I: 09:50:45 UTC
    assert (row["mass_1"], row["mass_2"], row["chirp_mass"]) == (35.6, 30.6, 28.6)
    assert row["final_mass"] == 63.1 and row["luminosity_distance"] == 440
    assert row["network_snr"] == 24.4 and row["sky_area_90"] == 182
    assert np.isnan(row["total_mass"])  # not in GWTC-1's table
    assert table["mass_1"].unit == "solMass" and table["luminosity_distance"].unit == "Mpc"
    assert table["far"].unit == "1 / yr" and table["sky_area_90"].unit == "deg2"
    ns = table[list(table["name"]).index("GW170817")]
    # the chirp mass from the component medians is near the published one (BNS: tight)
    m1, m2 = ns["mass_1"], ns["mass_2"]
    assert (m1 * m2) ** 0.6 / (m1 + m2) ** 0.2 == pytest.approx(ns["chirp_mass"], rel=0.01)


def test_position_filter_reads_sky_maps(host, replay):
    _, server = replay
    t1, t2 = "2010-01-01T00:00:00", "2024-01-01T00:00:00"
    inside = event_table(host, t1, t2, ra=165.0, dec=30.0, credible_level=0.9)
    assert list(inside["name"]) == [synthetic.NAME]
    assert 0.3 < inside["searched_prob"][0] < 0.9 and inside["prob_density"][0] > 0
    assert sorted(inside.meta["without_sky_map"]) == sorted(ALL[1:])
    ra, dec = synthetic.point_on_contour(0.9, 90)
    assert list(event_table(host, t1, t2, ra=ra, dec=dec, credible_level=0.95)["name"]) == \
        [synthetic.NAME]
    assert len(event_table(host, t1, t2, ra=ra, dec=dec, credible_level=0.85)) == 0
    assert len(event_table(host, t1, t2, ra=330.0, dec=-25.0)) == 0
    downloads = [p for p in server.requests if p.endswith(".multiorder.fits")]
    assert len(downloads) == 1  # downloaded once, then read from the cache


def test_gwosc_client_over_the_replay(replay):
    url, _ = replay
    assert datasets.event_gps("GW170817", host=url) == pytest.approx(1187008882.4)
    assert datasets.event_detectors("GW170814", host=url) == {"H1", "L1", "V1"}
    paged = list(v2.fetch_event_versions(host=url, pagesize=4))
    assert [e["name"] for e in paged] == ALL
    assert [e["name"] for e in v2.fetch_event_versions(host=url, catalogs="GWTC-3-confident")
            ] == ["GW200129_065458"]
    assert [e["name"] for e in v2.fetch_event_versions(
        host=url, select={"max-mass-1-source": 3})] == ["GW170817", "GW190425"]
    assert v2.fetch_event_version("GW150914", host=url)["version"] == 3
    assert "GWTC-1-confident" in {c["name"] for c in v2.fetch_catalogs(host=url)}


def test_mirror_mode_answers_as_the_replay(host, gw_mirror):
    mirror = Archive("mirror", str(gw_mirror))
    a = event_table(mirror, "2010-01-01T00:00:00", "2024-01-01T00:00:00", ra=165, dec=30)
    b = event_table(host, "2010-01-01T00:00:00", "2024-01-01T00:00:00", ra=165, dec=30)
    assert list(a["name"]) == list(b["name"]) and a["searched_prob"][0] == b["searched_prob"][0]
    assert "offline GWOSC mirror" in a.meta["source"]
    with pytest.raises(AnalysisError, match="only for the synthetic event"):
        mirror.sky_map_file("GW170817")
    with pytest.raises(AnalysisError, match="knows no event 'GW999999'"):
        mirror.event("GW999999")


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_and_silent_hosts_fail_clearly():
    url = f"http://127.0.0.1:{closed_port()}"
    with pytest.raises(AnalysisError) as info:
        event_table(Archive("host", url), "2017-01-01T00:00:00", "2017-12-31T00:00:00")
    assert url in str(info.value) and "astroflow data fetch gw" in str(info.value)
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        start = time.monotonic()
        with pytest.raises(AnalysisError, match="cannot be reached") as info:
            Archive("host", url, timeout=1.0).event_versions()
        assert time.monotonic() - start < 5 and url in str(info.value)


def test_data_step_and_current_archive(tmp_path, gw_mirror, replay, monkeypatch):
    url, _ = replay
    monkeypatch.delenv("GWOSC_SERVER_URL", raising=False)
    dest = tmp_path / "gw"
    shutil.copytree(gw_mirror, dest / "mirror", symlinks=True)
    logs: list[str] = []
    fetch(dest, source=f"http://127.0.0.1:{closed_port()}", timeout=1.0, log=logs.append)
    info = json.loads((dest / "current.json").read_text())
    assert info["mode"] == "mirror" and info["path"] == "mirror"
    assert any("did not answer" in line for line in logs)
    assert "up to date" in logs[0]
    archive = current_archive(dest)
    assert archive.mode == "mirror" and archive.location == str((dest / "mirror").resolve())
    with pytest.raises(AnalysisError, match="--release mirror"):
        fetch(dest, source=f"http://127.0.0.1:{closed_port()}", release="gwosc", timeout=1.0,
              log=logs.append)
    fetch(dest, source=url, release="auto", log=logs.append)
    info = json.loads((dest / "current.json").read_text())
    assert info["mode"] == "host" and info["host"] == url
    assert "Open Science Center" in info["attribution"]
    assert current_archive(dest).host == url
    monkeypatch.setenv("GWOSC_SERVER_URL", "http://example.invalid:1")
    assert current_archive(dest).host == "http://example.invalid:1"
    monkeypatch.delenv("GWOSC_SERVER_URL")
    with pytest.raises(AnalysisError, match="astroflow data fetch gw"):
        current_archive(tmp_path / "nothing")
    with pytest.raises(AnalysisError, match="not one of"):
        fetch(dest, release="dr1")
