"""Speed of the IceCube point-source service against SkyLLH 26.1 on the same files.

Usage: python bench/icecube_speed.py [--release DIR] [--scale 1.0] [--skip-skyllh]

A synthetic release in the 10-year layout (1.13 M events at scale 1, with a 40-event
E^-2 source at TXS 0506+056) is generated under /tmp on first use. SkyLLH runs from its own
virtual environment (env SKYLLH_PYTHON, default /tmp/skyllh-venv/bin/python; create it
with `python3 -m venv /tmp/skyllh-venv && /tmp/skyllh-venv/bin/pip install skyllh==26.1.0`)
in a subprocess of this script, on the same files. Medians and ratios are printed.
Run it niced and single-threaded on a shared machine:
`OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python bench/icecube_speed.py`.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORKFLOW = HERE.parent / "workflows" / "icecube"
sys.path.insert(0, str(WORKFLOW))

TXS = (77.358, 5.693)
from skyllh_reference import SKYLLH_PYTHON  # noqa: E402

# Peak memory of a worker process itself: VmHWM of its own address space. (ru_maxrss is
# not: Linux carries the parent's peak over the fork and exec into the child's figure.)
PEAK_MB = r"""
def peak_mb():
    import contextlib
    with contextlib.suppress(OSError), open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    import resource   # no /proc: the rusage peak
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
"""

SKYLLH_WORKER = PEAK_MB + r"""
import json, os, sys, time
t0 = time.perf_counter()
import numpy as np
from skyllh.analyses.i3.publicdata_ps.time_integrated_ps import create_analysis
from skyllh.core.config import Config
from skyllh.core.random import RandomStateService
from skyllh.core.source_model import PointLikeSource
from skyllh.datasets.i3 import PublicData_10y_ps
t_import = time.perf_counter() - t0
args = json.loads(sys.argv[1])
root = args["root"]
cfg = Config()
dsc = PublicData_10y_ps.create_dataset_collection(
    cfg=cfg, base_path=os.path.dirname(root), sub_path_fmt=os.path.basename(root))
datasets = dsc["IC40", "IC59", "IC79", "IC86_I", "IC86_II-VII"]
ra, dec = args["source"]
t = time.perf_counter()
ana = create_analysis(cfg=cfg, datasets=datasets,
                      source=PointLikeSource(ra=np.deg2rad(ra), dec=np.deg2rad(dec)))
t_build = time.perf_counter() - t
rss = RandomStateService(1)
fits = []
for _ in range(args["n_fits"]):
    t = time.perf_counter(); ts, params, _ = ana.unblind(rss); fits.append(time.perf_counter() - t)
t_answer = time.perf_counter() - t0
# Background trials (gamma free, like ours): the first ones also build SkyLLH's data
# scrambler and caches, so they are timed apart and the per-trial figure is a warm batch.
t = time.perf_counter()
ana.do_trials(rss, n=args["n_warmup"], mean_n_sig=0, ncpu=1)
t_trial_first = (time.perf_counter() - t) / args["n_warmup"]
t = time.perf_counter()
ana.do_trials(rss, n=args["n_trials"], mean_n_sig=0, ncpu=1)
t_trial = (time.perf_counter() - t) / args["n_trials"]
moves = []
for k in range(args["n_moves"]):
    new = PointLikeSource(ra=np.deg2rad(ra + 30.0 * (k + 1)), dec=np.deg2rad(dec + 10.0 * (k + 1)))
    t = time.perf_counter(); ana.change_source(new); ana.unblind(rss)
    moves.append(time.perf_counter() - t)
print(json.dumps({"import": t_import, "build": t_build, "fit": float(np.median(fits)),
                  "answer": t_answer, "trial": t_trial, "trial_first": t_trial_first,
                  "change_source_fit": float(np.median(moves)),
                  "ts": float(ts), "ns": float(params["ns"]), "gamma": float(params["gamma"]),
                  "maxrss_mb": peak_mb()}))
"""

OURS_COLD = PEAK_MB + r"""
import json, sys, time
t0 = time.perf_counter()
sys.path.insert(0, sys.argv[2])
from icecube_ps import limits, release
from icecube_ps.likelihood import PointSourceAnalysis
t_import = time.perf_counter() - t0
args = json.loads(sys.argv[1])
t = time.perf_counter(); rel = release.open_release(args["root"]); t_load = time.perf_counter() - t
t = time.perf_counter(); ana = PointSourceAnalysis(rel); t_build = time.perf_counter() - t
ra, dec = args["source"]
t = time.perf_counter()
sel = ana.select(ra, dec)
res = ana.fit_selection(sel, dec, None)
ul = limits.ns_upper_limit(ana, sel, dec, 2.0, 0.9) * ana.flux_per_ns(dec, 2.0)
t_fit = time.perf_counter() - t
print(json.dumps({"import": t_import, "load": t_load, "build": t_build, "fit": t_fit,
                  "answer": time.perf_counter() - t0, "ts": res.ts, "ns": res.ns,
                  "gamma": res.gamma, "flux_ul": ul, "maxrss_mb": peak_mb()}))
"""


def ensure_release(root: Path, scale: float) -> Path:
    from icecube_ps import release, synthetic

    if not (root / release.CACHE_NAME).is_file():
        print(f"generating a synthetic release (scale {scale}) in {root} ...", flush=True)
        t = time.perf_counter()
        synthetic.generate(root, scale=scale, sources=(synthetic.Source(*TXS, 40, 2.0),),
                           seed=2026)
        release.open_release(root, "synthetic")
        print(f"  done in {time.perf_counter() - t:.1f} s", flush=True)
    # A cache written by older code is completed (once, in place) here, not in the first
    # timed cold start.
    release.open_release(root)
    return root


def run_json(cmd: list[str], timeout: float) -> dict:
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-2000:])
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["wall"] = wall
    return out


def median(values: list[float]) -> float:
    import numpy as np
    return float(np.median(values))


def bench_ours(root: Path, n_positions: int, n_trials: int, map_side: int) -> dict:
    import numpy as np
    from icecube_ps import limits, release
    from icecube_ps.likelihood import PointSourceAnalysis

    cold = [run_json([sys.executable, "-c", OURS_COLD,
                      json.dumps({"root": str(root), "source": TXS}), str(WORKFLOW)], 300)
            for _ in range(3)]
    ana = PointSourceAnalysis(release.open_release(root))
    rng = np.random.default_rng(1)
    pos = np.column_stack([rng.uniform(0, 360, n_positions),
                           np.degrees(np.arcsin(rng.uniform(-1, 1, n_positions)))])
    new_free, new_fixed = [], []
    for ra, dec in pos:
        t = time.perf_counter()
        sel = ana.select(ra, dec)
        ana.fit_selection(sel, dec, None)
        limits.ns_upper_limit(ana, sel, dec, 2.0, 0.9)
        new_free.append(time.perf_counter() - t)
        t = time.perf_counter()
        sel = ana.select(ra, dec)
        ana.fit_selection(sel, dec, 2.0)
        limits.ns_upper_limit(ana, sel, dec, 2.0, 0.9)
        new_fixed.append(time.perf_counter() - t)
    trial_free, trial_fixed = [], []
    for _ in range(n_trials):
        t = time.perf_counter()
        ana.trial(*TXS, rng, None)
        trial_free.append(time.perf_counter() - t)
        t = time.perf_counter()
        ana.trial(*TXS, rng, 2.0)
        trial_fixed.append(time.perf_counter() - t)
    grid = np.linspace(-5.0, 5.0, map_side)
    t = time.perf_counter()
    for d in grid:
        for r in grid:
            ana.fit(TXS[0] + r / np.cos(np.radians(TXS[1] + d)), TXS[1] + d, 2.0)
    ts_map_fixed = time.perf_counter() - t
    t = time.perf_counter()
    for d in grid[:: max(map_side // 20, 1)]:
        for r in grid:
            ana.fit(TXS[0] + r, TXS[1] + d, None)
    n_free = len(grid[:: max(map_side // 20, 1)]) * map_side
    ts_map_free = (time.perf_counter() - t) * map_side**2 / n_free
    return {"cold": cold, "new_free": median(new_free), "new_fixed": median(new_fixed),
            "trial_free": median(trial_free), "trial_fixed": median(trial_fixed),
            "ts_map_fixed": ts_map_fixed, "ts_map_free": ts_map_free,
            "map_positions": map_side**2, "n_events": ana.ra.size,
            "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--release", type=Path, default=Path("/tmp/icecube-bench/icecube_10year_ps"))
    p.add_argument("--scale", type=float, default=1.0)
    p.add_argument("--positions", type=int, default=200)
    p.add_argument("--trials", type=int, default=300)
    p.add_argument("--map-side", type=int, default=100)
    p.add_argument("--skyllh-trials", type=int, default=30,
                   help="SkyLLH background trials timed (after 3 warm-up trials)")
    p.add_argument("--skip-skyllh", action="store_true")
    args = p.parse_args()
    root = ensure_release(args.release, args.scale)
    ours = bench_ours(root, args.positions, args.trials, args.map_side)
    sk = None
    if not args.skip_skyllh and Path(SKYLLH_PYTHON).is_file():
        print("running SkyLLH 26.1 on the same files ...", flush=True)
        sk = run_json([SKYLLH_PYTHON, "-c", SKYLLH_WORKER,
                       json.dumps({"root": str(root), "source": TXS, "n_fits": 3,
                                   "n_warmup": 3, "n_trials": args.skyllh_trials,
                                   "n_moves": 2})], 1800)
    c = ours["cold"]
    cold_wall = median([x["wall"] for x in c])
    print(f"\nrelease: {root} ({ours['n_events']} events)")
    print(f"ours cold answer at TXS (gamma free + UL): TS={c[0]['ts']:.2f} ns={c[0]['ns']:.2f} "
          f"gamma={c[0]['gamma']:.3f}")
    if sk:
        print(f"SkyLLH answer at TXS:                       TS={sk['ts']:.2f} ns={sk['ns']:.2f} "
              f"gamma={sk['gamma']:.3f}")
    rows = [
        ("cold request, process start to answer [s]", cold_wall,
         sk["import"] + sk["build"] + sk["fit"] if sk else None),
        ("  of which import [s]", median([x["import"] for x in c]), sk and sk["import"]),
        ("  of which load + build [s]", median([x["load"] + x["build"] for x in c]),
         sk and sk["build"]),
        ("new position, warm, exact, gamma free + UL [ms]", 1e3 * ours["new_free"],
         sk and 1e3 * (sk["build"] + sk["fit"])),
        ("new position, warm, gamma fixed + UL [ms]", 1e3 * ours["new_fixed"], None),
        ("SkyLLH change_source + fit (approximate) [ms]", None,
         sk and 1e3 * sk["change_source_fit"]),
        ("background trial, gamma free [ms]", 1e3 * ours["trial_free"],
         sk and 1e3 * sk["trial"]),
        ("background trial, gamma fixed [ms]", 1e3 * ours["trial_fixed"], None),
        (f"TS map {ours['map_positions']} positions, gamma fixed, 1 core [s]",
         ours["ts_map_fixed"], sk and ours["map_positions"] * sk["change_source_fit"]),
        (f"TS map {ours['map_positions']} positions, gamma free, 1 core [s]",
         ours["ts_map_free"], sk and ours["map_positions"] * sk["change_source_fit"]),
        ("peak memory, cold process [MB]", median([x["maxrss_mb"] for x in c]),
         sk and sk["maxrss_mb"]),
    ]
    print(f"\n{'benchmark (medians)':52s} {'ours':>10s} {'SkyLLH':>10s} {'ratio':>8s}")
    for name, a, b in rows:
        fa = f"{a:10.3f}" if a is not None else f"{'-':>10s}"
        fb = f"{b:10.3f}" if b is not None else f"{'-':>10s}"
        ratio = f"{b / a:7.1f}x" if (a and b) else f"{'':>8s}"
        print(f"{name:52s} {fa} {fb} {ratio}")
    print("(SkyLLH TS-map figures: positions x its approximate change_source + fit time.)")
    print("our cold requests [s]: " + ", ".join(
        f"{x['wall']:.3f} (import {x['import']:.3f}, load + build {x['load'] + x['build']:.4f}, "
        f"fit + UL {x['fit']:.4f})" for x in c))
    if sk:
        print(f"\nbackground trial, gamma free (issue 7: <= 5 ms and >= 40x SkyLLH): ours "
              f"{1e3 * ours['trial_free']:.2f} ms (median of {args.trials}), SkyLLH "
              f"{1e3 * sk['trial']:.1f} ms (mean of {args.skyllh_trials} after 3 warm-up "
              f"trials, which took {1e3 * sk['trial_first']:.1f} ms each): "
              f"{sk['trial'] / ours['trial_free']:.1f}x")


if __name__ == "__main__":
    main()
