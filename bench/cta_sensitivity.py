"""CTAO observation planning: the figures quoted in workflows/cta/README.md.

1. the parametrisation's coefficients refitted from prod5 South (``--fit``);
2. the service's differential sensitivity against the independent numpy/scipy calculation
   (workflows/cta/tests/cta_reference.py) per energy bin, for the parametrised IRFs and for
   prod5 North and South, 0.5 h and 50 h;
3. a Crab-like source's significance and livetime to 5 sigma per site and IRF set, and the
   1/flux^2 scaling of the livetime for a faint source;
4. a request's time through ``astroflow.Workflow.run`` (cold: first run in a fresh job
   process; warm: the next ones).

    .venv/bin/python bench/cta_sensitivity.py [--prod5 /work/shared/data/cta-prod5-irf] [--fit]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord

ROOT = Path(__file__).resolve().parents[1]
REPO = ROOT / "workflows" / "cta"
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))
from cta_plan import irfs, plan  # noqa: E402
from cta_reference import IRFArrays, independent_sensitivity  # noqa: E402

CRAB_LIKE = {"model_source": "log_parabola", "amplitude": 3.85e-11, "index": 2.51,
             "beta": 0.104}


def fit_parametrisation(prod5: Path) -> None:
    from gammapy.irf import load_irf_dict_from_file

    raw = load_irf_dict_from_file(prod5 / irfs.PROD5_FILES["South"])
    offset = 0.5 * u.deg
    bkg = raw["bkg"].to_2d()
    energy = bkg.axes["energy"].center
    x = np.log10(energy.to_value(u.TeV))
    rate = bkg.evaluate(energy=energy, offset=offset).to_value("MeV-1 s-1 sr-1")
    ok = (energy > 0.1 * u.TeV) & (energy < 150 * u.TeV)
    c = np.polyfit(x[ok], np.log10(rate[ok]), 2)
    print("background log10 R (MeV-1 s-1 sr-1), 0.1-150 TeV:", np.round(c, 4),
          "ratio fit/table:", np.round(10 ** np.polyval(c, x[ok]) / rate[ok], 2))
    e = np.geomspace(0.03, 150, 25) * u.TeV
    xe = np.log10(e.value)
    r68 = raw["psf"].containment_radius(fraction=0.68, energy_true=e, offset=offset)
    c = np.polyfit(xe, np.log10(r68.to_value(u.deg)), 3)
    print("PSF log10 r68 (deg), 0.03-150 TeV:", np.round(c, 4), "max |ratio-1|:",
          round(float(np.max(np.abs(10 ** np.polyval(c, xe) / r68.value - 1))), 3))
    migra = raw["edisp"].axes["migra"].center
    width = []
    for ei in e:
        p = raw["edisp"].evaluate(energy_true=ei, migra=migra, offset=offset).value
        cdf = np.cumsum(p) / np.sum(p)
        width.append((np.interp(0.84, cdf, migra) - np.interp(0.16, cdf, migra)) / 2)
    c = np.polyfit(xe, width, 2)
    print("edisp half 16-84% width, 0.03-150 TeV:", np.round(c, 4), "max |residual|:",
          round(float(np.max(np.abs(np.polyval(c, xe) - width))), 3))


def sensitivity_check(data_root: Path, prod5: Path | None) -> None:
    from gammapy.irf import load_irf_dict_from_file

    cases = [("South", "parametrised", 0.5), ("South", "parametrised", 50.0)]
    if prod5 is not None:
        cases += [(s, "prod5", t) for s in ("South", "North") for t in (0.5, 50.0)]
    print("\nsensitivity: service / independent, per bin (E >= 40 GeV for prod5)")
    for site, choice, hours in cases:
        dec = -20.0 if site == "South" else 20.0
        result = plan.run(plan.Request("check", SkyCoord(83.63, dec, unit="deg"), site, 20.0,
                                       hours * u.h, "power_law", 1e-11, 2.0, irfs=choice))
        table = result.sensitivity
        if choice == "prod5":
            table = table[table["energy"].to_value("TeV") >= 0.04]
            raw = IRFArrays(load_irf_dict_from_file(prod5 / irfs.PROD5_FILES[site]), True)
        else:
            raw = IRFArrays(irfs.parametrised(), False)
        edges = np.append(table["energy_min"].to_value("TeV"), table["energy_max"][-1].value)
        ratio = table["e2dnde"].to_value("erg cm-2 s-1") / independent_sensitivity(
            raw, edges, hours)
        at = {e: float(np.interp(np.log(e), np.log(table["energy"].value),
                                 table["e2dnde"].value)) for e in (0.1, 1.0, 10.0)}
        crit = {k: int(np.sum(table["criterion"] == k)) for k in ("significance", "gamma",
                                                                   "bkg")}
        print(f"  {site:5} {choice:12} {hours:5g} h: {len(table)} bins, ratio "
              f"{ratio.min():.3f}-{ratio.max():.3f} (max |r-1| {np.max(np.abs(ratio - 1)):.3f}); "
              f"E2dN/dE at 0.1/1/10 TeV {at[0.1]:.2e} {at[1.0]:.2e} {at[10.0]:.2e} "
              f"erg cm-2 s-1; criteria {crit}")


def crab_and_scaling(prod5: Path | None) -> None:
    print("\nCrab-like log-parabola, 0.5 h, 20 deg (South at Dec -25, North at the Crab):")
    for site, dec in (("South", -25.0), ("North", 22.0145)):
        for choice in ("parametrised", "prod5") if prod5 is not None else ("parametrised",):
            r = plan.run(plan.Request("crab-like", SkyCoord(83.633, dec, unit="deg"), site, 20.0,
                                      0.5 * u.h, irfs=choice, **CRAB_LIKE))
            s, b = r.signal[r.in_range].sum(), r.background[r.in_range].sum()
            print(f"  {site:5} {choice:12} signal {s:9.1f} background {b:8.1f} "
                  f"significance {r.significance:6.1f} sigma, 5 sigma in "
                  f"{r.livetime_5sigma * 60:.3f} min")
    print("\nlivetime to 5 sigma against flux (power law index 2.5, South, parametrised):")
    previous = None
    for amplitude in (1e-14, 2e-14, 4e-14, 1e-13, 1e-12):
        r = plan.run(plan.Request("faint", SkyCoord(83.633, -25.0, unit="deg"), "South", 20.0,
                                  1 * u.h, "power_law", amplitude, 2.5, irfs="parametrised"))
        s, b = r.signal[r.in_range].sum(), r.background[r.in_range].sum()
        ratio = "" if previous is None else f" (previous/this {previous / r.livetime_5sigma:.3f})"
        print(f"  amplitude {amplitude:.0e}: s/b {s / b:.4f}, t5 {r.livetime_5sigma:.4g} h{ratio}")
        previous = r.livetime_5sigma


def workflow_timing(data_root: Path, runs: int) -> None:
    from astroflow import Workflow

    wf = Workflow.from_path(REPO / "cta_observation_plan.py")
    print(f"\nWorkflow.run (ASTROFLOW_DATA_DIR={data_root}):")
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(runs):
            start = time.perf_counter()
            result = wf.run({"site": "North", "livetime": 0.5, **CRAB_LIKE},
                            job_dir=Path(tmp) / f"run{i}", time_limit=300,
                            env={"ASTROFLOW_DATA_DIR": str(data_root)})
            label = "cold" if i == 0 else "warm"
            print(f"  run {i} ({label}): {result.status} in {time.perf_counter() - start:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prod5", type=Path, default=Path("/work/shared/data/cta-prod5-irf"))
    parser.add_argument("--fit", action="store_true", help="refit the parametrisation")
    parser.add_argument("--runs", type=int, default=3, help="Workflow.run repetitions")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    prod5 = args.prod5 if all((args.prod5 / f).is_file()
                              for f in irfs.PROD5_FILES.values()) else None
    if prod5 is None:
        print(f"prod5 files absent from {args.prod5}: parametrised IRFs only")
    with tempfile.TemporaryDirectory() as tmp:
        empty, full = Path(tmp) / "empty", Path(tmp) / "prod5"
        (empty / "cta").mkdir(parents=True)
        (full / "cta").mkdir(parents=True)
        if prod5 is not None:
            for name in irfs.PROD5_FILES.values():
                shutil.copyfile(prod5 / name, full / "cta" / name)
        if args.fit and prod5 is not None:
            fit_parametrisation(prod5)
        os.environ["ASTROFLOW_DATA_DIR"] = str(full if prod5 is not None else empty)
        sensitivity_check(full, prod5)
        crab_and_scaling(prod5)
        workflow_timing(empty, args.runs)
        if prod5 is not None:
            workflow_timing(full, args.runs)


if __name__ == "__main__":
    main()
