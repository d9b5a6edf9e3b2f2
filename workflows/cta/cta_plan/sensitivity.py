"""Differential sensitivity (gammapy ``SensitivityEstimator``) and the integrated
significance of the source with the livetime it needs for 5 sigma.

Per reconstructed-energy bin the sensitivity asks for a 5 sigma Li & Ma excess with the ON/OFF
ratio alpha, at least 10 excess counts and an excess of at least 5% of the background (the
background systematics); it is given as E^2 dN/dE of a power law of index 2 at the bin centre.
"""

from __future__ import annotations

import numpy as np
from astropy.table import Table

from .errors import AnalysisError

N_SIGMA = 5.0
GAMMA_MIN = 10.0
BKG_SYST = 0.05
MAX_LIVETIME_H = 1e4


def curve(on_off_dataset) -> Table:
    """The differential sensitivity of `on_off_dataset`'s livetime, bins with no exposure or
    no background dropped (nothing is detectable or the criterion is undefined there)."""
    from gammapy.estimators import SensitivityEstimator

    estimator = SensitivityEstimator(n_sigma=N_SIGMA, gamma_min=GAMMA_MIN,
                                     bkg_syst_fraction=BKG_SYST)
    table = estimator.run(on_off_dataset.copy(name="sensitivity"))
    keep = np.isfinite(table["e2dnde"]) & (table["e2dnde"] > 0) & (table["background"] > 0)
    return table[keep]


def li_ma(signal: float, background: float, alpha: float) -> float:
    """Asimov Li & Ma significance of `signal` on `background` (OFF counts background/alpha)."""
    from gammapy.stats import WStatCountsStatistic

    if background <= 0:
        return 0.0
    stat = WStatCountsStatistic(n_on=signal + background, n_off=background / alpha, alpha=alpha)
    return float(np.sign(signal) * stat.sqrt_ts)


def integrated(signal: np.ndarray, background: np.ndarray, alpha: float) -> float:
    """Li & Ma of the counts summed over the bins given."""
    return li_ma(float(np.sum(signal)), float(np.sum(background)), alpha)


def livetime_for(n_sigma: float, signal: np.ndarray, background: np.ndarray, alpha: float,
                 livetime_h: float) -> float:
    """Hours for the integrated significance to reach `n_sigma` with at least `GAMMA_MIN`
    excess counts (counts scale linearly with time from those of `livetime_h`)."""
    from scipy.optimize import brentq

    s, b = float(np.sum(signal)), float(np.sum(background))
    if s <= 0:
        raise AnalysisError("the source gives no counts in the energy range: no livetime "
                            "reaches 5 sigma")

    def excess_sigma(log_t: float) -> float:
        k = 10 ** log_t / livetime_h
        return li_ma(k * s, k * b, alpha) - n_sigma

    lo, hi = np.log10(1e-6), np.log10(MAX_LIVETIME_H)
    if excess_sigma(hi) < 0:
        return float("inf")
    t_sigma = 10 ** brentq(excess_sigma, lo, hi, xtol=1e-6) if excess_sigma(lo) < 0 else 1e-6
    t_counts = GAMMA_MIN / s * livetime_h
    return float(max(t_sigma, t_counts))
