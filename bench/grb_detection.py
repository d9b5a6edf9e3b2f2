"""GRB detection: the figures quoted in workflows/grb-detection/README.md.

1. false-alarm rate per 250-s light curve (background only) and detection efficiency for FRED
   bursts injected at 6 sigma integrated significance, versus threshold, over N + N synthetic
   curves (seeds independent of the tests'); efficiency by T90 range;
2. efficiency versus injected significance at the default 6-sigma threshold;
3. T90 pulls, (measured - true) / uncertainty, for 30-sigma bursts;
4. the time of one search on 1000, 3000 bins.

    .venv/bin/python bench/grb_detection.py [--n 1000] [--p0 0.2]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflows" / "grb-detection"))
from grb_detect import calibration, synthetic  # noqa: E402
from grb_detect.detection import detect  # noqa: E402


def binomial(k: float, n: int) -> str:
    p = k
    return f"{100 * p:5.1f} % ± {100 * np.sqrt(max(p * (1 - p), 1 / n) / n):.1f}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--p0", type=float, default=calibration.CALIBRATED_P0)
    args = parser.parse_args()
    n, p0 = args.n, args.p0
    t = time.perf_counter()
    off = calibration.run_trials(range(300_000, 300_000 + n), None, p0)
    on = calibration.run_trials(range(400_000, 400_000 + n), 6.0, p0)
    print(f"{2 * n} curves of {calibration.N_BINS} x {calibration.DT} s in "
          f"{time.perf_counter() - t:.1f} s (2 processes); p0 = {p0}")
    print("threshold | false alarms (background only) | efficiency, 6-sigma FREDs | "
          "false alarms beside the bursts")
    for thr in (4.5, 4.75, 5.0, 5.25, 5.5, 6.0):
        print(f"{thr:5.2f} | {binomial(calibration.false_alarm_rate(off, thr), n)} | "
              f"{binomial(calibration.efficiency(on, thr), n)} | "
              f"{binomial(calibration.false_alarm_rate(on, thr), n)}")
    t90 = np.array([x.t90 for x in on])
    z = np.array([x.on for x in on])
    print("T90 range | n | efficiency at 5 sigma | at 6 sigma | mean measured sigma")
    for lo, hi in [(0.5, 2), (2, 8), (8, 20), (20, 50)]:
        m = (t90 >= lo) & (t90 < hi)
        finite = z[m][np.isfinite(z[m])]
        print(f"{lo:g}-{hi:g} s | {m.sum()} | {binomial(np.mean(z[m] >= 5), m.sum())} | "
              f"{binomial(np.mean(z[m] >= 6), m.sum())} | {finite.mean():.2f}")
    print("injected sigma | efficiency at the 6-sigma threshold")
    for sig in (5.0, 6.0, 7.0, 8.0, 9.0):
        trials = calibration.run_trials(range(500_000, 500_000 + n // 2), sig, p0)
        print(f"{sig:g} | {binomial(calibration.efficiency(trials, 6.0), n // 2)}")
    pulls = []
    for seed in range(40):
        rng = np.random.default_rng(600_000 + seed)
        b = synthetic.make_burst(float(np.exp(rng.uniform(np.log(0.5), np.log(30)))), 30.0,
                                 2000.0, 80.0, float(rng.uniform(1, 8)))
        found = detect(synthetic.light_curve(rng, n_bins=1000, burst=b), p0=p0).detections
        if len(found) == 1:
            pulls.append((found["t90"][0] - b.t90) / found["t90_err"][0])
    print(f"T90 pulls of 40 bursts at 30 sigma: mean {np.mean(pulls):+.2f}, "
          f"std {np.std(pulls):.2f} ({len(pulls)} found alone)")
    for bins in (1000, 3000):
        rng = np.random.default_rng(1)
        lc = synthetic.light_curve(rng, n_bins=bins, dt=0.05)
        t = time.perf_counter()
        detect(lc, p0=p0)
        print(f"one search on {bins} bins: {time.perf_counter() - t:.2f} s")


if __name__ == "__main__":
    main()
