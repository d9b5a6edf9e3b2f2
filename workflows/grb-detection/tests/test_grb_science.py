"""Science checks: detection efficiency and false-alarm rate over 200 + 200 synthetic light
curves, the significance against a direct Poisson sum, and T90 against the injected pulse."""

from __future__ import annotations

import math

import numpy as np
import pytest
from grb_detect import calibration, synthetic
from grb_detect.detection import detect, poisson_significance


@pytest.fixture(scope="module")
def background_trials():
    return calibration.run_trials(range(100_000, 100_200), None)


@pytest.fixture(scope="module")
def burst_trials():
    return calibration.run_trials(range(200), 6.0)


@pytest.mark.validation  # statistical: `make validate`, not `make test`
def test_false_alarms_at_most_one_percent(background_trials, burst_trials):
    thr = calibration.CALIBRATED_THRESHOLD
    assert len(background_trials) == 200
    far = calibration.false_alarm_rate(background_trials, thr)
    print(f"false-alarm rate at {thr} sigma: {far:.3f} of 200 background-only curves")
    assert far <= 0.01
    # no spurious detection beside the injected bursts either
    assert calibration.false_alarm_rate(burst_trials, thr) <= 0.01
    # at the service's default 6 sigma, none
    assert calibration.false_alarm_rate(background_trials, 6.0) == 0.0


@pytest.mark.validation  # statistical: `make validate`, not `make test`
def test_efficiency_for_6_sigma_bursts(burst_trials):
    assert len(burst_trials) == 200
    thr = calibration.CALIBRATED_THRESHOLD
    eff5 = calibration.efficiency(burst_trials, thr)
    eff6 = calibration.efficiency(burst_trials, 6.0)
    print(f"efficiency for 6-sigma FREDs: {eff5:.3f} at {thr} sigma, {eff6:.3f} at 6 sigma")
    assert eff5 >= 0.95
    # an ideal measurement of the T90 interval alone, 6 sigma with unit Gaussian noise,
    # crosses 6 sigma half the time: the block search must do at least as well
    assert eff6 >= 0.5
    durations = np.array([t.t90 for t in burst_trials])
    assert durations.min() < 0.7 and durations.max() > 35   # the full 0.5-50 s range was tried


def _poisson_tail_sigma(n: int, b: float) -> float:
    """Independent: P(N >= n | b) summed term by term, inverted with erfc by bisection."""
    log_terms = [k * math.log(b) - b - math.lgamma(k + 1) for k in range(n, n + 2000)]
    top = max(log_terms)
    p = math.exp(top) * sum(math.exp(t - top) for t in log_terms)
    lo, hi = 0.0, 40.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if 0.5 * math.erfc(mid / math.sqrt(2)) > p:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


@pytest.mark.parametrize(("n", "b"), [(10, 2.0), (30, 12.5), (160, 100.0), (2300, 2000.0)])
def test_significance_is_the_poisson_tail(n, b):
    assert poisson_significance(n, b)[0] == pytest.approx(_poisson_tail_sigma(n, b), abs=2e-3)


def test_significance_gaussian_limit_and_sign():
    b = 1e6
    assert poisson_significance(b + 5 * 1000, b)[0] == pytest.approx(5.0, abs=0.01)
    assert poisson_significance(b - 5 * 1000, b)[0] == pytest.approx(-5.0, abs=0.01)
    assert poisson_significance(b, b)[0] == 0.0


def test_t90_of_injected_bursts_within_their_uncertainty():
    pulls = []
    for seed in range(12):
        rng = np.random.default_rng(500 + seed)
        t90 = float(np.exp(rng.uniform(np.log(0.5), np.log(30.0))))
        burst = synthetic.make_burst(t90, 30.0, 2000.0, 80.0, float(rng.uniform(1, 8)))
        lc = synthetic.light_curve(rng, n_bins=1000, dt=0.25, burst=burst)
        found = detect(lc).detections
        assert len(found) == 1, seed
        pull = (found["t90"][0] - burst.t90) / found["t90_err"][0]
        assert abs(pull) < 3, (seed, burst.t90, found["t90"][0], found["t90_err"][0])
        assert found["t05"][0] < burst.t05 + 3 * found["t90_err"][0]
        pulls.append(pull)
    # the uncertainty is the spread: pulls centred on 0 with unit width
    assert abs(np.mean(pulls)) < 0.7 and 0.4 < np.std(pulls) < 1.6


def test_long_curve_finds_a_short_spike_at_its_own_binning():
    """20000 bins of 50 ms: the coarse search (0.35 s bins) dilutes a 0.15 s spike injected at
    8 sigma below the threshold; the windowed search at 50 ms finds it."""
    rng = np.random.default_rng(2)
    burst = synthetic.make_burst(0.15, 8.0, 2000.0, 612.3, 2.0)
    lc = synthetic.light_curve(rng, n_bins=20000, dt=0.05, burst=burst)
    coarse = detect(lc, fine=False)
    assert max((c["significance"] for c in coarse.candidates), default=-np.inf) < 6
    found = detect(lc).detections
    assert len(found) == 1 and found["bin_s"][0] == pytest.approx(0.05)
    assert found["t_start"][0] - 0.1 < burst.t05 < found["t_stop"][0]
    assert found["significance"][0] > 6.5
