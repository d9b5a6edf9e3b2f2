"""Full-sky scan (`icecube_ps.allsky`): time and memory, serial against 2 processes, and
SkyLLH 26.1 on the same release files for a sample of positions, extrapolated to the sky.

Usage: python bench/icecube_allsky.py [--nsides 64,128] [--workers 1,2] [--post-trials 1]
       [--skyllh-positions 200] [--skip-skyllh]

The release is the full-size synthetic one (`data.load("synthetic")`: 1.13 M events,
generated under ~/.local/share/astroflow/icecube on first use). Each configuration runs
in a fresh process of its own (so that its peak memory is its own): the map with n_s and
gamma free at every pixel, then the hotspot refinement; the scrambled full-sky scans of the
post-trial correction are timed apart (`--post-trials`, at the first nside, 2 workers).
Wall times depend on what else runs on the machine: each row also gives the CPU seconds
(this process and its workers), from which the time on idle cores follows. SkyLLH runs in
its own virtual environment (env SKYLLH_PYTHON, default /tmp/skyllh-venv/bin/python):
`create_analysis` once, then `change_source` + `unblind` (gamma free) at each sampled
pixel centre; its time per position times the number of pixels is its full-sky figure.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORKFLOW = HERE.parent / "workflows" / "icecube"
sys.path.insert(0, str(WORKFLOW))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from skyllh_reference import DATASETS, SKYLLH_PYTHON  # noqa: E402

OURS = r"""
import json, resource, sys, time
import numpy as np
sys.path.insert(0, sys.argv[2])
args = json.loads(sys.argv[1])
from icecube_ps import allsky, data
rel = data.load("synthetic", log=lambda m: None)
def cpu():
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime
t, c = time.perf_counter(), cpu()
if args["mode"] == "map":
    res = allsky.run(rel, nside=args["nside"], post_trials=0, workers=args["workers"])
    out = {"timings": res.timings, "n_hotspots": len(res.hotspots),
           "hottest": [float(x) for x in res.hotspots["TS"][:3]],
           "ts_zero": float(np.mean(res.sky.ts == 0))}
    np.save(args["save"], np.stack([res.sky.ts, res.sky.ns, res.sky.gamma]))
    peak_worker = res.peak_rss_mb["worker"]
else:
    search = allsky.HotspotSearch()
    bg = allsky.background_scans(rel, None, args["n"], args["nside"], search,
                                 args["workers"], seed=7)
    out = {"timings": {"per_scan": bg.scan_seconds, "total": bg.seconds},
           "hottest": {b: [float(x) for x in v] for b, v in bg.hottest.items()},
           "n_eff": {b: bg.n_eff(b) for b in bg.hottest}}
    peak_worker = 0.0
out.update({"wall": time.perf_counter() - t, "cpu": cpu() - c,
            "peak_parent_mb": allsky.peak_rss_mb(), "peak_worker_mb": peak_worker,
            "n_events": rel.n_events})
print(json.dumps(out))
"""

SKYLLH = DATASETS + r"""
pos = args["positions"]
t = time.perf_counter()
ana = create_analysis(cfg=cfg, datasets=datasets,
                      source=PointLikeSource(ra=np.deg2rad(pos[0][0]), dec=np.deg2rad(pos[0][1])))
t_build = time.perf_counter() - t
rss = RandomStateService(1)
ana.unblind(rss)
times, ts = [], []
t_all = time.process_time()
for ra, dec in pos:
    t = time.perf_counter()
    ana.change_source(PointLikeSource(ra=np.deg2rad(ra), dec=np.deg2rad(dec)))
    value, params, _ = ana.unblind(rss)
    times.append(time.perf_counter() - t)
    ts.append(float(value))
cpu = (time.process_time() - t_all) / len(pos)
print(json.dumps({"build": t_build, "per_position": float(np.mean(times)),
                  "per_position_median": float(np.median(times)), "cpu_per_position": cpu,
                  "ts": ts}))
"""


def run_json(cmd: list[str], timeout: float) -> dict:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def ours(mode: str, nside: int, workers: int, save: Path | None = None, n: int = 0) -> dict:
    spec = {"mode": mode, "nside": nside, "workers": workers, "save": str(save), "n": n}
    return run_json([sys.executable, "-c", OURS, json.dumps(spec), str(WORKFLOW)], 7200)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nsides", default="64,128", help="comma-separated; 128 runs only with "
                   "the largest worker count (4x the work of 64)")
    p.add_argument("--workers", default="1,2")
    p.add_argument("--post-trials", type=int, default=1,
                   help="scrambled full-sky scans timed (first nside, most workers)")
    p.add_argument("--skyllh-positions", type=int, default=200)
    p.add_argument("--skip-skyllh", action="store_true")
    args = p.parse_args()
    import numpy as np
    from icecube_ps import allsky, data

    t = time.perf_counter()
    rel = data.load("synthetic")              # generated (~15 s) and converted on first use
    root = data.default_dir() / "synthetic"
    print(f"release {root}: {rel.n_events} events ({time.perf_counter() - t:.1f} s to load)")
    nsides = [int(x) for x in args.nsides.split(",") if x]
    workers = sorted(int(x) for x in args.workers.split(",") if x)
    rows, maps = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for nside in nsides:
            for w in workers if nside == nsides[0] else workers[-1:]:
                save = Path(tmp) / f"map_{nside}_{w}.npy"
                print(f"nside {nside}, {w} worker(s) ...", flush=True)
                r = ours("map", nside, w, save)
                maps[(nside, w)] = np.load(save)
                rows.append((nside, w, r))
                tm = r["timings"]
                print(f"  map {tm['scan']:.1f} s + refinement {tm['refine']:.1f} s = "
                      f"{tm['map_total']:.1f} s wall, {r['cpu']:.1f} CPU s; peak RSS "
                      f"parent {r['peak_parent_mb']:.0f} MB, worker {r['peak_worker_mb']:.0f} "
                      f"MB; TS = 0 at {100 * r['ts_zero']:.0f}% of pixels; hottest TS "
                      f"{', '.join(f'{x:.1f}' for x in r['hottest'])}", flush=True)
        same = {k: np.array_equal(maps[(k[0], workers[0])], v, equal_nan=True)
                for k, v in maps.items() if (k[0], workers[0]) in maps and k[1] != workers[0]}
        post = None
        if args.post_trials > 0:
            print(f"{args.post_trials} scrambled full-sky scan(s), nside {nsides[0]}, "
                  f"{workers[-1]} workers ...", flush=True)
            post = ours("post", nsides[0], workers[-1], n=args.post_trials)
    sk = None
    if not args.skip_skyllh and Path(SKYLLH_PYTHON).is_file() and args.skyllh_positions > 0:
        rng = np.random.default_rng(3)
        pix = rng.choice(allsky.n_pixels(nsides[0]), args.skyllh_positions, replace=False)
        ra, dec = allsky.pixel_centres(nsides[0], pix)
        print(f"SkyLLH 26.1: {args.skyllh_positions} positions ...", flush=True)
        sk = run_json([SKYLLH_PYTHON, "-c", SKYLLH,
                       json.dumps({"root": str(root), "positions": list(zip(
                           ra.tolist(), dec.tolist(), strict=True))})], 7200)
    print(f"\n{'full-sky scan, n_s and gamma free':40s} {'wall s':>7s} {'CPU s':>7s} "
          f"{'idle s':>7s} {'parent MB':>9s} {'worker MB':>9s} {'SkyLLH CPU s':>12s} "
          f"{'ratio':>6s}")
    for nside, w, r in rows:
        npix = allsky.n_pixels(nside)
        sky = npix * sk["cpu_per_position"] if sk else None
        name = f"nside {nside} ({npix} px) + refinement, {w} proc"
        print(f"{name:40s} {r['timings']['map_total']:7.1f} {r['cpu']:7.1f} "
              f"{r['cpu'] / w:7.1f} {r['peak_parent_mb']:9.0f} {r['peak_worker_mb']:9.0f} "
              + (f"{sky:12.0f} {sky / r['cpu']:5.0f}x" if sky else f"{'-':>12s}"))
    print("(wall: this run, on a machine shared with other work; CPU: this process and its "
          "workers; idle: CPU / processes, the wall time on as many idle cores; worker MB: "
          "VmHWM of one worker, pages shared copy-on-write with the parent included; "
          "SkyLLH CPU: pixels x its CPU time per change_source + unblind; ratio: CPU to CPU)")
    for (nside, w), ok in same.items():
        print(f"nside {nside}: map with {w} processes identical to the serial one: {ok}")
    if post is not None:
        per = post["timings"]["per_scan"]
        print(f"post-trial scans (nside {nsides[0]}, {workers[-1]} proc, map + refinement + "
              f"scramble each): {', '.join(f'{x:.1f}' for x in per)} s wall, "
              f"{post['cpu'] / len(per):.1f} CPU s per scan; hottest TS north "
              f"{post['hottest']['north']}, south {post['hottest']['south']}")
    if sk:
        print(f"SkyLLH 26.1: build {sk['build']:.1f} s, change_source + unblind "
              f"{1e3 * sk['per_position']:.0f} ms wall / {1e3 * sk['cpu_per_position']:.0f} "
              f"ms CPU per position (mean of {args.skyllh_positions}, median "
              f"{1e3 * sk['per_position_median']:.0f} ms)")


if __name__ == "__main__":
    main()
