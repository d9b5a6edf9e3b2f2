"""Cone queries return exactly the events a brute-force scan finds."""

from __future__ import annotations

import numpy as np
import pytest
from icecube_ps.sky import angular_distance, offset
from icecube_ps.skyindex import SkyIndex


@pytest.mark.parametrize("ra,dec", [(0.5, 0.0), (359.7, 30.0), (180.0, -88.5), (10.0, 89.9),
                                    (200.0, -45.0), (90.0, 84.0)])
def test_cone_equals_brute_force(ra, dec):
    rng = np.random.default_rng(1)
    n = 60000
    ev_ra = rng.uniform(0, 360, n)
    ev_dec = np.degrees(np.arcsin(rng.uniform(-1, 1, n)))
    index = SkyIndex(ev_ra, ev_dec)
    s_ra, s_dec = ev_ra[index.order], ev_dec[index.order]
    for radius in (0.5, 5.0):
        cand = index.cone_candidates(ra, dec, radius)
        found = cand[angular_distance(s_ra[cand], s_dec[cand], ra, dec) < radius]
        truth = np.flatnonzero(angular_distance(s_ra, s_dec, ra, dec) < radius)
        assert np.array_equal(np.sort(found), truth)


def test_offset_is_at_the_requested_distance():
    rng = np.random.default_rng(2)
    psi = rng.uniform(0, 20, 1000)
    r, d = offset(77.0, 80.0, psi, rng.uniform(0, 360, 1000))
    np.testing.assert_allclose(angular_distance(r, d, 77.0, 80.0), psi, atol=1e-6)
