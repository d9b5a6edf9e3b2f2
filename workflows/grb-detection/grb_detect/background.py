"""Background: a low-order polynomial in time fitted to the off-burst bins.

The fit is weighted least squares of the rate (weights from the Poisson variance of the model
for counts, from the given errors for rates). Bursts are kept out of the fit by iterative,
multi-scale sigma clipping: after each fit the residual counts are summed over sliding windows
of 1, 4, 16, ... bins and every window more than ``clip_sigma`` above the model is masked
(with a margin of one window on each side), so a long faint burst is clipped as surely as a
spike. Three to five iterations converge.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from grb_detect.errors import AnalysisError
from grb_detect.lightcurve import LightCurve


@dataclass
class Background:
    rate: np.ndarray        # model rate per bin, counts/s
    rate_err: np.ndarray    # 1-sigma uncertainty of the model per bin (from the fit covariance)
    used: np.ndarray        # bool: bins that entered the last fit
    degree: int

    def counts(self, lc: LightCurve) -> np.ndarray:
        return self.rate * lc.dt


def _design(time: np.ndarray, degree: int) -> np.ndarray:
    mid = 0.5 * (time[0] + time[-1])
    half = max(0.5 * (time[-1] - time[0]), 1e-9)
    x = (time - mid) / half
    return np.vander(x, degree + 1, increasing=True)


def _windows(n: int) -> list[int]:
    out, w = [], 1
    while w <= max(1, n // 4):
        out.append(w)
        w *= 4
    return out


def fit_background(lc: LightCurve, degree: int = 1, clip_sigma: float = 3.5,
                   iterations: int = 5, exclude: np.ndarray | None = None) -> Background:
    """The polynomial background of ``lc`` with bursts clipped out (see the module doc).

    ``exclude``: bins known to hold signal (e.g. significant blocks), kept out of the fit.
    """
    degree = int(degree)
    if not 0 <= degree <= 5:
        raise AnalysisError(f"background degree {degree} is outside 0-5")
    design = _design(lc.time, degree)
    used = np.ones(len(lc), bool) if exclude is None else ~np.asarray(exclude, bool)
    model = np.full(len(lc), np.median(lc.rate[used]) if used.any() else np.median(lc.rate))
    cov = np.zeros((degree + 1, degree + 1))
    for _ in range(iterations):
        if used.sum() < 2 * (degree + 1):
            raise AnalysisError("too few bins outside the bursts to fit the background "
                                f"(polynomial of degree {degree}); give a longer light curve")
        # Poisson variance of the model rate for counts, the given errors for rates
        var = np.maximum(model, 1e-3 / lc.dt) / lc.dt if lc.is_counts else lc.rate_err ** 2
        w = 1.0 / var[used]
        a = design[used] * np.sqrt(w)[:, None]
        b = lc.rate[used] * np.sqrt(w)
        coef, *_ = np.linalg.lstsq(a, b, rcond=None)
        cov = np.linalg.pinv(a.T @ a)
        model = np.maximum(design @ coef, 0.0)
        new_used = used & _not_clipped(lc, model, clip_sigma)
        if exclude is not None:
            new_used &= ~exclude
        if (new_used == used).all():
            break
        used = new_used
    model_err = np.sqrt(np.einsum("ij,jk,ik->i", design, cov, design))
    return Background(rate=model, rate_err=model_err, used=used, degree=degree)


def _not_clipped(lc: LightCurve, model: np.ndarray, clip_sigma: float) -> np.ndarray:
    """False for the bins inside any window whose excess is ``clip_sigma`` above the model."""
    n = len(lc)
    if lc.is_counts:
        excess = lc.counts - model * lc.dt
        var = np.maximum(model * lc.dt, 1.0)
    else:
        excess = (lc.rate - model) * lc.dt
        var = (lc.rate_err * lc.dt) ** 2
    c_ex = np.concatenate([[0.0], np.cumsum(excess)])
    c_var = np.concatenate([[0.0], np.cumsum(var)])
    marks = np.zeros(n + 1)
    for w in _windows(n):
        z = (c_ex[w:] - c_ex[:-w]) / np.sqrt(c_var[w:] - c_var[:-w])
        starts = np.flatnonzero(z > clip_sigma)
        np.add.at(marks, np.maximum(starts - w, 0), 1)
        np.add.at(marks, np.minimum(starts + 2 * w, n), -1)
    return np.cumsum(marks)[:n] <= 0
