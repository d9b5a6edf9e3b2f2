"""The SPI-ACS client against a local replay server of the real ``genlc`` protocol."""

from __future__ import annotations

import socket

import astropy.units as u
import numpy as np
import pytest
from astropy.time import Time
from grb_detect import spiacs
from grb_detect.detection import detect
from grb_detect.errors import AnalysisError
from make_spiacs_fixture import BURST, HALF_SPAN, T0
from spiacs_replay import start_replay

T_CENTRE = Time(T0, scale="utc")
T1, T2 = T_CENTRE - HALF_SPAN * u.s, T_CENTRE + HALF_SPAN * u.s


def test_request_url_is_the_services_centre_and_half_span():
    url = spiacs.request_url(T1, T2, "https://example.org/api/v1.0/")
    assert url == f"https://example.org/api/v1.0/genlc/ACS/{T0}/150.000"


def test_fetch_reads_the_recorded_reply_and_finds_its_burst(spiacs_server):
    lc = spiacs.fetch(T1, T2, base=spiacs_server)
    assert lc.is_counts and len(lc) == 6000
    assert np.allclose(lc.dt, 0.05)
    # IJD (TT) back to UTC: the first bin centre is 25 ms after T1
    assert abs((lc.t_ref - T1).to_value(u.s) - 0.025) < 1e-3
    assert 4000 < np.median(lc.counts) < 5000
    result = detect(lc)
    assert len(result.detections) == 1
    det = result.detections[0]
    true_t05 = HALF_SPAN + BURST["t05_from_t0"]
    assert det["t_start"] - 1 < true_t05 < det["t_stop"]
    assert det["significance"] > 20
    assert abs(det["t90"] - BURST["t90"]) < 3 * det["t90_err"]


def test_env_variable_sets_the_base_url(spiacs_server, monkeypatch):
    monkeypatch.setenv("SPIACS_BASE_URL", spiacs_server)
    assert spiacs.base_url() == spiacs_server
    assert len(spiacs.fetch(T1, T2)) == 6000


def test_plain_text_reply_is_read_too():
    url, server = start_replay(plain=True)
    try:
        assert len(spiacs.fetch(T1, T2, base=url)) == 6000
    finally:
        server.shutdown()


def test_no_data_reply_is_an_analysis_error(spiacs_server):
    with pytest.raises(AnalysisError, match="HTTP 400.*NoData"):
        spiacs.fetch(Time("2012-01-01T00:00:00"), Time("2012-01-01T00:10:00"),
                     base=spiacs_server)


def test_unreachable_archive_says_so_and_what_to_do():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    with pytest.raises(AnalysisError, match="unreachable.*upload a light-curve file"):
        spiacs.fetch(T1, T2, base=f"http://127.0.0.1:{closed}/api/v1.0")


def test_silent_archive_times_out_as_unreachable():
    url, server = start_replay(delay=2.0)
    try:
        with pytest.raises(AnalysisError, match="unreachable"):
            spiacs.fetch(T1, T2, base=url, timeout=0.3)
    finally:
        server.shutdown()


def test_span_longer_than_two_hours_is_refused_before_any_request():
    with pytest.raises(AnalysisError, match="T2 - T1 = 7260 s.*shorten"):
        spiacs.fetch(T1, T1 + 7260 * u.s, base="http://127.0.0.1:1/never")
    with pytest.raises(AnalysisError, match="must be after T1"):
        spiacs.fetch(T2, T1, base="http://127.0.0.1:1/never")


def test_error_words_in_a_200_reply_are_reported():
    with pytest.raises(AnalysisError, match="ZeroData"):
        spiacs.parse('"dump lc exceptions:ZeroData()"')
