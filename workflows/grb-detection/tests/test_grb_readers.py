"""Readers: the same light curve written as FITS (OGIP, Fermi-GBM-like, Swift-like), ECSV
(seconds, MJD, astropy Time) and CSV (seconds, MJD, ISO strings, odd column names) reads back
to the same bins and the same burst; unreadable files name the file and the columns."""

from __future__ import annotations

import astropy.units as u
import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from astropy.time import Time
from grb_detect import synthetic
from grb_detect.detection import detect
from grb_detect.errors import AnalysisError
from grb_detect.products import light_curve_table
from grb_detect.reading import read_light_curve

LC, BURSTS = synthetic.example_light_curve()
T_REF = Time(synthetic.EXAMPLE["t_ref"], scale="utc")
COUNTS = LC.counts.astype(int)
DT = 0.1


def _same(lc, *, counts=True, tol=1e-3):
    assert len(lc) == len(LC)
    assert np.allclose(lc.dt, DT, atol=1e-6)
    if lc.t_ref is not None:   # absolute times agree to a millisecond
        shift = (lc.t_ref - T_REF).to_value(u.s)
        assert np.allclose(lc.time + shift, LC.time, atol=tol)
    else:
        assert np.allclose(lc.time - lc.time[0], LC.time - LC.time[0], atol=tol)
    assert lc.is_counts is counts
    assert np.allclose(lc.rate, LC.rate, rtol=1e-6)


def _ogip(path, mjdref=(58000, 0.5), timesys="UTC"):
    mjd0 = mjdref[0] + mjdref[1]
    offset = (T_REF - Time(mjd0, format="mjd", scale=timesys.lower())).to_value(u.s)
    cols = [fits.Column("TIME", "D", "s", array=LC.time + offset),
            fits.Column("RATE", "E", "count/s", array=COUNTS / DT),
            fits.Column("ERROR", "E", "count/s", array=np.sqrt(np.maximum(COUNTS, 1)) / DT)]
    hdu = fits.BinTableHDU.from_columns(cols, name="RATE")
    hdu.header.update({"MJDREFI": mjdref[0], "MJDREFF": mjdref[1], "TIMESYS": timesys,
                       "TIMEDEL": DT, "TIMEUNIT": "s", "TELESCOP": "TEST"})
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path)
    return path


def test_ogip_rate_fits_with_mjdref_and_timedel(tmp_path):
    lc = read_light_curve(_ogip(tmp_path / "lc.fits"))
    _same(lc)   # rate x TIMEDEL with Poisson errors: recognised as counts
    assert "RATE" in lc.source


def test_ogip_in_tt_with_a_lc_suffix(tmp_path):
    _same(read_light_curve(_ogip(tmp_path / "curve.lc", mjdref=(51910, 7.428703703703703e-4),
                                 timesys="TT")))


def test_fermi_gbm_like_counts_per_channel_with_endtime(tmp_path):
    channels = np.stack([COUNTS // 2, COUNTS - COUNTS // 2, np.zeros_like(COUNTS)], axis=1)
    met0 = 700000000.0
    cols = [fits.Column("COUNTS", "3J", array=channels),
            fits.Column("EXPOSURE", "E", array=np.full(len(COUNTS), DT * 0.98)),
            fits.Column("QUALITY", "I", array=np.zeros(len(COUNTS))),
            fits.Column("TIME", "D", "s", array=met0 + LC.t_start),
            fits.Column("ENDTIME", "D", "s", array=met0 + LC.t_stop)]
    spec = fits.BinTableHDU.from_columns(cols, name="SPECTRUM")
    ebounds = fits.BinTableHDU.from_columns(
        [fits.Column("CHANNEL", "I", array=[0, 1, 2]),
         fits.Column("E_MIN", "E", array=[8, 50, 300])], name="EBOUNDS")
    path = tmp_path / "glg_ctime_nb_bn240315500_v00.pha"
    fits.HDUList([fits.PrimaryHDU(), ebounds, spec]).writeto(path)
    lc = read_light_curve(path)
    assert lc.t_ref is None   # no MJDREF: times relative, in seconds
    _same(lc)


def test_swift_like_rate_per_band_with_errors(tmp_path):
    bands = np.stack([COUNTS * 0.25, COUNTS * 0.75], axis=1) / DT + 0.01
    err = np.sqrt(np.maximum(np.stack([COUNTS * 0.25, COUNTS * 0.75], axis=1), 1)) / DT
    hdu = fits.BinTableHDU.from_columns([
        fits.Column("TIME", "D", "s", array=LC.time), fits.Column("RATE", "2E", array=bands),
        fits.Column("ERROR", "2E", array=err)], name="RATE")
    hdu.header["TIMEDEL"] = DT
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(tmp_path / "sw_brtms.lc")
    lc = read_light_curve(tmp_path / "sw_brtms.lc")
    assert not lc.is_counts   # rates with errors, summed over bands
    assert np.allclose(lc.rate, COUNTS / DT + 0.02, rtol=1e-5)
    assert np.allclose(lc.rate_err, np.sqrt(np.maximum(COUNTS * 0.25, 1) +
                                            np.maximum(COUNTS * 0.75, 1)) / DT, rtol=1e-5)


def test_ecsv_with_an_astropy_time_column(tmp_path):
    table = Table({"time": T_REF + LC.time * u.s, "counts": COUNTS})
    table.write(tmp_path / "lc.ecsv")
    _same(read_light_curve(tmp_path / "lc.ecsv"))


def test_csv_with_mjd_rate_and_error(tmp_path):
    path = tmp_path / "lc.csv"
    mjd = T_REF.mjd + LC.time / 86400
    with open(path, "w") as out:
        out.write("MJD,Rate,Rate_Err\n")
        for m, c in zip(mjd, COUNTS, strict=True):
            out.write(f"{m:.10f},{c / DT:.6f},{np.sqrt(max(c, 1)) / DT:.6f}\n")
    _same(read_light_curve(path), counts=False, tol=2e-3)   # MJD rounding: rates, errors


def test_csv_with_iso_times_and_whitespace_and_t(tmp_path):
    iso = (T_REF + LC.time * u.s).isot
    path = tmp_path / "lc.txt"
    path.write_text("isot cts\n" + "".join(f"{t} {c}\n" for t, c in zip(iso, COUNTS,
                                                                           strict=True)))
    _same(read_light_curve(path))
    rel = tmp_path / "relative.csv"
    rel.write_text("t,counts\n" + "".join(f"{t:.2f},{c}\n" for t, c in zip(LC.time, COUNTS,
                                                                           strict=True)))
    lc = read_light_curve(rel)
    assert lc.t_ref is None
    _same(lc)


def test_astroflows_own_light_curve_product_reads_back(tmp_path):
    table = light_curve_table(detect(LC))
    table.write(tmp_path / "light_curve.ecsv")
    table.write(tmp_path / "light_curve.fits")
    for name in ("light_curve.ecsv", "light_curve.fits"):
        lc = read_light_curve(tmp_path / name)
        assert lc.t_ref is not None and abs((lc.t_ref - T_REF).to_value(u.s)) < 1e-3
        _same(lc)


def test_the_shipped_example_gives_its_two_bursts():
    from pathlib import Path

    lc = read_light_curve(Path(__file__).parents[1] / "examples" / "grb_example.ecsv")
    _same(lc)
    found = detect(lc).detections
    assert len(found) == len(BURSTS) == 2
    for det, burst in zip(found, BURSTS, strict=True):
        assert det["t_start"] - 0.5 < burst.t05 < det["t_stop"]


@pytest.mark.parametrize(("text", "match"), [
    ("when,value\n1,2\n2,3\n", r"bad\.csv: no time column .*columns found: when, value"),
    ("time,energy\n1,2\n2,3\n", r"bad\.csv: no counts or rate column .*columns found: time, "
                                r"energy"),
    ("time,rate\n" + "".join(f"{i},{i * 1.37}\n" for i in range(20)),
     r"bad\.csv: rate column 'rate' has no error column"),
    ("just some words\nwithout columns\n", r"bad\.csv: .*(no time column|header row)"),
])
def test_unreadable_csv_names_file_and_columns(tmp_path, text, match):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(AnalysisError, match=match):
        read_light_curve(path)


def test_fits_without_a_light_curve_table(tmp_path):
    fits.PrimaryHDU(np.zeros((4, 4))).writeto(tmp_path / "image.fits")
    with pytest.raises(AnalysisError, match="image.fits: no binary table"):
        read_light_curve(tmp_path / "image.fits")
    hdu = fits.BinTableHDU.from_columns([fits.Column("ENERGY", "E", array=[1, 2])])
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(tmp_path / "events.fits")
    with pytest.raises(AnalysisError, match=r"events.fits\[.*no time column.*ENERGY"):
        read_light_curve(tmp_path / "events.fits")
    (tmp_path / "junk.fits").write_bytes(b"SIMPLE  = nonsense")
    with pytest.raises(AnalysisError, match="junk.fits: not a readable FITS"):
        read_light_curve(tmp_path / "junk.fits")
