"""Accuracy of the IceCube point-source likelihood against two truths, SkyLLH 26.1 alongside.

Usage:
  OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python bench/icecube_accuracy.py --quick
  ... bench/icecube_accuracy.py [--parts bias,paired,coverage] [--generator both]
      [--out FILE] [--base /tmp/icecube-accuracy] [--skip-skyllh] [--workflow DIR]

Two generators write releases in the 10-year layout (1.13 M events): `synthetic`, the
service's own detector model (workflows/icecube/icecube_ps/synthetic.py, detector.py), and
`independent`, another parametrisation sharing no code with the service
(bench/icecube_independent.py: other A_eff, selection on the reconstructed energy with a
sharp southern threshold at -10...-5 deg, non-Gaussian energy proxy, King-profile PSF with
badly reconstructed tracks, biased AngErr floored at 0.3 deg, muon + atmospheric + prompt +
astrophysical background). Only the public analysis API is used: PointSourceAnalysis(release)
.fit / .trial / .scrambled_selection, limits.ns_upper_limit; releases are read by
release.open_release.

bias      For each generator, RA-scrambled trials on a background-only release of that
          generator, with a fixed number of signal events (--n-inj, default 40 for
          gamma <= 2.5, 60 for gamma >= 3) injected from the generator's continuous model
          ("model") and from the release's binned irfs ("irfs", the default injector), at
          gamma in {2, 2.5, 3, 3.5} x dec in {-30, 0, 30, 60}; each trial fitted with gamma
          fixed at the truth and with gamma free (the same events: the generator state is
          copied). Mean relative bias of n_s (standard error), mean gamma and its scatter.
paired    Releases with sources written into the files (rings at dec -30, +5.693, +30,
          sources 15 deg apart in RA, gamma 2 and 3 alternating, the --n-inj counts),
          fitted with gamma free by ours and by SkyLLH (its own venv; one analysis per
          declination, `change_source` per source within it: moving a SkyLLH analysis to
          another declination gives other fits than building it there) on the same files: per (generator, dec, gamma) the median paired TS
          ratio ours/SkyLLH - 1 (bootstrap error), n_s and gamma means, gamma scatter.
coverage  90% upper limits on n_s (gamma fixed at 2, and at 3; --limit profile or
          calibrated) for Poisson(n) signal events, n in {3, 5, 10, 25, 50} (--coverage-n),
          injected from each generator's model (or, --coverage-truth irfs, the release's
          binned irfs) at TXS 0506+056 and at (210, -30) (--coverage-at): coverage +-
          binomial error.

Trials run in a pool of --workers processes (fork); SkyLLH runs two releases at a time.
Releases are cached under --base (regenerated when the generator's source changes).
Tables are printed and everything is written to --out (JSON).
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import icecube_independent as independent  # noqa: E402
from skyllh_reference import DATASETS, SKYLLH_PYTHON  # noqa: E402

GENERATORS = ("synthetic", "independent")
BIAS_GAMMAS = (2.0, 2.5, 3.0, 3.5)
BIAS_DECS = (-30.0, 0.0, 30.0, 60.0)
BIAS_RA = 180.0
RING_DECS = (-30.0, 5.693, 30.0)
PAIRED_GAMMAS = (2.0, 3.0)
COVERAGE_POSITIONS = (("TXS 0506+056", 77.358, 5.693), ("south", 210.0, -30.0))
COVERAGE_GAMMAS = (2.0, 3.0)
COVERAGE_N = (3.0, 5.0, 10.0, 25.0, 50.0)
CONFIDENCE = 0.9

SKYLLH_SCRIPT = DATASETS + r"""
pos = args["positions"]
t0 = time.perf_counter()
t_build = 0.0
rss = RandomStateService(1)
out = [None] * len(pos)
# One analysis per declination: change_source keeps the declination-dependent parts of the
# analysis it was built for (fits after a move to another declination differ from fits of
# an analysis built there); within one declination it is exact.
for dec in dict.fromkeys(d for _, d in pos):
    ana = None
    for k, (ra, d) in enumerate(pos):
        if d != dec:
            continue
        src = PointLikeSource(ra=np.deg2rad(ra), dec=np.deg2rad(d))
        if ana is None:
            t = time.perf_counter()
            ana = create_analysis(cfg=cfg, datasets=datasets, source=src)
            t_build += time.perf_counter() - t
        else:
            ana.change_source(src)
        ts, p, _ = ana.unblind(rss)
        out[k] = [float(ts), float(p["ns"]), float(p["gamma"])]
    del ana
print(json.dumps({"fits": out, "build_s": t_build, "wall_s": time.perf_counter() - t0}))
"""


# ----- generators and releases ------------------------------------------------------------
def _digest(*paths: Path) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(Path(p).read_bytes())
    return h.hexdigest()[:16]


def generator_version(gen: str) -> str:
    if gen == "independent":
        return _digest(Path(independent.__file__))
    from icecube_ps import detector, synthetic
    return _digest(Path(synthetic.__file__), Path(detector.__file__))


def write_release(gen: str, root: Path, scale: float, sources: list, seed: int) -> None:
    if gen == "independent":
        independent.generate(root, scale=scale, seed=seed,
                             sources=tuple(independent.Source(*s) for s in sources))
    else:
        from icecube_ps import synthetic
        synthetic.generate(root, scale=scale, seed=seed,
                           sources=tuple(synthetic.Source(*s) for s in sources))


def ensure_release(gen: str, root: Path, scale: float, sources: list, seed: int) -> str:
    """Write (unless cached) and convert a release; returns the root as a string."""
    from icecube_ps import release

    root = Path(root)
    meta = root.with_name(root.name + ".json")
    want = {"generator": gen, "version": generator_version(gen), "scale": scale, "seed": seed,
            "sources": [list(map(float, s)) for s in sources]}
    if (meta.is_file() and json.loads(meta.read_text()) == want
            and (root / release.CACHE_NAME).is_file()):
        return str(root)
    shutil.rmtree(root, ignore_errors=True)
    meta.unlink(missing_ok=True)
    t = time.perf_counter()
    write_release(gen, root, scale, sources, seed)
    release.open_release(root, gen)          # builds the binary cache
    meta.write_text(json.dumps(want))
    print(f"    wrote {root} ({time.perf_counter() - t:.0f} s)", flush=True)
    return str(root)


def make_injector(gen: str, ra: float, dec: float, gamma: float, seasons):
    """The generator's continuous model as an injector `(n, rng) -> (season, ra, dec, ...)`."""
    if gen == "independent":
        return independent.IndependentInjector.from_seasons(ra, dec, gamma, seasons)
    from icecube_ps.synthetic import ContinuousInjector
    return ContinuousInjector(ra, dec, gamma, tuple(s.name for s in seasons),
                              tuple(float(s.livetime_days) for s in seasons))


# ----- per-process analyses (built in the parent before the pool forks) -------------------
_ANALYSES: dict[str, object] = {}


def analysis(root: str):
    if root not in _ANALYSES:
        from icecube_ps import release
        from icecube_ps.likelihood import PointSourceAnalysis
        _ANALYSES[root] = PointSourceAnalysis(release.open_release(Path(root)))
    return _ANALYSES[root]


def _seasons(ana):
    return ana.seasons


# ----- tasks (run in the pool) ------------------------------------------------------------
def bias_task(root: str, gen: str, injector_kind: str, dec: float, gamma: float, n_inj: int,
              n_trials: int, seed: list[int]) -> np.ndarray:
    """(n_trials, 5): n_s and TS with gamma fixed, n_s, gamma and TS with gamma free."""
    ana = analysis(root)
    inj = (make_injector(gen, BIAS_RA, dec, gamma, _seasons(ana))
           if injector_kind == "model" else None)
    rng = np.random.default_rng(seed)
    out = np.empty((n_trials, 5))
    for k in range(n_trials):
        twin = copy.deepcopy(rng)        # the same scramble and injection for both fits
        fixed = ana.trial(BIAS_RA, dec, twin, gamma=gamma, inject=n_inj, gamma_inj=gamma,
                          injector=inj)
        free = ana.trial(BIAS_RA, dec, rng, gamma=None, inject=n_inj, gamma_inj=gamma,
                         injector=inj)
        out[k] = (fixed.ns, fixed.ts, free.ns, free.gamma, free.ts)
    return out


def coverage_task(root: str, gen: str, ra: float, dec: float, gamma: float, n_true: float,
                  n_trials: int, seed: list[int], method: str = "profile",
                  truth: str = "model") -> np.ndarray:
    """(n_trials, 2): injected count, 90% upper limit on n_s (gamma fixed), by the
    service's "profile" or "calibrated" limit (its threshold from irf signal trials), for
    signal from the generator's model or from the release's irfs."""
    from icecube_ps import limits

    ana = analysis(root)
    inj = make_injector(gen, ra, dec, gamma, _seasons(ana)) if truth == "model" else None
    rng = np.random.default_rng(seed)
    out = np.empty((n_trials, 2))
    for k in range(n_trials):
        n = int(rng.poisson(n_true))
        sel = ana.scrambled_selection(ra, dec, rng, inject=n, gamma_inj=gamma, injector=inj)
        limit = (limits.ns_upper_limit_calibrated(ana, sel, ra, dec, gamma, CONFIDENCE).ns
                 if method == "calibrated"
                 else limits.ns_upper_limit(ana, sel, dec, gamma, CONFIDENCE))
        out[k] = (n, limit)
    return out


def release_task(gen: str, root: str, scale: float, sources: list, seed: int) -> str:
    return ensure_release(gen, Path(root), scale, sources, seed)


# ----- helpers ----------------------------------------------------------------------------
def pool(workers: int):
    return ProcessPoolExecutor(max_workers=workers,
                               mp_context=multiprocessing.get_context("fork"))


def n_injected(gamma: float, n_inj: tuple[int, int]) -> int:
    return n_inj[0] if gamma <= 2.5 else n_inj[1]


def sem(x: np.ndarray) -> float:
    x = np.asarray(x, dtype=float)
    return float(x.std(ddof=1) / np.sqrt(x.size)) if x.size > 1 else float("nan")


def bootstrap_median(x: np.ndarray, rng: np.random.Generator, n_boot: int = 2000
                     ) -> tuple[float, float]:
    x = np.asarray(x, dtype=float)
    if x.size == 0:
        return float("nan"), float("nan")
    boots = np.median(x[rng.integers(0, x.size, (n_boot, x.size))], axis=1)
    return float(np.median(x)), float(boots.std(ddof=1))


def background_release(gen: str, args) -> tuple[str, int]:
    seed = args.seed + (0 if gen == "synthetic" else 50)
    return str(args.base / f"{gen}_background_x{args.scale:g}_seed{seed}"), seed


def prepare_background(gens, args) -> dict[str, str]:
    roots = {}
    for gen in gens:
        root, seed = background_release(gen, args)
        roots[gen] = ensure_release(gen, Path(root), args.scale, [], seed)
        analysis(roots[gen])
    return roots


def seeds_for(part: int, args, k: int) -> list[int]:
    return [args.seed, part, k]


# ----- parts ------------------------------------------------------------------------------
def part_bias(gens, args) -> list[dict]:
    roots = prepare_background(gens, args)
    jobs = [(gen, kind, gamma, dec) for gen in gens for kind in ("model", "irfs")
            for gamma in BIAS_GAMMAS for dec in BIAS_DECS]
    print(f"\n[bias] {len(jobs)} points x {args.trials} injections "
          f"({args.n_inj[0]} events for gamma <= 2.5, {args.n_inj[1]} for gamma >= 3), "
          "RA-scrambled background of the same generator", flush=True)
    with pool(args.workers) as ex:
        futs = [ex.submit(bias_task, roots[gen], gen, kind, dec, gamma,
                          n_injected(gamma, args.n_inj), args.trials, seeds_for(1, args, k))
                for k, (gen, kind, gamma, dec) in enumerate(jobs)]
        rows = []
        for (gen, kind, gamma, dec), fut in zip(jobs, futs, strict=True):
            r = fut.result()
            n = n_injected(gamma, args.n_inj)
            rows.append({
                "generator": gen, "injector": kind, "gamma": gamma, "dec": dec, "n_inj": n,
                "trials": len(r),
                "fixed_ns_bias": float(np.mean(r[:, 0] / n - 1)),
                "fixed_ns_bias_err": sem(r[:, 0] / n),
                "fixed_ts_median": float(np.median(r[:, 1])),
                "free_ns_bias": float(np.mean(r[:, 2] / n - 1)),
                "free_ns_bias_err": sem(r[:, 2] / n),
                "free_gamma_mean": float(np.mean(r[:, 3])),
                "free_gamma_err": sem(r[:, 3]),
                "free_gamma_std": float(np.std(r[:, 3], ddof=1)),
                "free_ts_median": float(np.median(r[:, 4])),
            })
    print("  generator    injector gamma   dec  n | n_s bias (gamma fixed) | n_s bias (free)"
          "  | gamma_hat (free)   scatter")
    for x in rows:
        print(f"  {x['generator']:12s} {x['injector']:8s} {x['gamma']:4.1f} {x['dec']:+5.0f} "
              f"{x['n_inj']:3d} | {x['fixed_ns_bias']:+7.1%} +- {x['fixed_ns_bias_err']:5.1%}"
              f"       | {x['free_ns_bias']:+7.1%} +- {x['free_ns_bias_err']:5.1%} | "
              f"{x['free_gamma_mean']:5.2f} +- {x['free_gamma_err']:.2f}   "
              f"{x['free_gamma_std']:.2f}", flush=True)
    return rows


def ring_sources(k: int, args) -> list[tuple[float, float, float, float]]:
    """(ra, dec, n_events, gamma) of release k: one ring per declination, gamma alternating."""
    step = 360.0 / args.ring
    out = []
    for j, dec in enumerate(RING_DECS):
        for i in range(args.ring):
            gamma = PAIRED_GAMMAS[i % len(PAIRED_GAMMAS)]
            ra = (i * step + 5.0 * j + 2.5 * k) % 360.0
            out.append((ra, dec, float(n_injected(gamma, args.n_inj)), gamma))
    return out


def run_skyllh(root: str, positions: list, timeout: float = 7200.0) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([SKYLLH_PYTHON, "-c", SKYLLH_SCRIPT,
                           json.dumps({"root": root, "positions": positions})],
                          capture_output=True, text=True, timeout=timeout, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"SkyLLH failed on {root}:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def part_paired(gens, args) -> dict:
    skyllh = not args.skip_skyllh and Path(SKYLLH_PYTHON).is_file()
    releases = [(gen, k) for gen in gens for k in range(args.releases)]
    print(f"\n[paired] {len(releases)} releases with {args.ring} sources per ring at dec "
          f"{', '.join(f'{d:+g}' for d in RING_DECS)} (gamma {PAIRED_GAMMAS}), gamma free; "
          f"SkyLLH {'on the same files' if skyllh else 'skipped'}", flush=True)
    specs = {}
    for gen, k in releases:
        seed = 1000 * args.seed + 100 * GENERATORS.index(gen) + k
        root = args.base / f"{gen}_sources_r{args.ring}_n{args.n_inj[0]}-{args.n_inj[1]}_{k}"
        specs[(gen, k)] = (str(root), ring_sources(k, args), seed)
    t = time.perf_counter()
    with pool(args.workers) as ex:
        list(ex.map(release_task, *zip(*[(gen, root, args.scale, src, seed) for (gen, k),
                                         (root, src, seed) in specs.items()], strict=True)))
    print(f"    releases ready ({time.perf_counter() - t:.0f} s)", flush=True)
    from icecube_ps import release
    from icecube_ps.likelihood import PointSourceAnalysis

    per_source = []
    with ThreadPoolExecutor(max_workers=args.workers) as threads:
        sk_futs: dict[tuple, Future] = {}
        if skyllh:
            for key, (root, src, _) in specs.items():
                sk_futs[key] = threads.submit(run_skyllh, root, [[s[0], s[1]] for s in src])
        for key, (root, src, _) in specs.items():
            ana = PointSourceAnalysis(release.open_release(Path(root)))
            ours = [ana.fit(s[0], s[1], None) for s in src]
            sk = None
            if key in sk_futs:
                res = sk_futs[key].result()
                sk = res["fits"]
                print(f"    SkyLLH {key[0]} release {key[1]}: build {res['build_s']:.0f} s, "
                      f"{len(src)} fits, {res['wall_s']:.0f} s", flush=True)
            for i, s in enumerate(src):
                per_source.append({
                    "generator": key[0], "release": key[1], "ra": s[0], "dec": s[1],
                    "n_true": s[2], "gamma_true": s[3],
                    "ours": [float(ours[i].ts), float(ours[i].ns), float(ours[i].gamma)],
                    "skyllh": sk[i] if sk is not None else None})
    rng = np.random.default_rng(args.seed)
    rows = []
    for gen in gens:
        for dec in RING_DECS:
            for gamma in PAIRED_GAMMAS:
                sel = [p for p in per_source if p["generator"] == gen and p["dec"] == dec
                       and p["gamma_true"] == gamma]
                o = np.array([p["ours"] for p in sel])
                row = {"generator": gen, "dec": dec, "gamma": gamma, "sources": len(sel),
                       "n_true": sel[0]["n_true"],
                       "ours_ts_median": float(np.median(o[:, 0])),
                       "ours_ns_mean": float(o[:, 1].mean()), "ours_ns_err": sem(o[:, 1]),
                       "ours_gamma_mean": float(o[:, 2].mean()),
                       "ours_gamma_std": float(o[:, 2].std(ddof=1))}
                if sel[0]["skyllh"] is not None:
                    s = np.array([p["skyllh"] for p in sel])
                    ok = s[:, 0] > 0
                    ratio, err = bootstrap_median(o[ok, 0] / s[ok, 0] - 1.0, rng)
                    row.update({
                        "ts_ratio_median": ratio, "ts_ratio_err": err,
                        "skyllh_ts_median": float(np.median(s[:, 0])),
                        "skyllh_ns_mean": float(s[:, 1].mean()), "skyllh_ns_err": sem(s[:, 1]),
                        "skyllh_gamma_mean": float(s[:, 2].mean()),
                        "skyllh_gamma_std": float(s[:, 2].std(ddof=1))})
                rows.append(row)
    print("  generator      dec gamma   N   n | TS ours/SkyLLH - 1 | n_s ours    SkyLLH"
          "      | gamma ours (sd)  SkyLLH (sd) | median TS ours, SkyLLH")
    for r in rows:
        sk = "ts_ratio_median" in r
        print(f"  {r['generator']:12s} {r['dec']:+6.1f} {r['gamma']:4.1f} {r['sources']:3d} "
              f"{r['n_true']:3.0f} | "
              + (f"{r['ts_ratio_median']:+7.1%} +- {r['ts_ratio_err']:5.1%}" if sk else " " * 18)
              + f" | {r['ours_ns_mean']:5.1f}+-{r['ours_ns_err']:3.1f} "
              + (f"{r['skyllh_ns_mean']:5.1f}+-{r['skyllh_ns_err']:3.1f}" if sk else " " * 11)
              + f" | {r['ours_gamma_mean']:4.2f} ({r['ours_gamma_std']:.2f})   "
              + (f"{r['skyllh_gamma_mean']:4.2f} ({r['skyllh_gamma_std']:.2f})" if sk else "")
              + f" | {r['ours_ts_median']:6.1f}"
              + (f", {r['skyllh_ts_median']:6.1f}" if sk else ""), flush=True)
    return {"rows": rows, "sources": per_source}


def part_coverage(gens, args) -> list[dict]:
    roots = prepare_background(gens, args)
    positions = [p for p in COVERAGE_POSITIONS if args.coverage_at in ("all", p[0])]
    gammas = args.coverage_gammas or COVERAGE_GAMMAS
    n_values = args.coverage_n or COVERAGE_N
    jobs = [(gen, pos, gamma, n) for gen in gens for pos in positions
            for gamma in gammas for n in n_values]
    chunk = 50 if args.limit == "calibrated" else 500
    print(f"\n[coverage] {CONFIDENCE:.0%} {args.limit} upper limit on n_s, gamma fixed, "
          f"Poisson(n) signal from each generator's {args.coverage_truth}, "
          f"{args.coverage_trials} trials per point", flush=True)
    with pool(args.workers) as ex:
        futs = []
        for k, (gen, (_, ra, dec), gamma, n) in enumerate(jobs):
            sizes = [min(chunk, args.coverage_trials - i)
                     for i in range(0, args.coverage_trials, chunk)]
            futs.append([ex.submit(coverage_task, roots[gen], gen, ra, dec, gamma, n, m,
                                   seeds_for(3, args, 1000 * k + j), args.limit,
                                   args.coverage_truth)
                         for j, m in enumerate(sizes)])
        rows = []
        for (gen, (name, ra, dec), gamma, n), fl in zip(jobs, futs, strict=True):
            r = np.concatenate([f.result() for f in fl])
            p = float(np.mean(r[:, 1] >= n))
            rows.append({"generator": gen, "position": name, "ra": ra, "dec": dec,
                         "gamma": gamma, "n_true": n, "limit": args.limit,
                         "truth": args.coverage_truth, "trials": len(r), "coverage": p,
                         "coverage_err": float(np.sqrt(p * (1 - p) / len(r))),
                         "ul_median": float(np.median(r[:, 1]))})
            print(f"    {gen} {name} gamma {gamma:g} n {n:g}: {p:.3f} +- "
                  f"{rows[-1]['coverage_err']:.3f} ({len(r)} trials)", flush=True)
    print("  generator    position       gamma |" + "".join(f"   n = {n:<4.0f}     "
                                                         for n in n_values))
    for gen in gens:
        for name, _, _ in positions:
            for gamma in gammas:
                cells = [r for r in rows if r["generator"] == gen and r["position"] == name
                         and r["gamma"] == gamma]
                print(f"  {gen:12s} {name:14s} {gamma:4.1f} |" + "".join(
                    f" {c['coverage']:.3f}+-{c['coverage_err']:.3f} " for c in cells),
                    flush=True)
    return rows


# ----- main -------------------------------------------------------------------------------
def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer trials and sources: minutes")
    p.add_argument("--parts", default="bias,paired,coverage")
    p.add_argument("--generator", choices=("synthetic", "independent", "both"), default="both")
    p.add_argument("--out", type=Path, default=None,
                   help="JSON results (default: BASE/accuracy[_quick].json)")
    p.add_argument("--base", type=Path, default=Path("/tmp/icecube-accuracy"))
    p.add_argument("--n-inj", default="40,60",
                   help="injected events for gamma <= 2.5 and for gamma >= 3")
    p.add_argument("--trials", type=int, default=None, help="bias: injections per point")
    p.add_argument("--coverage-trials", type=int, default=None)
    p.add_argument("--limit", choices=("profile", "calibrated"), default="profile",
                   help="coverage: the service's profile limit, or its calibrated one "
                        "(threshold from 2 x 300 irf signal trials per limit, ~1 s each)")
    p.add_argument("--coverage-truth", choices=("model", "irfs"), default="model",
                   help="coverage: signal from each generator's model or the release's irfs")
    p.add_argument("--coverage-at", choices=("all", *(p[0] for p in COVERAGE_POSITIONS)),
                   default="all", help="coverage: one position only")
    p.add_argument("--coverage-n", type=lambda t: tuple(float(x) for x in t.split(",")),
                   default=None, help="coverage: true signal counts, e.g. 5,10,25")
    p.add_argument("--coverage-gammas", type=lambda t: tuple(float(x) for x in t.split(",")),
                   default=None, help="coverage: indices, e.g. 2")
    p.add_argument("--releases", type=int, default=None, help="paired: releases per generator")
    p.add_argument("--ring", type=int, default=None, help="paired: sources per declination ring")
    p.add_argument("--scale", type=float, default=1.0, help="events x the real release's")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--skip-skyllh", action="store_true")
    p.add_argument("--workflow", type=Path, default=HERE.parent / "workflows" / "icecube",
                   help="directory holding the icecube_ps package to grade")
    args = p.parse_args()
    sys.path.insert(0, str(args.workflow.resolve()))
    args.n_inj = tuple(int(x) for x in args.n_inj.split(","))
    args.trials = args.trials or (30 if args.quick else 200)
    args.coverage_trials = args.coverage_trials or (200 if args.quick else 2000)
    # 6 sources per ring put ~7% of a sin(dec) row's events in it (24: 28%, a stress test)
    args.releases = args.releases or (1 if args.quick else 20)
    args.ring = args.ring or 6
    args.base.mkdir(parents=True, exist_ok=True)
    out = args.out or args.base / f"accuracy{'_quick' if args.quick else ''}.json"
    gens = GENERATORS if args.generator == "both" else (args.generator,)
    parts = [x.strip() for x in args.parts.split(",") if x.strip()]
    unknown = set(parts) - {"bias", "paired", "coverage"}
    if unknown:
        p.error(f"unknown parts: {', '.join(sorted(unknown))}")
    import icecube_ps
    print(f"icecube_ps from {Path(icecube_ps.__file__).parent}; generators {', '.join(gens)}; "
          f"{'quick' if args.quick else 'full'} mode", flush=True)
    results: dict = {"config": {k: (str(v) if isinstance(v, Path) else v)
                                for k, v in vars(args).items()},
                     "generator_versions": {g: generator_version(g) for g in gens},
                     "wall_s": {}}
    funcs = {"bias": part_bias, "paired": part_paired, "coverage": part_coverage}
    for part in parts:
        t = time.perf_counter()
        results[part] = funcs[part](gens, args)
        results["wall_s"][part] = time.perf_counter() - t
        print(f"[{part}] wall time {results['wall_s'][part]:.0f} s", flush=True)
        out.write_text(json.dumps(results, indent=1))
    print("\nwall time: " + ", ".join(f"{k} {v:.0f} s" for k, v in results["wall_s"].items())
          + f"; results in {out}")


if __name__ == "__main__":
    main()
