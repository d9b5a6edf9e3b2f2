"""Open strain around a time: fetch (GWOSC through gwpy, or a mirror on disk), whiten,
Q-transform, and the products of the gw-strain service.

Method: the strain is whitened with its own amplitude spectral density (Welch median, 2 s
Hann segments overlapping by half, over the fetched span), then band-limited to
[f_low, f_high] and scaled by the band's noise bandwidth so that stationary Gaussian noise
comes out with unit variance: the light curve reads in units of the noise's standard
deviation. The Q-transform is gwpy's (Chatterjee et al. 2004 tiling, whitened, energies
normalised by their median), interpolated on a linear time-frequency grid.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import AnalysisError

FFTLENGTH = 2.0  # s, segments of the ASD estimate
FDURATION = 2.0  # s, length of the whitening filter
TAPER = 5.0  # Hz, cosine edges of the band
#: Seconds of data fetched on each side of the window (for the ASD and the filters' edges).
PAD = 4.0


# -- data --------------------------------------------------------------------------------------

def fetch_strain(detector: str, start: float, end: float, *, host: str | None = None,
                 mirror: Path | None = None, cache_dir: Path | None = None):
    """gwpy TimeSeries of ``detector``'s open strain over [start, end).

    ``host``: located and downloaded through gwosc/gwpy (``TimeSeries.fetch_open_data``) from
    that GWOSC host; the files are kept in ``cache_dir`` (astropy's download cache moved
    there) so a second request downloads nothing. ``mirror``: read from a mirror folder
    without HTTP. An unreachable host or a span without data is an AnalysisError.
    """
    if (host is None) == (mirror is None):
        raise ValueError("give exactly one of host or mirror")
    if end <= start:
        raise AnalysisError(f"empty time span [{start}, {end})")
    if mirror is not None:
        return _read_mirror(Path(mirror), detector, start, end)
    return _fetch_host(host.rstrip("/"), detector, start, end, cache_dir)


def _read_mirror(mirror: Path, detector: str, start: float, end: float):
    from gwpy.timeseries import TimeSeries

    from .strain_mirror import find_files

    files = find_files(mirror, detector, start, end)
    if not files:
        raise AnalysisError(f"no {detector} strain in the mirror {mirror} covers GPS "
                            f"[{start:.3f}, {end:.3f})")
    series = TimeSeries.read([str(f) for f in files], format="hdf5.gwosc", start=start,
                             end=end)
    _check_span(series, detector, start, end, str(mirror))
    return series


def _fetch_host(host: str, detector: str, start: float, end: float, cache_dir: Path | None):
    import requests
    from astropy.config.paths import set_temp_cache
    from gwpy.timeseries import TimeSeries

    cache_dir = Path(cache_dir) if cache_dir is not None else None
    if cache_dir is not None:
        cache_dir.mkdir(parents=True, exist_ok=True)
    try:
        if cache_dir is not None:
            with set_temp_cache(str(cache_dir)):
                series = TimeSeries.fetch_open_data(detector, start, end, host=host, cache=True)
        else:
            series = TimeSeries.fetch_open_data(detector, start, end, host=host)
    except Exception as exc:  # noqa: BLE001 - sorted into the two user-facing causes below
        leaves = _leaves(exc)
        network = [e for e in leaves if isinstance(e, requests.RequestException)
                   or "urlopen error" in str(e) or "Connection refused" in str(e)]
        if network:
            first = network[0]
            request = getattr(first, "request", None)
            url = getattr(request, "url", None) or host
            raise AnalysisError(f"GWOSC is unreachable at {url} ({type(first).__name__}: "
                                f"{str(first)[:200]}); try again later or use the offline "
                                "mirror") from exc
        if not all(isinstance(e, ValueError | OSError | KeyError) for e in leaves):
            raise
        text = "; ".join(str(e) for e in leaves)[:400]
        raise AnalysisError(f"GWOSC at {host} has no open {detector} strain covering GPS "
                            f"[{start:.3f}, {end:.3f}) ({text})") from exc
    _check_span(series, detector, start, end, host)
    return series


def _leaves(exc: BaseException) -> list[BaseException]:
    """The exceptions inside (nested) exception groups, or the exception itself."""
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for sub in exc.exceptions for leaf in _leaves(sub)]
    return [exc]


def _check_span(series, detector: str, start: float, end: float, where: str) -> None:
    a, b = float(series.span[0]), float(series.span[1])
    tolerance = 2 * float(series.dt.value)
    if a > start + tolerance or b < end - tolerance:
        raise AnalysisError(f"{where} has {detector} strain for GPS [{a:.3f}, {b:.3f}) only, "
                            f"not all of [{start:.3f}, {end:.3f})")


# -- processing --------------------------------------------------------------------------------

def band_response(frequencies: np.ndarray, f_low: float, f_high: float) -> np.ndarray:
    """The band filter: 1 in [f_low, f_high], cosine edges TAPER wide outside, 0 beyond."""
    f = np.asarray(frequencies, float)
    out = ((f >= f_low) & (f <= f_high)).astype(float)
    low = (f < f_low) & (f > f_low - TAPER)
    out[low] = 0.5 * (1 - np.cos(np.pi * (f[low] - (f_low - TAPER)) / TAPER))
    high = (f > f_high) & (f < f_high + TAPER)
    out[high] = 0.5 * (1 + np.cos(np.pi * (f[high] - f_high) / TAPER))
    return out


def whitened(ts, f_low: float = 20.0, f_high: float = 500.0, *, fftlength: float = FFTLENGTH):
    """Whitened strain band-limited to [f_low, f_high], in units of the noise's standard
    deviation (stationary Gaussian noise gives unit variance)."""
    rate = float(ts.sample_rate.value)
    if not 0 < f_low < f_high <= rate / 2 - TAPER:
        raise AnalysisError(f"band [{f_low}, {f_high}] Hz is not inside (0, {rate / 2 - TAPER}]"
                            f" Hz for data sampled at {rate:g} Hz")
    if float(ts.duration.value) < 2 * fftlength:
        raise AnalysisError(f"{float(ts.duration.value):g} s of data are too few to whiten "
                            f"(at least {2 * fftlength:g} s)")
    white = ts.whiten(fftlength=fftlength, overlap=fftlength / 2, window="hann",
                      fduration=FDURATION)  # unit variance over the full band
    n = len(white)
    freqs = np.fft.rfftfreq(n, 1.0 / rate)
    response = band_response(freqs, f_low, f_high)
    # white unit-variance noise through the filter: variance (2 / rate) ∫ |W|² df
    variance = 2.0 / rate * np.sum(response ** 2) * (freqs[1] - freqs[0])
    values = np.fft.irfft(np.fft.rfft(white.value) * response, n) / np.sqrt(variance)
    out = white.copy()
    out.value[:] = values
    out.name = f"{ts.name or ''} whitened {f_low:g}-{f_high:g} Hz".strip()
    return out


def light_curve(series: dict, t0: float, window: float, f_low: float = 20.0,
                f_high: float = 500.0):
    """Table: ``time`` (GPS s) and one column per detector of whitened, band-limited strain
    (noise sigma units) over [t0 - window/2, t0 + window/2), at the lowest power-of-two
    fraction of the sample rate that keeps 2.5 samples per cycle of f_high."""
    from astropy.table import Table

    if not series:
        raise AnalysisError("no detector to draw")
    first = next(iter(series.values()))
    rate = float(first.sample_rate.value)
    step = 1
    while rate / (2 * step) >= 2.5 * (f_high + TAPER):
        step *= 2
    start, stop = t0 - window / 2, t0 + window / 2
    times = None
    table = Table()
    for detector, ts in series.items():
        white = whitened(ts, f_low, f_high)
        t = white.times.value
        keep = (t >= start) & (t < stop)
        if times is None:
            times = t[keep][::step]
            table["time"] = times
            table["time"].unit = "s"
            table["time"].description = "GPS time"
        values = white.value[keep][::step]
        if len(values) != len(times):
            raise AnalysisError(f"{detector} data do not cover the same times as the others")
        table[detector] = values.astype(np.float32)
        table[detector].description = (f"{detector} whitened strain, {f_low:g}-{f_high:g} Hz, "
                                       "in units of the noise standard deviation")
    table.meta.update({"t0_gps": t0, "window_s": window, "f_low_Hz": f_low,
                       "f_high_Hz": f_high, "sample_rate_Hz": rate / step,
                       "detectors": list(series)})
    return table


def q_transform(ts, t0: float, window: float, frange=(20.0, 500.0), qrange=(4.0, 64.0),
                n_times: int = 800, n_freqs: int = 480):
    """gwpy's whitened Q-transform over [t0 - window/2, t0 + window/2) on a linear grid of
    ``n_times`` × ``n_freqs`` (a Spectrogram: times × frequencies, normalised energy)."""
    f_lo, f_hi = float(frange[0]), float(frange[1])
    rate = float(ts.sample_rate.value)
    if not 0 < f_lo < f_hi <= rate / 2:
        raise AnalysisError(f"frequency range [{f_lo}, {f_hi}] Hz is not inside "
                            f"(0, {rate / 2:g}] Hz")
    outseg = (t0 - window / 2, t0 + window / 2)
    a, b = float(ts.span[0]), float(ts.span[1])
    if outseg[0] < a + FDURATION / 2 or outseg[1] > b - FDURATION / 2:
        raise AnalysisError(f"the window [{outseg[0]:.3f}, {outseg[1]:.3f}) is too close to the "
                            f"edges of the data [{a:.3f}, {b:.3f})")
    try:
        return ts.q_transform(qrange=tuple(qrange), frange=(f_lo, f_hi), outseg=outseg,
                              tres=window / n_times, fres=(f_hi - f_lo) / n_freqs, logf=False,
                              whiten=True, fduration=FDURATION, fftlength=FFTLENGTH,
                              overlap=FFTLENGTH / 2)
    except ValueError as exc:
        raise AnalysisError(f"Q-transform failed: {exc}") from exc


def q_image_hdu(qspec, t0: float, detector: str, *, primary: bool = False):
    """FITS image (frequency rows × time columns) with a linear WCS: axis 1 TIME in s from
    GPS ``t0`` (keyword GPSREF), axis 2 FREQ in Hz."""
    from astropy.io import fits

    data = np.asarray(qspec.value, dtype=np.float32).T
    header = fits.Header()
    header["WCSAXES"] = 2
    header["CTYPE1"], header["CUNIT1"] = "TIME", "s"
    header["CRPIX1"], header["CRVAL1"] = 1.0, float(qspec.times.value[0] - t0)
    header["CDELT1"] = float(qspec.dt.value)
    header["CTYPE2"], header["CUNIT2"] = "FREQ", "Hz"
    header["CRPIX2"], header["CRVAL2"] = 1.0, float(qspec.frequencies.value[0])
    header["CDELT2"] = float(qspec.df.value)
    header["GPSREF"] = (float(t0), "GPS time of TIME = 0")
    header["DETECTOR"] = detector
    header["BUNIT"] = ""
    header["COMMENT"] = "Normalised energy of gwpy's whitened Q-transform (median = 1)."
    hdu_class = fits.PrimaryHDU if primary else fits.ImageHDU
    hdu = hdu_class(data=data, header=header)
    hdu.name = detector
    return hdu


def q_transform_image(ts, t0: float, window: float, frange=(20.0, 500.0), qrange=(4.0, 64.0)):
    """(ImageHDU with a linear time/frequency WCS, matplotlib Figure) of the Q-transform of
    ``ts`` over [t0 - window/2, t0 + window/2)."""
    detector = str(ts.name or "").split(":")[0] or "strain"
    qspec = q_transform(ts, t0, window, frange, qrange)
    hdu = q_image_hdu(qspec, t0, detector)
    return hdu, q_figure([hdu], title=f"{detector} Q-transform around GPS {t0:.3f}")


def q_figure(hdus: list, title: str = "", light_curve_table=None):
    """One Q-transform panel per image HDU (time from GPSREF in s, frequency in Hz, log
    scale), plus the whitened light curve beneath when given."""
    import matplotlib.pyplot as plt

    rows = len(hdus) + (1 if light_curve_table is not None else 0)
    fig, axes = plt.subplots(rows, 1, figsize=(9, 2.6 * rows + 0.6), sharex=True,
                             squeeze=False)
    axes = axes[:, 0]
    for ax, hdu in zip(axes, hdus, strict=False):
        h = hdu.header
        ny, nx = hdu.data.shape
        t = h["CRVAL1"] + (np.arange(nx + 1) - 0.5) * h["CDELT1"]
        f = h["CRVAL2"] + (np.arange(ny + 1) - 0.5) * h["CDELT2"]
        mesh = ax.pcolormesh(t, f, hdu.data, cmap="viridis", vmin=0,
                             vmax=max(25.0, float(np.percentile(hdu.data, 99.99))),
                             shading="flat", rasterized=True)
        ax.set_yscale("log")
        ax.set_ylim(f[0], f[-1])
        ax.set_ylabel(f"{h.get('DETECTOR', '')}\nfrequency (Hz)")
        fig.colorbar(mesh, ax=ax, label="normalised energy", pad=0.01)
    if light_curve_table is not None:
        ax = axes[-1]
        t0 = float(light_curve_table.meta.get("t0_gps", 0.0))
        t = np.asarray(light_curve_table["time"], float) - t0
        for name in light_curve_table.colnames[1:]:
            ax.plot(t, np.asarray(light_curve_table[name], float), lw=0.6, label=name)
        ax.set_ylabel("whitened strain (σ)")
        ax.legend(fontsize=8, loc="upper left")
        fig.colorbar(plt.cm.ScalarMappable(), ax=ax, pad=0.01).ax.set_visible(False)
    if hdus:
        h = hdus[0].header
        lo = h["CRVAL1"] - 0.5 * h["CDELT1"]
        axes[-1].set_xlim(lo, lo + hdus[0].data.shape[1] * h["CDELT1"])
    ref = hdus[0].header.get("GPSREF", 0.0) if hdus else 0.0
    axes[-1].set_xlabel(f"time (s) from GPS {ref:.3f}")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
