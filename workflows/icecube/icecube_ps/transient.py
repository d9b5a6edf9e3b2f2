"""The extended likelihood for short time windows (a transient: a GW merger, a GRB).

The time-integrated analysis normalises the signal fraction by the N events observed in the
window (n_s / N). Over ±500 s around a merger the public release holds one or two events in
the whole sky: that ratio likelihood cannot hold more signal than N events, so its limit is
capped near N whatever the source. The extended likelihood compares with the *expected*
background instead, mu_s = (events of season s) x (livetime in the window) / (its livetime):

    log Lambda(n_s) = -n_s + sum_i log(1 + n_s f_s(i) x_i / mu_s(i))

with x_i = S_i / B_i the same per-event signal-over-background ratio (space and energy) and
f_s the signal share of each season. With no event near the source, Lambda = exp(-n_s) and
the limit is the Poisson zero-count 2.30 events at 90% (with the conservative threshold).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq

from .dataset import Release
from .likelihood import PointSourceAnalysis, Selection, interpolate_gamma
from .limits import limit_threshold

SECONDS_PER_DAY = 86400.0


def expected_background(release: Release, ana: PointSourceAnalysis) -> np.ndarray:
    """mu_s: background events expected per season in the analysis window (all sky)."""
    totals = np.bincount(release.events["season"], minlength=len(release.seasons))
    livetime_all = np.array([s.livetime_days for s in release.seasons]) * SECONDS_PER_DAY
    return np.divide(totals * ana.livetime_s, livetime_all, out=np.zeros(len(totals)),
                     where=livetime_all > 0)


def event_terms(ana: PointSourceAnalysis, sel: Selection, dec: float, gamma: float,
                mu: np.ndarray) -> np.ndarray:
    """a_i = f_s x_i / mu_s of each selected event (0 for seasons with no background)."""
    f, _ = ana._fractions(ana.season_yields(dec), gamma)
    share = np.divide(f, mu, out=np.zeros_like(f), where=mu > 0)
    x = sel.spatial_ratio * np.exp(interpolate_gamma(sel.log_energy_ratio, gamma))
    return share[sel.season] * x


def log_lambda(n: float, a: np.ndarray) -> float:
    return float(np.log1p(n * a).sum() - n)


def best_ns(a: np.ndarray) -> float:
    """argmax over n >= 0 of sum log(1 + n a_i) - n (concave; 0 unless sum a_i > 1)."""
    if a.sum() <= 1.0:
        return 0.0
    hi = max(1.0, float(a.size))        # the derivative is below N/n - 1 < 0 beyond N
    return float(brentq(lambda n: (a / (1.0 + n * a)).sum() - 1.0, 0.0, hi, xtol=1e-10))


@dataclass
class TransientFit:
    ts: float
    ns: float
    ns_upper_limit: float


def fit_and_limit(a: np.ndarray, confidence_level: float = 0.9) -> TransientFit:
    """TS, n_s and the profile-likelihood upper limit (threshold as `limits.ns_upper_limit`)."""
    n_hat = best_ns(a)
    l_hat = log_lambda(n_hat, a)
    ts = 2.0 * l_hat
    z2 = limit_threshold(ts, confidence_level)

    def excess(n: float) -> float:
        return 2.0 * (l_hat - log_lambda(n, a)) - z2

    hi = max(2.0 * n_hat, 5.0)
    while excess(hi) < 0.0:
        hi *= 2.0
    return TransientFit(ts, n_hat, float(brentq(excess, n_hat, hi, xtol=1e-9)))
