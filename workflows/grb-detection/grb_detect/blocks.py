"""Bayesian-blocks segmentation (Scargle et al. 2013) with astropy's fitness functions.

Counts per bin use astropy's Poisson ``Events`` fitness, N_k (ln N_k - ln T_k); rates with
Gaussian errors use its ``PointMeasures`` fitness, b_k^2 / 4 a_k. The prior per block is
astropy's ``p0_prior`` (eq. 21 of Scargle et al., corrected): ``p0`` is the false-positive
probability of one change point.

The dynamic programme is astropy's (``FitnessFunc.fit``) written out here for one reason:
astropy derives the cells from the *centres* it is given (first and last cells half as long,
midpoints inside), which on binned data makes the first and last bins look twice as bright and
splits them off; here the cells are the true bin edges, so uneven bins and gaps are exact.
The segmentation only proposes intervals; whether one is a burst is decided by its excess over
the background (grb_detect.detection), on which the false-alarm rate is calibrated.
"""

from __future__ import annotations

import numpy as np
from astropy.stats.bayesian_blocks import Events, PointMeasures

from grb_detect.errors import AnalysisError
from grb_detect.lightcurve import LightCurve


def block_edges(lc: LightCurve, p0: float = 0.2) -> np.ndarray:
    """Indices ``[0, i1, ..., n]``: block k holds bins ``edges[k]:edges[k+1]``."""
    if not 0 < p0 < 1:
        raise AnalysisError(f"p0 = {p0} must be between 0 and 1 (exclusive)")
    n = len(lc)
    cell_edges = np.concatenate([lc.t_start[:1], lc.t_stop])
    if lc.is_counts:
        fitness = Events(p0=p0)
        counts = lc.counts

        def fit_vec(r):
            n_k = np.cumsum(counts[: r + 1][::-1])[::-1]
            t_k = cell_edges[r + 1] - cell_edges[: r + 1]
            return fitness.fitness(np.maximum(n_k, 1e-12), t_k)
    else:
        fitness = PointMeasures(p0=p0)
        a_raw = 1.0 / lc.rate_err ** 2
        b_raw = lc.rate / lc.rate_err ** 2

        def fit_vec(r):
            a_k = 0.5 * np.cumsum(a_raw[: r + 1][::-1])[::-1]
            b_k = -np.cumsum(b_raw[: r + 1][::-1])[::-1]
            return fitness.fitness(a_k, b_k)

    ncp_prior = fitness.p0_prior(n)
    best = np.zeros(n)
    last = np.zeros(n, int)
    for r in range(n):
        a_r = fit_vec(r) - ncp_prior
        a_r[1:] += best[:r]
        last[r] = int(np.argmax(a_r))
        best[r] = a_r[last[r]]
    starts, ind = [], n
    while ind > 0:
        ind = last[ind - 1]
        starts.append(ind)
    return np.array(sorted(set(starts)) + [n], int)
