"""Deterministic synthetic strain around an event, written as GWOSC HDF5 files.

Each detector gets Gaussian noise coloured by an aLIGO early-high-sensitivity PSD (LIGO-P1200087,
an O1-like curve shipped with lalsimulation) and a binary-black-hole signal: lalsimulation's
IMRPhenomD in the time domain, redshifted masses (Planck15), projected on the detector with
its antenna pattern at the event's sidereal time and delayed by the light travel time from the
geocentre. Files follow GWOSC's naming (``H-H1_GWOSC_4KHZ_R1-<gpsstart>-32.hdf5``) and layout
(``strain/Strain`` with ``Xstart``/``Xspacing``, ``meta/*``, ``quality/simple``,
``quality/injections``), so gwpy's ``hdf5.gwosc`` reader and ``fetch_open_data`` read them as
they read the archive's files.

The default event is the synthetic ``GW120618_120000`` (GW150914-like: 36 + 29 Msun at
410 Mpc). Everything is deterministic from the event name and ``seed``.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from . import synthetic as _catalogue

GENERATOR_VERSION = 1
SAMPLE_RATE = 4096
DURATION = 32
#: Seconds of data before the event in a 32 s file (GWOSC's event files start ~15-16 s before).
LEAD = 16
F_LOWER = 15.0  # Hz, waveform start frequency
EVENT_NAME = _catalogue.NAME
DETECTORS = ("H1", "L1")
TRUTH_NAME = "strain-truth.json"


def event_gps(name: str = EVENT_NAME) -> float:
    """GPS time of the synthetic event: its name's UTC date and time (``GWyymmdd_hhmmss``)."""
    from astropy.time import Time

    day, hms = name[2:].split("_")
    iso = (f"20{day[:2]}-{day[2:4]}-{day[4:6]}T{hms[:2]}:{hms[2:4]}:{hms[4:6]}")
    return float(Time(iso, scale="utc").gps)


@dataclass(frozen=True)
class Source:
    """A quasi-circular, non-spinning binary black hole (source-frame masses)."""

    name: str = EVENT_NAME
    gps: float = field(default_factory=event_gps)  # geocentre arrival of the amplitude peak
    mass_1: float = 36.0  # Msun, source frame
    mass_2: float = 29.0
    distance: float = 410.0  # Mpc, luminosity distance
    ra: float = math.radians(_catalogue.RA0)  # rad: the peak of the event's sky map
    dec: float = math.radians(_catalogue.DEC0)  # rad
    psi: float = 0.8  # polarisation angle, rad
    inclination: float = 2.85  # rad (network SNR ~24 with this PSD)
    phase: float = 0.0

    @property
    def redshift(self) -> float:
        return redshift(self.distance)


@lru_cache(maxsize=16)
def redshift(distance_mpc: float) -> float:
    import astropy.units as u
    from astropy.cosmology import Planck15, z_at_value

    return float(z_at_value(Planck15.luminosity_distance, distance_mpc * u.Mpc))


def source_for(event: dict) -> Source:
    """The source for an event record (``name``, ``gps``; ``mass_1_source``,
    ``mass_2_source``, ``luminosity_distance`` at its top level or in its ``parameters``,
    a value or [best, upper, lower]); defaults fill the rest."""
    base = Source()
    values = {"name": event.get("name", base.name),
              "gps": float(event["gps"]) if event.get("gps") is not None else base.gps}
    parameters = {**(event.get("parameters") or {}), **event}
    for key, attr in (("mass_1_source", "mass_1"), ("mass_2_source", "mass_2"),
                      ("luminosity_distance", "distance")):
        value = parameters.get(key)
        if isinstance(value, list | tuple):
            value = value[0] if value else None
        if isinstance(value, dict):
            value = value.get("best")
        if value is not None:
            values[attr] = float(value)
    return Source(**values)


# -- noise -------------------------------------------------------------------------------------

def psd(frequencies: np.ndarray) -> np.ndarray:
    """One-sided strain PSD (1/Hz): aLIGO early high sensitivity (P1200087), held flat below
    10 Hz (the data below are never used and a seismic wall would only add leakage)."""
    import lal
    import lalsimulation

    frequencies = np.asarray(frequencies, float)
    df = frequencies[1] - frequencies[0]
    series = lal.CreateREAL8FrequencySeries("psd", 0, 0.0, df, lal.DimensionlessUnit,
                                            len(frequencies))
    lalsimulation.SimNoisePSDaLIGOEarlyHighSensitivityP1200087(series, 10.0)
    out = np.array(series.data.data, copy=True)
    floor = out[np.searchsorted(frequencies, 10.0)]
    out[frequencies < 10.0] = floor
    return out


def coloured_noise(n: int, sample_rate: float, rng: np.random.Generator) -> np.ndarray:
    """Stationary Gaussian noise with the one-sided PSD :func:`psd` (circular, n samples)."""
    freqs = np.fft.rfftfreq(n, 1.0 / sample_rate)
    scale = np.sqrt(psd(freqs) * n * sample_rate / 4.0)
    spectrum = (rng.standard_normal(len(freqs)) + 1j * rng.standard_normal(len(freqs))) * scale
    spectrum[0] = spectrum[-1] = 0.0
    return np.fft.irfft(spectrum, n)


# -- signal ------------------------------------------------------------------------------------

def polarisations(source: Source, sample_rate: float = SAMPLE_RATE):
    """(h+, hx, t0): IMRPhenomD in the detector frame, sampled from ``t0`` relative to the
    amplitude peak (lalsimulation puts the peak at t = 0)."""
    import lal
    import lalsimulation

    z = source.redshift
    hp, hc = lalsimulation.SimInspiralChooseTDWaveform(
        source.mass_1 * (1 + z) * lal.MSUN_SI, source.mass_2 * (1 + z) * lal.MSUN_SI,
        0, 0, 0, 0, 0, 0, source.distance * 1e6 * lal.PC_SI, source.inclination, source.phase,
        0, 0, 0, 1.0 / sample_rate, F_LOWER, F_LOWER, lal.CreateDict(), lalsimulation.IMRPhenomD)
    return (np.array(hp.data.data), np.array(hc.data.data), float(hp.epoch))


def detector_projection(source: Source, detector: str) -> tuple[float, float, float]:
    """(F+, Fx, delay from the geocentre in s) of ``detector`` for the source."""
    import lal

    det = lal.cached_detector_by_prefix[detector]
    gps = lal.LIGOTimeGPS(source.gps)
    gmst = lal.GreenwichMeanSiderealTime(gps)
    fplus, fcross = lal.ComputeDetAMResponse(det.response, source.ra, source.dec, source.psi,
                                             gmst)
    delay = lal.TimeDelayFromEarthCenter(det.location, source.ra, source.dec, gps)
    return float(fplus), float(fcross), float(delay)


def detector_signal(source: Source, detector: str, gps_start: float, n: int,
                    sample_rate: float = SAMPLE_RATE) -> np.ndarray:
    """The projected signal on the sample grid ``gps_start + i / sample_rate`` (sub-sample
    delay applied in the frequency domain)."""
    hp, hc, t0 = polarisations(source, sample_rate)
    fplus, fcross, delay = detector_projection(source, detector)
    h = fplus * hp + fcross * hc
    # first waveform sample at absolute time source.gps + delay + t0
    offset = (source.gps + delay + t0 - gps_start) * sample_rate
    whole = int(np.floor(offset))
    frac = offset - whole
    padded = np.zeros(len(h) + 2 * int(sample_rate))  # room for the shift
    padded[: len(h)] = h
    freqs = np.fft.rfftfreq(len(padded), 1.0 / sample_rate)
    shifted = np.fft.irfft(np.fft.rfft(padded) * np.exp(-2j * np.pi * freqs * frac / sample_rate),
                           len(padded))
    out = np.zeros(n)
    lo, hi = max(whole, 0), min(whole + len(shifted), n)
    if hi > lo:
        out[lo:hi] = shifted[lo - whole: hi - whole]
    return out


def optimal_snr(signal: np.ndarray, sample_rate: float = SAMPLE_RATE,
                f_low: float = 20.0) -> float:
    """sqrt(4 ∫ |h(f)|² / S(f) df) over f > f_low with the generator's own PSD."""
    n = len(signal)
    freqs = np.fft.rfftfreq(n, 1.0 / sample_rate)
    hf = np.fft.rfft(signal) / sample_rate
    keep = (freqs >= f_low) & (freqs < sample_rate / 2)
    return float(np.sqrt(4 * np.sum(np.abs(hf[keep]) ** 2 / psd(freqs)[keep]) * freqs[1]))


# -- files -------------------------------------------------------------------------------------

def file_name(detector: str, gps_start: int, duration: int = DURATION,
              sample_rate: int = SAMPLE_RATE) -> str:
    """GWOSC's name (LIGO-T050017): ``H-H1_GWOSC_4KHZ_R1-1126259447-32.hdf5``."""
    return (f"{detector[0]}-{detector}_GWOSC_{sample_rate // 1024}KHZ_R1-"
            f"{int(gps_start)}-{int(duration)}.hdf5")


DQ_BITS = ("DATA", "CBC_CAT1", "CBC_CAT2", "CBC_CAT3", "BURST_CAT1", "BURST_CAT2",
           "BURST_CAT3")
DQ_DESCRIPTIONS = ("data present", "passes cbc CAT1 test", "passes cbc CAT2 test",
                   "passes cbc CAT3 test", "passes burst CAT1 test", "passes burst CAT2 test",
                   "passes burst CAT3 test")
INJ_BITS = ("NO_CBC_HW_INJ", "NO_BURST_HW_INJ", "NO_DETCHAR_HW_INJ", "NO_CW_HW_INJ",
            "NO_STOCH_HW_INJ")
INJ_DESCRIPTIONS = ("no cbc hardware injection", "no burst hardware injection",
                    "no detchar hardware injection", "no continuous wave hardware injection",
                    "no stochastic hardware injection")


def write_gwosc_hdf5(path: Path, strain: np.ndarray, detector: str, gps_start: int,
                     sample_rate: int = SAMPLE_RATE, description: str = "") -> Path:
    """Write ``strain`` in GWOSC's HDF5 layout (atomically: a partial file never shows)."""
    import h5py
    from astropy.time import Time

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    duration = len(strain) // sample_rate
    utc = Time(gps_start, format="gps").utc.isot[:19]
    partial = path.with_name(path.name + ".partial")
    with h5py.File(partial, "w") as h5:
        meta = h5.create_group("meta")
        meta["Description"] = np.bytes_(description or f"Strain data time series from {detector}")
        meta["DescriptionURL"] = np.bytes_("https://gwosc.org/")
        meta["Detector"] = np.bytes_(detector)
        meta["Duration"] = np.int64(duration)
        meta["GPSstart"] = np.int64(gps_start)
        meta["Observatory"] = np.bytes_(detector[0])
        meta["Type"] = np.bytes_("StrainTimeSeries")
        meta["UTCstart"] = np.bytes_(utc)
        group = h5.create_group("strain")
        data = group.create_dataset("Strain", data=np.asarray(strain, dtype=np.float64),
                                    compression="gzip", compression_opts=4, shuffle=True)
        data.attrs.update({"Npoints": np.int64(len(strain)), "Xlabel": np.bytes_("GPS time"),
                           "Xspacing": 1.0 / sample_rate, "Xstart": np.int64(gps_start),
                           "Xunits": np.bytes_("second"), "Ylabel": np.bytes_("Strain"),
                           "Yunits": np.bytes_("")})
        group["GWOSCmeta"] = np.bytes_(f"GWOSC-{sample_rate // 1024}KHZ_R1_STRAIN")
        quality = h5.create_group("quality")
        simple = quality.create_group("simple")
        mask = simple.create_dataset("DQmask", data=np.full(duration, 2 ** len(DQ_BITS) - 1,
                                                            dtype=np.int32))
        mask.attrs.update({"Bits": np.int64(len(DQ_BITS)), "Npoints": np.int64(duration),
                           "Xspacing": 1.0, "Xstart": np.int64(gps_start),
                           "Xunits": np.bytes_("second")})
        simple["DQDescriptions"] = np.array([np.bytes_(d) for d in DQ_DESCRIPTIONS])
        simple["DQShortnames"] = np.array([np.bytes_(d) for d in DQ_BITS])
        simple["GWOSCmeta"] = np.bytes_(f"GWOSC-{sample_rate // 1024}KHZ_R1_DQMASK")
        inj = quality.create_group("injections")
        injmask = inj.create_dataset("Injmask", data=np.full(duration, 2 ** len(INJ_BITS) - 1,
                                                             dtype=np.int32))
        injmask.attrs.update({"Bits": np.int64(len(INJ_BITS)), "Npoints": np.int64(duration),
                              "Xspacing": 1.0, "Xstart": np.int64(gps_start),
                              "Xunits": np.bytes_("second")})
        inj["InjDescriptions"] = np.array([np.bytes_(d) for d in INJ_DESCRIPTIONS])
        inj["InjShortnames"] = np.array([np.bytes_(d) for d in INJ_BITS])
        inj["GWOSCmeta"] = np.bytes_(f"GWOSC-{sample_rate // 1024}KHZ_R1_INJMASK")
    partial.replace(path)
    return path


def _seed(name: str, detector: str, seed: int) -> int:
    digest = hashlib.sha256(f"{name}|{detector}|{seed}|v{GENERATOR_VERSION}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


def generate_event_strain(folder: Path, source: Source | None = None,
                          detectors: tuple[str, ...] = DETECTORS, seed: int = 0) -> dict:
    """Write one 32 s file per detector into ``folder`` and ``strain-truth.json``; return the
    truth: per detector the file, the signal's arrival (peak) time, delay, antenna factors and
    optimal SNR, plus the network SNR."""
    source = source or Source()
    folder = Path(folder)
    gps_start = int(np.floor(source.gps)) - LEAD
    n = DURATION * SAMPLE_RATE
    truth = {"generator_version": GENERATOR_VERSION, "seed": seed, "source": asdict(source),
             "redshift": source.redshift, "gps_start": gps_start, "duration": DURATION,
             "sample_rate": SAMPLE_RATE, "psd": "aLIGO early high sensitivity (P1200087)",
             "approximant": "IMRPhenomD", "detectors": {}}
    for detector in detectors:
        rng = np.random.default_rng(_seed(source.name, detector, seed))
        signal = detector_signal(source, detector, gps_start, n)
        strain = coloured_noise(n, SAMPLE_RATE, rng) + signal
        fplus, fcross, delay = detector_projection(source, detector)
        path = write_gwosc_hdf5(folder / file_name(detector, gps_start), strain, detector,
                                gps_start, description=(
                                    f"SYNTHETIC strain (not LIGO data): simulated noise and an "
                                    f"injected BBH signal for {source.name}"))
        truth["detectors"][detector] = {
            "file": path.name, "arrival_gps": source.gps + delay, "delay": delay,
            "f_plus": fplus, "f_cross": fcross, "optimal_snr": optimal_snr(signal)}
    truth["network_snr"] = float(np.sqrt(sum(d["optimal_snr"] ** 2
                                             for d in truth["detectors"].values())))
    (folder / TRUTH_NAME).write_text(json.dumps(truth, indent=1) + "\n")
    return truth
