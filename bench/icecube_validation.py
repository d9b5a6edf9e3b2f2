"""Statistical validation of the IceCube point-source likelihood, with SkyLLH 26.1 alongside.

Usage: OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python bench/icecube_validation.py [--quick]

A. Injection-recovery on files: full-size synthetic releases (10-year layout, 1.13 M
   events) each holding 18 sources of 40 events (E^-2) at the declination of TXS 0506+056,
   drawn from the continuous detector model whose true PSF is wider than AngErr. Each
   source is fitted (gamma free) by this module (with and without its PSF correction) and
   by SkyLLH (same files, its own venv, `change_source` at the same declination: exact).
   Between the sources, background-only positions compare TS, n_s and gamma.
B. Background TS distribution at fixed gamma = 2 (and free), RA-scrambled trials.
C. Upper-limit coverage, >= 500 trials per true n_s: profile likelihood and Neyman belt.
D. Background TS versus exposure: background-only releases of 1, 4 and 16 times the
   events (`--scales`), gamma = 2 and 3, and spatial only. P(TS = 0) is P(score at
   n_s = 0 <= 0): it is printed with the mean / sd and the skewness of that score; the
   service takes its p-values from trials, not from the asymptotic law.
E. Near the selection boundary (dec = -5 deg, where the event density and spectrum jump):
   the score at n_s = 0 of RA-scrambled trials, mean / sd, at declinations -10 ... 0 deg
   (0 for a background model that follows the data), with the zero fraction and tail.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "workflows" / "icecube"))
sys.path.insert(0, str(HERE))

from icecube_speed import run_json  # noqa: E402
from skyllh_reference import DATASETS, SKYLLH_PYTHON  # noqa: E402

DEC = 5.693
SOURCE_RA = np.arange(10.0, 360.0, 20.0)   # 18 sources, 20 deg apart
BACKGROUND_RA = SOURCE_RA + 10.0           # midway between them
CLEAN = (150.0, 30.0)  # trials here: no injected source within the scrambled band

SKYLLH_FITS = DATASETS + r"""
pos = args["positions"]
ana = create_analysis(cfg=cfg, datasets=datasets,
                      source=PointLikeSource(ra=np.deg2rad(pos[0][0]), dec=np.deg2rad(pos[0][1])))
rss = RandomStateService(1)
out = []
for k, (ra, dec) in enumerate(pos):
    if k:
        ana.change_source(PointLikeSource(ra=np.deg2rad(ra), dec=np.deg2rad(dec)))
    ts, p, _ = ana.unblind(rss)
    out.append([float(ts), float(p["ns"]), float(p["gamma"])])
trials = []
if args["n_trials"]:
    ra, dec = args["trial_position"]
    ana.change_source(PointLikeSource(ra=np.deg2rad(ra), dec=np.deg2rad(dec)))
    tr = ana.do_trials(rss, n=args["n_trials"], mean_n_sig=0, ncpu=1)
    trials = np.asarray(tr["ts"], dtype=float).tolist()
print(json.dumps({"fits": out, "bg_ts": trials}))
"""


def make_release(root: Path, seed: int):
    from icecube_ps import release, synthetic

    if not (root / release.CACHE_NAME).is_file():
        sources = tuple(synthetic.Source(float(ra), DEC, 40, 2.0) for ra in SOURCE_RA)
        synthetic.generate(root, scale=1.0, sources=sources, seed=seed)
    return release.open_release(root, "synthetic")


def summarise(label: str, values: np.ndarray) -> str:
    return (f"{label}: n_s = {values[:, 1].mean():6.2f} +- "
            f"{values[:, 1].std(ddof=1) / np.sqrt(len(values)):.2f}, "
            f"gamma = {values[:, 2].mean():5.3f} +- "
            f"{values[:, 2].std(ddof=1) / np.sqrt(len(values)):.3f}  ({len(values)} sources)")


def part_a(base: Path, seeds: list[int], skyllh: bool, bg_trials_skyllh: int) -> dict:
    from icecube_ps.likelihood import PointSourceAnalysis

    ours, ours_nopsf, sk, ours_bg, sk_bg, sk_trials = [], [], [], [], [], []
    for seed in seeds:
        root = base / f"icecube_validation_{seed}"
        t = time.perf_counter()
        rel = make_release(root, seed)
        print(f"[A] release seed {seed}: {rel.n_events} events "
              f"({time.perf_counter() - t:.0f} s)", flush=True)
        for psf, store in ((True, ours), (False, ours_nopsf)):
            ana = PointSourceAnalysis(rel, psf_correction=psf)
            for ra in SOURCE_RA:
                r = ana.fit(float(ra), DEC, None)
                store.append((r.ts, r.ns, r.gamma))
            if psf:
                for ra in BACKGROUND_RA:
                    r = ana.fit(float(ra), DEC, None)
                    ours_bg.append((r.ts, r.ns, r.gamma))
        if skyllh:
            pos = [[float(ra), DEC] for ra in np.concatenate([SOURCE_RA, BACKGROUND_RA])]
            t = time.perf_counter()
            out = run_json([SKYLLH_PYTHON, "-c", SKYLLH_FITS,
                            json.dumps({"root": str(root), "positions": pos,
                                        "trial_position": CLEAN,
                                        "n_trials": bg_trials_skyllh if seed == seeds[0] else 0})],
                           3600)
            print(f"[A] SkyLLH on seed {seed}: {time.perf_counter() - t:.0f} s", flush=True)
            sk.extend(out["fits"][: len(SOURCE_RA)])
            sk_bg.extend(out["fits"][len(SOURCE_RA):])
            sk_trials.extend(out["bg_ts"])
    ours_a, nopsf_a = np.array(ours), np.array(ours_nopsf)
    print("\n[A] injection-recovery, 40 events E^-2 at dec 5.693 (truth n_s = 40, gamma = 2):")
    print("   ", summarise("ours (PSF correction)   ", ours_a))
    print("   ", summarise("ours (no PSF correction)", nopsf_a))
    if sk:
        sk_a = np.array(sk)
        print("   ", summarise("SkyLLH 26.1             ", sk_a))
        for label, mine in (("ours", ours_a), ("ours without PSF correction", nopsf_a)):
            rel_diff = np.abs(mine - sk_a) / np.maximum(np.abs(sk_a), 1e-9)
            d = mine - sk_a
            sem = d.std(axis=0, ddof=1) / np.sqrt(len(d))
            print(f"    {label} vs SkyLLH, same sources: median |rel. diff| TS "
                  f"{np.median(rel_diff[:, 0]):.1%}, n_s {np.median(rel_diff[:, 1]):.1%}, gamma "
                  f"{np.median(rel_diff[:, 2]):.1%}; mean diff n_s {d[:, 1].mean():+.2f} +- "
                  f"{sem[1]:.2f}, gamma {d[:, 2].mean():+.3f} +- {sem[2]:.3f}, TS "
                  f"{d[:, 0].mean():+.1f} +- {sem[0]:.1f}")
        nb, sb = np.array(ours_bg), np.array(sk_bg)
        print(f"    background positions ({len(nb)}): mean TS ours {nb[:, 0].mean():.2f} vs SkyLLH "
              f"{sb[:, 0].mean():.2f}; mean n_s ours {nb[:, 1].mean():.2f} vs {sb[:, 1].mean():.2f};"
              f" median |dTS| {np.median(np.abs(nb[:, 0] - sb[:, 0])):.2f}")
    return {"sk_trials": np.array(sk_trials)}


def part_b(rel, n_trials: int, sk_trials: np.ndarray) -> None:
    from icecube_ps.likelihood import PointSourceAnalysis
    from scipy import stats

    print(f"\n[B] background TS at {CLEAN}, {n_trials} scrambled trials:")
    rng = np.random.default_rng(7)
    for label, kwargs, gamma in (("energy + spatial, gamma = 2", {}, 2.0),
                                 ("spatial only,     gamma = 2", {"energy": False}, 2.0),
                                 ("energy + spatial, gamma free", {}, None)):
        ana = PointSourceAnalysis(rel, **kwargs)
        ts = np.array([ana.trial(*CLEAN, rng, gamma).ts for _ in range(n_trials)])
        pos = ts[ts > 0]
        dof = 1 if gamma is not None else 2
        ks = stats.kstest(pos, "chi2", args=(dof,)).pvalue if pos.size > 5 else float("nan")
        print(f"    {label}: zero fraction {np.mean(ts == 0):.3f} (1/2 expected), "
              f"mean TS|TS>0 {pos.mean():.3f} ({dof} expected), KS p vs chi2_{dof} {ks:.3f}, "
              f"P(TS > 2.71) {np.mean(ts > 2.71):.4f} ({0.5 * stats.chi2.sf(2.71, dof):.3f} "
              f"expected), P(TS > 6.63) {np.mean(ts > 6.63):.4f} "
              f"({0.5 * stats.chi2.sf(6.63, dof):.4f} expected)")
    if sk_trials.size:
        pos = sk_trials[sk_trials > 0]
        print(f"    SkyLLH, gamma free ({sk_trials.size} trials): zero fraction "
              f"{np.mean(sk_trials == 0):.3f}, mean TS|TS>0 {pos.mean():.3f}")


def part_c(rel, n_trials: int) -> None:
    from icecube_ps import limits
    from icecube_ps.likelihood import PointSourceAnalysis
    from icecube_ps.synthetic import ContinuousInjector

    ana = PointSourceAnalysis(rel)
    ra, dec = CLEAN
    rng = np.random.default_rng(9)
    truth = ContinuousInjector(ra, dec, 2.0, tuple(s.name for s in ana.seasons),
                               tuple(s.livetime_days for s in ana.seasons))
    print(f"\n[C] 90% upper-limit coverage at ({ra:.0f}, {dec}), gamma = 2, Poisson(n_s) signal, "
          f"{n_trials} trials per point (binomial error {np.sqrt(0.09 / n_trials):.3f}):")
    t = time.perf_counter()
    belt = limits.NeymanBelt.build(ana, ra, dec, 2.0, 40.0, n_trials=500, n_grid=20, rng=rng)
    print(f"    Neyman belt (irf injection): {belt.cost['fits']} fits, "
          f"{time.perf_counter() - t:.1f} s")
    for label, injector in (("signal from the irfs       ", None),
                            ("signal from the true model ", truth)):
        for n_true in (3.0, 10.0, 25.0):
            prof, wilks, ney, ns = [], [], [], []
            for _ in range(n_trials):
                sel = ana.scrambled_selection(ra, dec, rng, inject=int(rng.poisson(n_true)),
                                              injector=injector)
                fit = ana.fit_selection(sel, dec, 2.0)
                ns.append(fit.ns)
                prof.append(limits.ns_upper_limit(ana, sel, dec, 2.0, 0.9) >= n_true)
                wilks.append(limits.ns_upper_limit(ana, sel, dec, 2.0, 0.9,
                                                   conservative_boundary=False) >= n_true)
                ney.append(belt.upper_limit(fit.ts, 0.9) >= n_true)
            print(f"    {label} n_s = {n_true:4.0f}: profile likelihood {np.mean(prof):.3f} "
                  f"(Wilks threshold only: {np.mean(wilks):.3f}), Neyman {np.mean(ney):.3f}; "
                  f"mean n_s_hat {np.mean(ns):.2f}")


def score_and_ts(ana, ra: float, dec: float, gamma: float, n_trials: int,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Over RA-scrambled trials: d log L / d n_s at n_s = 0 (the score) and the TS."""
    yields = ana.season_yields(dec)
    score, ts = np.empty(n_trials), np.empty(n_trials)
    for k in range(n_trials):
        sel = ana.scrambled_selection(ra, dec, rng)
        a, rest, c = ana.terms(sel, yields, gamma)
        score[k] = a.sum() - (rest * c).sum()
        ts[k] = ana.fit_selection(sel, dec, gamma).ts
    return score, ts


def part_d(base: Path, scales: list[float], n_trials: int) -> None:
    from icecube_ps import release, synthetic
    from icecube_ps.likelihood import PointSourceAnalysis
    from scipy import stats

    ra, dec = CLEAN
    print(f"\n[D] background TS versus exposure at {CLEAN}, {n_trials} trials per line; "
          "score = d log L / d n_s at n_s = 0:")
    for scale in scales:
        root = base / f"icecube_background_x{scale:g}"
        t = time.perf_counter()
        if not (root / release.CACHE_NAME).is_file():
            synthetic.generate(root, scale=scale, seed=700 + int(scale))
        rel = release.open_release(root, "synthetic")
        print(f"    x{scale:g}: {rel.n_events} events ({time.perf_counter() - t:.0f} s)",
              flush=True)
        variants = [("spatial + energy", {}, (2.0, 3.0)),
                    ("spatial only", {"energy": False}, (2.0,))]
        for label, kwargs, gammas in variants:
            ana = PointSourceAnalysis(rel, **kwargs)
            for gamma in gammas:
                score, ts = score_and_ts(ana, ra, dec, gamma, n_trials,
                                         np.random.default_rng(17))
                pos = ts[ts > 0]
                ks = stats.kstest(pos, "chi2", args=(1,)).pvalue
                print(f"    x{scale:<3g} {label:20s} gamma {gamma:.0f}: zeros {np.mean(ts == 0):.3f}"
                      f" (score: skew {stats.skew(score):5.2f}, mean/sd "
                      f"{score.mean() / score.std():+.3f}), mean TS|TS>0 {pos.mean():.3f}, "
                      f"KS vs chi2_1 {ks:.3f}, P(TS > 2.71) {np.mean(ts > 2.71):.4f}, "
                      f"P(TS > 6.63) {np.mean(ts > 6.63):.4f}", flush=True)


def part_e(rel, n_trials: int) -> None:
    from icecube_ps.likelihood import PointSourceAnalysis

    print(f"\n[E] score at n_s = 0 near the selection boundary, RA = 200 deg, {n_trials} "
          "trials per declination (mean / sd: 0 expected):")
    decs = (-10.0, -7.0, -6.0, -5.0, -4.0, -3.0, -2.0, 0.0, 30.0)
    for label, kwargs, gamma in (("energy + spatial, gamma = 2", {}, 2.0),
                                 ("energy + spatial, gamma = 3", {}, 3.0),
                                 ("spatial only,     gamma = 2", {"energy": False}, 2.0)):
        ana = PointSourceAnalysis(rel, **kwargs)
        cols = []
        for dec in decs:
            score, ts = score_and_ts(ana, 200.0, dec, gamma, n_trials,
                                     np.random.default_rng(1))
            cols.append(f"{dec:+.0f}: {score.mean() / score.std():+.2f} "
                        f"({np.mean(ts == 0):.2f}, {np.mean(ts > 2.71):.3f})")
        print(f"    {label}, dec: mean/sd (zeros, P(TS > 2.71))\n        "
              + "\n        ".join(cols), flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base", type=Path, default=Path("/tmp/icecube-bench"))
    p.add_argument("--quick", action="store_true", help="one release, fewer trials")
    p.add_argument("--skip-skyllh", action="store_true")
    p.add_argument("--parts", default="ABC", help="which parts to run, e.g. B, BC, D or E")
    p.add_argument("--scales", default="1,4,16", help="exposures of part D, e.g. 1,4")
    p.add_argument("--seed", type=int, default=None,
                   help="release of parts B and C (default: the first of part A's)")
    args = p.parse_args()
    seeds = [101] if args.quick else [101, 202, 303, 404]
    skyllh = not args.skip_skyllh and Path(SKYLLH_PYTHON).is_file()
    a = {"sk_trials": np.zeros(0)}
    if "A" in args.parts:
        a = part_a(args.base, seeds, skyllh, 100 if args.quick else 300)
    if "D" in args.parts:
        part_d(args.base, [float(x) for x in args.scales.split(",")],
               1000 if args.quick else 3000)
    if not set("BCE") & set(args.parts):
        return
    seed = seeds[0] if args.seed is None else args.seed
    rel = make_release(args.base / f"icecube_validation_{seed}", seed)
    print(f"\nparts B, C: release seed {seed} ({rel.n_events} events)")
    if "B" in args.parts:
        part_b(rel, 1000 if args.quick else 5000, a["sk_trials"])
    if "C" in args.parts:
        part_c(rel, 200 if args.quick else 500)
    if "E" in args.parts:
        part_e(rel, 100 if args.quick else 300)


if __name__ == "__main__":
    main()
