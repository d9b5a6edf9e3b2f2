"""Sky maps: the synthetic event's credible areas against an independent flat-HEALPix
calculation (plain numpy/healpy on the FITS columns) and the analytic truth, searched
probabilities at known points, the speed of a lookup, credible pixels, flat-map input."""

from __future__ import annotations

import math
import time

import healpy as hp
import numpy as np
import pytest
from astropy.table import Table
from gw_open import synthetic
from gw_open.errors import AnalysisError
from gw_open.skymap import read_sky_map

NSIDE = 256  # the synthetic map's finest order (8)
SYNTHETIC_FILE = f"skymaps/{synthetic.NAME}/{synthetic.NAME}.multiorder.fits"


@pytest.fixture(scope="module")
def sky_path(gw_mirror):
    return gw_mirror / SYNTHETIC_FILE


@pytest.fixture(scope="module")
def sky(sky_path):
    return read_sky_map(sky_path)


@pytest.fixture(scope="module")
def flat_prob(sky_path) -> np.ndarray:
    """The file's multi-order pixels spread onto a flat NESTED map at NSIDE, by hand: UNIQ =
    4 * 4**order + ipix, each pixel's probability split equally among its children."""
    table = Table.read(sky_path, hdu=1)
    uniq = np.asarray(table["UNIQ"], dtype=np.int64)
    order = (np.floor(np.log2(uniq / 4) / 2)).astype(np.int64)
    ipix = uniq - 4 * 4**order
    density = np.asarray(table["PROBDENSITY"], float)  # per sr
    pixel_sr = 4 * math.pi / (12 * 4.0**order)
    prob = np.zeros(hp.nside2npix(NSIDE))
    shift = 2 * (8 - order)
    for k in range(len(uniq)):
        first = ipix[k] << shift[k]
        n = 1 << shift[k]
        prob[first:first + n] += density[k] * pixel_sr[k] / n
    return prob


def flat_area(prob: np.ndarray, level: float) -> float:
    ordered = np.sort(prob)[::-1]
    n = int(np.searchsorted(np.cumsum(ordered), level)) + 1
    return n * hp.nside2pixarea(NSIDE, degrees=True)


def flat_searched(prob: np.ndarray, ra: float, dec: float) -> float:
    pix = hp.ang2pix(NSIDE, ra, dec, nest=True, lonlat=True)
    return float(np.sum(prob[prob >= prob[pix]]))


def test_credible_areas_match_flat_healpix_and_analytic(sky, flat_prob):
    assert flat_prob.sum() == pytest.approx(1.0, abs=1e-9)
    for level, truth in ((0.5, 249.26), (0.9, 1000.0)):
        assert synthetic.credible_area(level) == pytest.approx(truth, rel=1e-3)
        independent = flat_area(flat_prob, level)
        assert sky.credible_area(level) == pytest.approx(independent, rel=0.01)
        assert independent == pytest.approx(truth, rel=0.02)
    assert 900 <= sky.credible_area(0.9) <= 1100
    # the analytic density itself on a flat map at NSIDE 512 (healpy pixel centres)
    nside = 512
    ra, dec = hp.pix2ang(nside, np.arange(hp.nside2npix(nside)), nest=True, lonlat=True)
    dens = synthetic.probability_density(np.radians(ra), np.radians(dec))
    prob = dens * hp.nside2pixarea(nside)
    assert prob.sum() == pytest.approx(1.0, abs=2e-3)
    ordered = np.sort(prob)[::-1] / prob.sum()
    area90 = (np.searchsorted(np.cumsum(ordered), 0.9) + 1) * hp.nside2pixarea(nside, True)
    assert area90 == pytest.approx(1000.0, rel=0.01)


def test_searched_probability_at_known_points(sky, flat_prob):
    density, level = sky.probability_at(synthetic.RA0, synthetic.DEC0)
    assert level < 0.005
    peak_density = synthetic.probability_density(np.radians(synthetic.RA0),
                                                 np.radians(synthetic.DEC0)) / (180 / math.pi)**2
    assert density == pytest.approx(float(peak_density), rel=0.02)
    assert sky.probability_at(330.0, -25.0)[1] > 0.9999  # the opposite side of the sky
    for angle in (0, 45, 90, 180, 270):
        ra, dec = synthetic.point_on_contour(0.5, angle)
        got = sky.probability_at(ra, dec)[1]
        assert got == pytest.approx(0.5, abs=0.03), angle
        assert got == pytest.approx(flat_searched(flat_prob, ra, dec), abs=0.01)
    for angle in (30, 200):
        ra, dec = synthetic.point_on_contour(0.9, angle)
        assert sky.probability_at(ra, dec)[1] == pytest.approx(0.9, abs=0.02)
    assert sky.peak == pytest.approx((synthetic.RA0, synthetic.DEC0), abs=0.3)
    with pytest.raises(AnalysisError, match="DEC"):
        sky.probability_at(10.0, 95.0)


def test_agrees_with_ligo_skymap_crossmatch(sky):
    from astropy.coordinates import SkyCoord
    from ligo.skymap.postprocess.crossmatch import crossmatch

    points = [(synthetic.RA0, synthetic.DEC0), synthetic.point_on_contour(0.5, 90),
              synthetic.point_on_contour(0.9, 10), (20.0, -60.0)]
    coords = SkyCoord([p[0] for p in points], [p[1] for p in points], unit="deg")
    result = crossmatch(sky.table, coords, contours=(0.5, 0.9))
    ours = [sky.probability_at(ra, dec) for ra, dec in points]
    np.testing.assert_allclose([p for _, p in ours], result.searched_prob, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose([d for d, _ in ours],
                               np.asarray(result.probdensity) / (180 / math.pi) ** 2, rtol=1e-9)
    np.testing.assert_allclose([sky.credible_area(0.5), sky.credible_area(0.9)],
                               result.contour_areas, rtol=1e-6)


def test_probability_at_is_fast(sky):
    sky.probability_at(150.0, 25.0)
    points = np.random.default_rng(1).uniform([0, -90], [360, 90], size=(300, 2))
    start = time.perf_counter()
    for ra, dec in points:
        sky.probability_at(ra, dec)
    per_call = (time.perf_counter() - start) / len(points)
    assert per_call < 0.05
    print(f"probability_at: {per_call * 1e3:.3f} ms per call (warm)")


def test_credible_pixels_and_distance(sky):
    region = sky.credible_pixels(0.9, 64)
    assert region.meta["nside"] == 64 and region.meta["order"] == "nested"
    assert float(region["prob"].sum()) == pytest.approx(0.9, abs=0.01)
    assert region.meta["area_deg2"] == pytest.approx(sky.credible_area(0.9), rel=0.03)
    assert {"ipix", "ra", "dec", "prob", "distmu", "distsigma", "distnorm"} <= set(
        region.colnames)
    ra, dec = hp.pix2ang(64, region["ipix"], nest=True, lonlat=True)
    np.testing.assert_allclose(region["ra"], ra)
    assert sky.distance == pytest.approx((410.0, 110.0), rel=1e-3)
    # every pixel of the region has a higher density than any outside it
    flat = np.asarray(sky.flat(64)["PROB"])
    outside = np.setdiff1d(np.arange(flat.size), region["ipix"])
    assert flat[region["ipix"]].min() >= flat[outside].max()


def test_flat_map_input(tmp_path, flat_prob):
    path = tmp_path / "flat.fits"
    hp.write_map(str(path), hp.reorder(flat_prob, n2r=True), column_names=["PROB"],
                 coord="C", dtype=np.float64)
    flat_sky = read_sky_map(path, event="flat", gps=1.0)
    assert flat_sky.credible_area(0.9) == pytest.approx(flat_area(flat_prob, 0.9), rel=0.005)
    ra, dec = synthetic.point_on_contour(0.5, 90)
    assert flat_sky.probability_at(ra, dec)[1] == pytest.approx(
        flat_searched(flat_prob, ra, dec), abs=0.005)
    assert flat_sky.distance is None


def test_unreadable_file_is_an_analysis_error(tmp_path):
    bad = tmp_path / "bad.fits"
    bad.write_text("not fits")
    with pytest.raises(AnalysisError, match="not a readable"):
        read_sky_map(bad)
    with pytest.raises(AnalysisError, match="does not exist"):
        read_sky_map(tmp_path / "missing.fits")
