"""Small scalar solvers and distribution functions without scipy.

The service's cold path imports only numpy: scipy's import alone costs ~0.3 s, a third of
the cold-request budget, for a root finder and two tail functions.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from statistics import NormalDist

_NORMAL = NormalDist()


def brentq(f: Callable[[float], float], a: float, b: float, xtol: float = 1e-8,
           max_iter: int = 200) -> float:
    """Root of f in [a, b] (f(a), f(b) of opposite signs): Brent's method (Dekker + IQI)."""
    fa, fb = f(a), f(b)
    if fa == 0.0:
        return a
    if fb == 0.0:
        return b
    if fa * fb > 0:
        raise ValueError("root not bracketed")
    c, fc, d = a, fa, b - a
    e = d
    for _ in range(max_iter):
        if fb * fc > 0:
            c, fc, d = a, fa, b - a
            e = d
        if abs(fc) < abs(fb):
            a, b, c = b, c, b
            fa, fb, fc = fb, fc, fb
        tol = 2.0 * 1e-15 * abs(b) + 0.5 * xtol
        m = 0.5 * (c - b)
        if abs(m) <= tol or fb == 0.0:
            return b
        if abs(e) >= tol and abs(fa) > abs(fb):
            s = fb / fa
            if a == c:
                p, q = 2.0 * m * s, 1.0 - s
            else:
                q, r = fa / fc, fb / fc
                p = s * (2.0 * m * q * (q - r) - (b - a) * (r - 1.0))
                q = (q - 1.0) * (r - 1.0) * (s - 1.0)
            if p > 0:
                q = -q
            p = abs(p)
            if 2.0 * p < min(3.0 * m * q - abs(tol * q), abs(e * q)):
                e, d = d, p / q
            else:
                d = m
                e = d
        else:
            d = m
            e = d
        a, fa = b, fb
        b += d if abs(d) > tol else math.copysign(tol, m)
        fb = f(b)
    return b


def norm_ppf(p: float) -> float:
    return _NORMAL.inv_cdf(p)


def norm_isf(p: float) -> float:
    return -_NORMAL.inv_cdf(p)


def chi2_sf(x: float, dof: int) -> float:
    """Survival function of chi2 with 1 or 2 degrees of freedom."""
    if x <= 0:
        return 1.0
    if dof == 1:
        return math.erfc(math.sqrt(0.5 * x))
    if dof == 2:
        return math.exp(-0.5 * x)
    raise ValueError("only 1 or 2 degrees of freedom")
