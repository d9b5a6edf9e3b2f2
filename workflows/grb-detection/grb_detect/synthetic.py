"""Synthetic light curves with injected FRED bursts, for calibration, tests and the example.

A burst is a Norris et al. (2005) pulse, I(t) ~ exp(-tau1/(t - ts) - (t - ts)/tau2) for
t > ts (fast rise, exponential decay), stretched in time so that its T90 (the time between 5 %
and 95 % of its fluence, computed numerically) is the requested duration. Its fluence S is set
by the *integrated significance* Z it is injected at: the expected counts inside its own T90
interval over the square root of the background counts there,
Z = 0.9 S / sqrt(B * T90), with B the background rate. Counts per bin are Poisson draws of
background plus burst integrated over the bin.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from astropy.time import Time

from grb_detect.lightcurve import LightCurve

_GRID = np.linspace(0.0, 200.0, 200001)


@dataclass
class Burst:
    t_start: float     # ts of the pulse, s
    scale: float       # time stretch of the unit pulse
    tau_ratio: float   # tau2 / tau1 of the unit pulse (tau1 = 1)
    fluence: float     # expected counts of the whole pulse
    t05: float
    t95: float
    significance: float

    @property
    def t90(self) -> float:
        return self.t95 - self.t05

    def cumulative(self, t: np.ndarray) -> np.ndarray:
        """Expected burst counts before time ``t``."""
        x = (np.asarray(t, float) - self.t_start) / self.scale
        cum = _unit_cumulative(self.tau_ratio)
        return self.fluence * np.interp(x, _GRID, cum, left=0.0, right=1.0)


_CACHE: dict[float, np.ndarray] = {}


def _unit_cumulative(ratio: float) -> np.ndarray:
    key = round(float(ratio), 6)
    if key not in _CACHE:
        x = _GRID[1:]
        shape = np.exp(-1.0 / x - x / ratio)
        cum = np.concatenate([[0.0], np.cumsum(shape)])
        _CACHE[key] = cum / cum[-1]
        if len(_CACHE) > 256:
            _CACHE.pop(next(iter(_CACHE)))
    return _CACHE[key]


def _unit_t05_t95(ratio: float) -> tuple[float, float]:
    cum = _unit_cumulative(ratio)
    return float(np.interp(0.05, cum, _GRID)), float(np.interp(0.95, cum, _GRID))


def make_burst(t90: float, significance: float, background_rate: float, t05: float,
               tau_ratio: float = 3.0) -> Burst:
    """A FRED pulse of the given T90 starting its T90 interval at ``t05``."""
    u05, u95 = _unit_t05_t95(tau_ratio)
    scale = t90 / (u95 - u05)
    fluence = significance * np.sqrt(background_rate * t90) / 0.9
    return Burst(t_start=t05 - u05 * scale, scale=scale, tau_ratio=tau_ratio, fluence=fluence,
                 t05=t05, t95=t05 + t90, significance=significance)


def light_curve(rng: np.random.Generator, n_bins: int = 600, dt: float = 0.25,
                background_rate: float = 2000.0, slope: float = 0.0,
                burst: Burst | None = None, t_ref: Time | None = None) -> LightCurve:
    """Poisson counts of a linear background (``slope``: fractional change over the span)
    plus ``burst``; times are bin centres from 0."""
    edges = np.arange(n_bins + 1) * dt
    time = 0.5 * (edges[1:] + edges[:-1])
    span = edges[-1]
    rate = background_rate * (1 + slope * (time - span / 2) / span)
    expected = rate * dt
    if burst is not None:
        expected = expected + np.diff(burst.cumulative(edges))
    counts = rng.poisson(expected)
    return LightCurve.from_counts(time, dt, counts, t_ref=t_ref, source="synthetic")


def random_burst(rng: np.random.Generator, significance: float = 6.0, n_bins: int = 600,
                 dt: float = 0.25, background_rate: float = 2000.0,
                 durations: tuple[float, float] = (0.5, 50.0)) -> Burst:
    """A FRED of log-uniform T90 in ``durations`` and random shape, placed inside the curve
    with room for its tails."""
    t90 = float(np.exp(rng.uniform(*np.log(durations))))
    ratio = float(np.exp(rng.uniform(np.log(1.0), np.log(10.0))))
    span = n_bins * dt
    margin = 0.1 * span
    t05 = float(rng.uniform(margin, span - margin - 1.3 * t90))
    return make_burst(t90, significance, background_rate, t05, ratio)


EXAMPLE = {"seed": 2024, "n_bins": 3000, "dt": 0.1, "background_rate": 2000.0, "slope": 0.08,
           "t_ref": "2024-03-15T12:00:00",
           "bursts": [{"t90": 8.0, "significance": 25.0, "t05": 100.0, "tau_ratio": 4.0},
                      {"t90": 0.6, "significance": 9.0, "t05": 220.0, "tau_ratio": 2.0}]}


def example_light_curve() -> tuple[LightCurve, list[Burst]]:
    """The light curve of ``examples/grb_example.ecsv``: two FREDs on a sloping background."""
    spec = EXAMPLE
    rng = np.random.default_rng(spec["seed"])
    bursts = [make_burst(b["t90"], b["significance"], spec["background_rate"], b["t05"],
                         b["tau_ratio"]) for b in spec["bursts"]]
    edges = np.arange(spec["n_bins"] + 1) * spec["dt"]
    time = 0.5 * (edges[1:] + edges[:-1])
    span = edges[-1]
    expected = spec["background_rate"] * (1 + spec["slope"] * (time - span / 2) / span) \
        * spec["dt"]
    for burst in bursts:
        expected = expected + np.diff(burst.cumulative(edges))
    lc = LightCurve.from_counts(time, spec["dt"], rng.poisson(expected),
                                t_ref=Time(spec["t_ref"], scale="utc"), source="example")
    return lc, bursts


def write_example(path) -> None:
    """Write ``examples/grb_example.ecsv`` (time in s from t_ref, counts per 0.1 s bin)."""
    from astropy.table import Table

    lc, bursts = example_light_curve()
    table = Table({"time": np.round(lc.time, 4), "counts": lc.counts.astype(int)})
    table["time"].unit = "s"
    table["time"].description = "bin centre, seconds from t_ref"
    table["counts"].description = "counts in the 0.1 s bin"
    table.meta.update({
        "t_ref": EXAMPLE["t_ref"], "timedel": EXAMPLE["dt"],
        "comment": "Synthetic: Poisson counts of a background of 2000 counts/s rising by 8 % "
                   "over the 300 s, plus two FRED bursts (grb_detect.synthetic.EXAMPLE)",
        "true_bursts": [{"t05": b.t05, "t95": b.t95, "t90": b.t90,
                         "fluence_counts": round(b.fluence, 1),
                         "injected_significance": b.significance} for b in bursts]})
    table.write(path, format="ascii.ecsv", overwrite=True)
