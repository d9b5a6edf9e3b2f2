"""Strain of the synthetic event GW120618_120000 through the real clients (gwosc locates the
files, gwpy downloads and reads them) from a GWOSC API v2 replay on 127.0.0.1, and the
physics of what comes out, checked against independent calculations: the merger time from
the event's UTC date, the Newtonian chirp of its masses, the H1-L1 light travel time from
the sites' coordinates, and unit variance for whitened Gaussian noise."""

from __future__ import annotations

import math
import socket

import h5py
import numpy as np
import pytest
from astropy.time import Time
from gw_open import strain, strain_mirror, synthetic
from gw_open.errors import AnalysisError

GPS = Time("2012-06-18T12:00:00", scale="utc").gps  # the event's name, independently
SPAN = (GPS - 12, GPS + 12)
# Detector vertices, Earth-fixed (m): LIGO-T980044, as in LALSuite's detector table
SITES = {"H1": (-2.16141492636e6, -3.83469517889e6, 4.60035022664e6),
         "L1": (-7.42760447238e4, -5.49628371971e6, 3.22425701744e6)}
C = 299792458.0
G_MSUN_C3 = 4.925490947641267e-06  # s


@pytest.fixture(scope="module")
def fetched(replay, tmp_path_factory):
    url, server = replay
    cache = tmp_path_factory.mktemp("strain-cache")
    before = sum(".hdf5" in p for p in server.requests)
    series = {d: strain.fetch_strain(d, *SPAN, host=url, cache_dir=cache) for d in ("H1", "L1")}
    downloads = sum(".hdf5" in p for p in server.requests) - before
    return series, cache, downloads


def _h1_minus_l1_delay() -> float:
    """Arrival at H1 minus arrival at L1 for a plane wave from the sky map's peak."""
    gmst = Time(GPS, format="gps").sidereal_time("mean", "greenwich").rad
    ra, dec = math.radians(synthetic.RA0), math.radians(synthetic.DEC0)
    hour_angle = gmst - ra
    towards = np.array([math.cos(dec) * math.cos(hour_angle),
                        -math.cos(dec) * math.sin(hour_angle), math.sin(dec)])
    # a detector nearer the source (larger r . n) hears the wave first
    return float(np.dot(np.subtract(SITES["L1"], SITES["H1"]), towards) / C)


def test_files_have_gwosc_names_and_layout(gw_mirror):
    files = strain_mirror.find_files(gw_mirror, "H1", *SPAN)
    assert [f.name for f in files] == [f"H-H1_GWOSC_4KHZ_R1-{int(GPS) - 16}-32.hdf5"]
    assert files[0].parent.relative_to(gw_mirror).as_posix() == \
        f"eventapi/json/{synthetic.CATALOG}/{synthetic.NAME}/v{synthetic.VERSION}"
    with h5py.File(files[0]) as h5:
        data = h5["strain/Strain"]
        assert data.shape == (32 * 4096,) and data.dtype == np.float64
        assert data.attrs["Xstart"] == int(GPS) - 16 and data.attrs["Xspacing"] == 1 / 4096
        assert h5["meta/GPSstart"][()] == int(GPS) - 16 and h5["meta/Duration"][()] == 32
        assert h5["meta/Detector"][()] == b"H1"
        assert list(h5["quality/simple/DQmask"][()]) == [127] * 32
        assert b"SYNTHETIC" in h5["meta/Description"][()]
        # strain of an O1-like detector: ~1e-21 at 100 Hz... and ~1e-18 of low-frequency noise
        assert 1e-22 < np.std(data[()]) < 1e-17
    # real events get no strain in the offline mirror (simulated noise is not theirs)
    assert strain_mirror.add_strain(gw_mirror, {"name": "GW150914", "gps": 1126259462.4,
                                                "catalog": "GWTC-1-confident"}) == []


def test_gwosc_client_locates_the_event_files(replay):
    from gwosc.locate import get_event_urls, get_urls

    url, _ = replay
    urls = get_urls("L1", *SPAN, host=url)
    assert [u.rsplit("/", 1)[1] for u in urls] == [f"L-L1_GWOSC_4KHZ_R1-{int(GPS) - 16}-32.hdf5"]
    assert urls[0].startswith(url + "/eventapi/json/")
    both = get_event_urls(f"{synthetic.NAME}-v{synthetic.VERSION}", host=url)
    assert sorted(u.rsplit("/", 1)[1][:2] for u in both) == ["H-", "L-"]


def test_host_reads_what_the_mirror_holds_and_caches_files(fetched, replay, gw_mirror):
    series, cache, downloads = fetched
    url, server = replay
    assert downloads == 2  # one file per detector, through HTTP
    for detector, ts in series.items():
        assert ts.name == f"{detector}:GWOSC-4KHZ_R1_STRAIN"
        assert float(ts.span[0]) == SPAN[0] and float(ts.span[1]) == SPAN[1]
        assert ts.sample_rate.value == 4096
        local = strain.fetch_strain(detector, *SPAN, mirror=gw_mirror)
        assert np.array_equal(ts.value, local.value)
    before = sum(".hdf5" in p for p in server.requests)
    strain.fetch_strain("H1", *SPAN, host=url, cache_dir=cache)
    assert sum(".hdf5" in p for p in server.requests) == before  # read from the cache


def test_unreachable_host_and_missing_data_are_analysis_errors(replay, gw_mirror):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends
    with pytest.raises(AnalysisError, match=f"unreachable at http://127.0.0.1:{port}/api/v2"):
        strain.fetch_strain("H1", *SPAN, host=f"http://127.0.0.1:{port}")
    url, _ = replay
    with pytest.raises(AnalysisError, match="no open H1 strain"):
        strain.fetch_strain("H1", GPS + 100, GPS + 110, host=url)
    with pytest.raises(AnalysisError, match="no V1 strain in the mirror"):
        strain.fetch_strain("V1", *SPAN, mirror=gw_mirror)


def test_whitened_noise_has_unit_variance(fetched):
    series, _, _ = fetched
    for ts in series.values():
        white = strain.whitened(ts, 20, 500)
        noise = white.crop(GPS - 10, GPS - 1).value  # the chirp enters the band at ~GPS - 0.3
        assert abs(np.mean(noise)) < 0.03
        assert np.var(noise) == pytest.approx(1.0, rel=0.10)
        assert np.max(np.abs(white.crop(GPS - 0.2, GPS + 0.1).value)) > 4  # the signal stands out


def test_q_transform_peaks_at_the_merger_and_chirps_up(fetched):
    series, _, _ = fetched
    z = synthetic_redshift()
    m1, m2 = (synthetic.PARAMETERS[k] * (1 + z) for k in ("mass_1_source", "mass_2_source"))
    chirp_mass = (m1 * m2) ** 0.6 / (m1 + m2) ** 0.2  # detector frame, Msun
    for detector, ts in series.items():
        hdu, figure = strain.q_transform_image(ts, GPS, 8.0)
        h = hdu.header
        assert (h["CTYPE1"], h["CUNIT1"], h["CTYPE2"], h["CUNIT2"]) == ("TIME", "s", "FREQ", "Hz")
        times = GPS + h["CRVAL1"] + h["CDELT1"] * np.arange(hdu.data.shape[1])
        freqs = h["CRVAL2"] + h["CDELT2"] * np.arange(hdu.data.shape[0])
        row, col = np.unravel_index(np.argmax(hdu.data), hdu.data.shape)
        assert abs(times[col] - GPS) < 0.05, detector  # merger (the light time is < 21 ms)
        assert hdu.data.max() > 20  # far above the noise's median of 1
        ridge = [freqs[np.argmax(hdu.data[:, np.argmin(abs(times - (times[col] - tau)))])]
                 for tau in (0.06, 0.04, 0.02)]
        assert ridge[0] < ridge[1] < ridge[2], (detector, ridge)
        # Newtonian chirp: f(tau) = (5 / 256 tau)^(3/8) / pi / (G Mc / c^3)^(5/8)
        newton = [(5 / (256 * tau)) ** 0.375 / math.pi / (G_MSUN_C3 * chirp_mass) ** 0.625
                  for tau in (0.06, 0.04, 0.02)]
        # leading order only: post-Newtonian terms lower f by 10-20 % this close to merger
        assert np.allclose(ridge, newton, rtol=0.25), (detector, ridge, newton)
        assert len(figure.axes) >= 1


def test_h1_l1_delay_is_the_light_travel_time(fetched):
    series, _, _ = fetched
    table = strain.light_curve(series, GPS, 1.0, 30, 400)
    assert table.colnames == ["time", "H1", "L1"] and table["time"].unit == "s"
    rate = table.meta["sample_rate_Hz"]
    h1, l1 = (np.asarray(table[d], float) for d in ("H1", "L1"))
    lags = np.arange(-int(0.012 * rate), int(0.012 * rate) + 1)  # |delay| <= 10 ms
    xcorr = np.array([abs(np.dot(h1[100:-100], np.roll(l1, lag)[100:-100])) for lag in lags])
    k = int(np.argmax(xcorr))
    a, b, c = xcorr[k - 1: k + 2]
    lag = (lags[k] + 0.5 * (a - c) / (a - 2 * b + c)) / rate  # parabolic sub-sample peak
    expected = _h1_minus_l1_delay()
    assert abs(expected) > 0.002  # a delay worth measuring
    assert lag == pytest.approx(expected, abs=0.001)


def synthetic_redshift() -> float:
    import astropy.units as u
    from astropy.cosmology import Planck15, z_at_value

    distance = synthetic.PARAMETERS["luminosity_distance"]
    return float(z_at_value(Planck15.luminosity_distance, distance * u.Mpc))
