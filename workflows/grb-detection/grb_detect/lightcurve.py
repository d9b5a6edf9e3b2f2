"""The light curve every reader returns: bins in seconds from a reference time.

A light curve is either *counts* per bin (Poisson statistics; ``counts`` set) or *rates with
Gaussian errors* (``counts`` None). Times are bin centres in seconds from ``t_ref`` (an
astropy Time, or None when the file gives no absolute time).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from astropy.time import Time

from grb_detect.errors import AnalysisError


@dataclass
class LightCurve:
    time: np.ndarray          # bin centres, s from t_ref
    dt: np.ndarray            # bin widths, s
    rate: np.ndarray          # counts / s
    rate_err: np.ndarray      # 1-sigma, counts / s
    counts: np.ndarray | None = None   # counts per bin when the data are counts
    t_ref: Time | None = None
    source: str = ""
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.time = np.asarray(self.time, float)
        self.dt = np.broadcast_to(np.asarray(self.dt, float), self.time.shape).copy()
        self.rate = np.asarray(self.rate, float)
        self.rate_err = np.asarray(self.rate_err, float)
        if self.counts is not None:
            self.counts = np.asarray(self.counts, float)
        good = np.isfinite(self.time) & np.isfinite(self.rate) & (self.dt > 0)
        if self.counts is None:
            good &= np.isfinite(self.rate_err) & (self.rate_err > 0)
        if not good.all():
            self._keep(good)
        order = np.argsort(self.time, kind="stable")
        if (np.diff(order) != 1).any():
            self._keep(order)
        if len(self.time) < 10:
            raise AnalysisError(f"{self.source or 'the light curve'} has {len(self.time)} "
                                "usable bins; at least 10 are needed")

    def _keep(self, index) -> None:
        for name in ("time", "dt", "rate", "rate_err"):
            setattr(self, name, getattr(self, name)[index])
        if self.counts is not None:
            self.counts = self.counts[index]

    @property
    def is_counts(self) -> bool:
        return self.counts is not None

    @property
    def t_start(self) -> np.ndarray:
        return self.time - self.dt / 2

    @property
    def t_stop(self) -> np.ndarray:
        return self.time + self.dt / 2

    def __len__(self) -> int:
        return len(self.time)

    @classmethod
    def from_counts(cls, time, dt, counts, **kwargs) -> LightCurve:
        counts = np.asarray(counts, float)
        dt = np.broadcast_to(np.asarray(dt, float), np.shape(time))
        return cls(time=time, dt=dt, rate=counts / dt,
                   rate_err=np.sqrt(np.maximum(counts, 1.0)) / dt, counts=counts, **kwargs)

    def slice_time(self, t1: float, t2: float) -> LightCurve:
        keep = (self.time >= t1) & (self.time < t2)
        return LightCurve(self.time[keep], self.dt[keep], self.rate[keep], self.rate_err[keep],
                          None if self.counts is None else self.counts[keep], self.t_ref,
                          self.source, dict(self.meta))

    def rebin(self, factor: int) -> LightCurve:
        """Sum ``factor`` consecutive bins (the last partial group is dropped)."""
        factor = int(factor)
        if factor <= 1:
            return self
        n = len(self) // factor * factor
        shape = (-1, factor)
        dt = self.dt[:n].reshape(shape).sum(1)
        start = self.t_start[:n].reshape(shape)[:, 0]
        time = start + dt / 2
        if self.counts is not None:
            counts = self.counts[:n].reshape(shape).sum(1)
            return LightCurve.from_counts(time, dt, counts, t_ref=self.t_ref,
                                          source=self.source, meta=dict(self.meta))
        w = self.dt[:n].reshape(shape)
        rate = (self.rate[:n].reshape(shape) * w).sum(1) / dt
        err = np.sqrt(((self.rate_err[:n].reshape(shape) * w) ** 2).sum(1)) / dt
        return LightCurve(time, dt, rate, err, None, self.t_ref, self.source, dict(self.meta))
