"""Limits over a region: the same numbers as a direct request at each pixel centre."""

from __future__ import annotations

import astropy.units as u
import numpy as np
import pytest
from astropy_healpix import HEALPix
from icecube_ps import region, service
from icecube_ps.errors import AnalysisError

T1, T2 = "2012-01-01T00:00:00", "2013-01-01T00:00:00"


def test_pixel_ranges_round_trip():
    ipix = np.array([3, 4, 5, 9, 11, 12, 40])
    text = region.format_pixels(ipix)
    assert text == "3-5,9,11-12,40"
    assert np.array_equal(region.parse_pixels(text, 4), ipix)
    assert np.array_equal(region.parse_pixels(" 5 ; 3-4,4 ", 4), [3, 4, 5])


@pytest.mark.parametrize("text, nside, words", [
    ("", 64, "no pixel"), ("12-x", 64, "cannot read '12-x'"), ("40-12", 64, "not a range"),
    ("0-48", 2, "within 0-47"), ("1", 3, "not a power of 2")])
def test_bad_pixels_say_why(text, nside, words):
    with pytest.raises(AnalysisError, match=words):
        region.parse_pixels(text, nside)


def test_region_limits_equal_direct_requests(small_release, source):
    nside = 64
    hp = HEALPix(nside=nside, order="nested")
    centre = int(hp.lonlat_to_healpix(source.ra * u.deg, source.dec * u.deg))
    ipix = np.unique(np.concatenate([[centre], hp.neighbours(centre).ravel(),
                                     [centre + 5000]]))
    table = region.pixel_limits(small_release, nside, ipix, T1, T2, index=2.0)
    assert len(table) == ipix.size
    assert table.meta["ORDERING"] == "NESTED" and table.meta["NSIDE"] == nside
    for row in table[:3]:
        direct = service.run(small_release, "pixel", float(row["ra"]), float(row["dec"]),
                             T1, T2, index=2.0, background_trials=0,
                             upper_limit_method="profile", ts_map_pixels=3).summary[0]
        assert row["flux_ul"] == pytest.approx(float(direct["flux_upper_limit"]), rel=1e-9)
        assert row["ts"] == pytest.approx(float(direct["ts"]), rel=1e-9, abs=1e-12)
        assert row["e_min"] == pytest.approx(float(direct["e_min"]))
    # the injected source stands out at its pixel, not 5000 pixels away
    best = table[np.argmax(table["ts"])]
    assert best["ipix"] in set(ipix[ipix != centre + 5000])
    assert best["ts"] > 9.0
    far = table[table["ipix"] == centre + 5000][0]
    assert far["ts"] < best["ts"]
    # energy fluence = flux limit x livetime x integral of E dN/dE, in erg
    row = table[0]
    expected = (row["flux_ul"] * table.meta["LIVETIME"]
                * region.energy_integral(2.0, row["e_min"], row["e_max"]) * 1.602176634)
    assert row["fluence_ul"] == pytest.approx(expected, rel=1e-6)


def test_energy_integral_matches_quadrature():
    from scipy.integrate import quad

    for gamma in (2.0, 2.5, 3.0):
        num = quad(lambda e, g=gamma: e * e ** -g, 0.1, 1000.0)[0]  # E in TeV
        assert region.energy_integral(gamma, 100.0, 1e6) == pytest.approx(num, rel=1e-6)


def test_transient_limit_is_poisson_without_events():
    """No event near the source: Lambda = exp(-n_s), the 90% limit is -ln(0.1) = 2.303."""
    from icecube_ps import transient

    fit = transient.fit_and_limit(np.array([]), 0.9)
    assert fit.ts == 0.0 and fit.ns == 0.0
    assert fit.ns_upper_limit == pytest.approx(-np.log(0.1), rel=1e-6)


def test_transient_limit_covers():
    """Toy transient: background uniform on a 100 deg^2 patch (mu = 2 events), signal a
    1-deg Gaussian. The 90% limit covers the true mean at 3 and 10 signal events."""
    from icecube_ps import transient

    rng = np.random.default_rng(5)
    area, sigma, mu = 100.0, 1.0, 2.0
    for n_true in (3.0, 10.0):
        covered = 0
        for _ in range(600):
            nb, ns = rng.poisson(mu), rng.poisson(n_true)
            r2 = np.concatenate([rng.uniform(0, area / np.pi, nb),
                                 rng.exponential(2 * sigma**2, ns)])
            s = np.exp(-r2 / (2 * sigma**2)) / (2 * np.pi * sigma**2)
            a = s * area / mu                 # f x / mu with x = S / B, B = 1 / area
            covered += transient.fit_and_limit(a, 0.9).ns_upper_limit >= n_true
        assert 0.88 <= covered / 600 <= 0.99, (n_true, covered / 600)


def test_transient_and_time_integrated_agree_on_long_windows(small_release, source):
    nside = 64
    hp = HEALPix(nside=nside, order="nested")
    centre = int(hp.lonlat_to_healpix(source.ra * u.deg, source.dec * u.deg))
    ipix = np.array([centre, centre + 5000])
    ratio = region.pixel_limits(small_release, nside, ipix, T1, T2)
    ext = region.pixel_limits(small_release, nside, ipix, T1, T2, likelihood="transient")
    assert ext.meta["MU_BKG"] == pytest.approx(ratio.meta["MU_BKG"], rel=0.1)
    assert ext["ts"][0] == pytest.approx(ratio["ts"][0], rel=0.15)
    assert ext["ns_ul"][0] == pytest.approx(ratio["ns_ul"][0], rel=0.15)


def test_transient_window_of_minutes(small_release):
    """±500 s: a handful of events in the sky; limits near the Poisson 2.3 events, not
    capped by the events observed."""
    t1, t2 = "2012-06-18T11:51:40", "2012-06-18T12:08:20"
    ipix = np.arange(20000, 20040)
    table = region.pixel_limits(small_release, 64, ipix, t1, t2, likelihood="transient")
    assert table.meta["LIVETIME"] > 0 and table.meta["MU_BKG"] < 20
    assert np.all(table["ns_ul"] >= -np.log(0.1) - 1e-6)
    assert np.median(table["ns_ul"]) == pytest.approx(-np.log(0.1), rel=0.05)
