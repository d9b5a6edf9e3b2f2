"""H.E.S.S. services over real HTTP against gammapy's own tutorial-style analysis, same run.

A real `astroflow serve` (SQLite, 2 workers, sandbox on) serves workflows/hess with a data
folder holding the release (the real H.E.S.S. DL3 DR1 when a copy is given or found, else the
synthetic release, generated once). Measured, submit → done over HTTP:

1. spectrum of 10 observations (the ones pointed closest to the target): the first request
   (reduces every observation and fills the workflow's cache), then warm requests that
   differ (number of flux points) so none is a job-cache hit, but all reuse the reduced
   observations and the warm parent that imported gammapy;
2. the 2°×2° significance map (0.02° pixels, ring background) likewise, the warm requests
   differing in the correlation radius;
3. the reference: gammapy's tutorial chain in this process (bench/iact_reference.py:
   DataStore → SpectrumDatasetMaker → ReflectedRegions → Fit → FluxPointsEstimator, and
   MapDatasetMaker → FoVBackgroundMaker → RingBackgroundMaker → ExcessMapEstimator) on the
   same observations, gammapy already imported (what a notebook pays per request).

Medians and ratios are printed; goals: spectrum ≤ 2 s warm, map ≤ 2 s warm.

    .venv/bin/python bench/iact.py [--dr1 PATH] [--requests 5]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
HESS = ROOT / "workflows" / "hess"
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(HESS))
sys.path.insert(0, str(ROOT / "bench"))
from server_process import ServerProcess  # noqa: E402

API = "/api/v1"
DR1_COPIES = (Path("/work/shared/data/hess-dl3-dr1"), ROOT.parent / "shared/data/hess-dl3-dr1")
# (name, RA, Dec) of the spectrum target per release: the field with ≥ 10 observations.
TARGETS = {"dr1": ("PKS 2155-304", 329.71694, -30.2256),
           "synthetic": ("pks2155", 329.717, -30.2256)}
MAP_TARGETS = {"dr1": ("Crab Nebula", 83.633, 22.0145), "synthetic": ("crab", 83.633, 22.0145)}


def prepare(folder: Path, dr1: Path | None) -> tuple[Path, str]:
    """A server data folder whose hess/ holds the release (copied: runs read only there)."""
    from hess_dl3.data import fetch_synthetic, write_current

    hess = folder / "data" / "hess"
    if dr1 is not None:
        shutil.copytree(dr1, hess / "dr1")
        write_current(hess, "dr1")
        return folder / "data", "dr1"
    fetch_synthetic(hess, log=lambda _m: None)
    write_current(hess, "synthetic", seed=0)
    return folder / "data", "synthetic"


def request(client: httpx.Client, service: str, parameters: dict) -> tuple[float, dict]:
    t0 = time.perf_counter()
    job = client.post(f"{API}/services/{service}/jobs", json={"parameters": parameters}).json()
    while job["state"] not in ("done", "failed", "cancelled"):
        job = client.get(f"{API}/jobs/{job['id']}", params={"wait": 30}).json()
    elapsed = time.perf_counter() - t0
    if job["state"] != "done":
        raise SystemExit(f"{service} {parameters}: {job['state']} {job.get('error')}")
    return elapsed, job


def served(data: Path, release: str, requests: int) -> dict[str, list[float]]:
    services = data.parent / "services"
    services.mkdir()
    (services / "hess").symlink_to(HESS)
    times: dict[str, list[float]] = {}
    with ServerProcess(data, services=[services], workers=2).running() as server, \
            httpx.Client(base_url=server.url, timeout=600) as client:
        name, ra, dec = TARGETS[release]
        base = {"src_name": name, "RA": ra, "DEC": dec, "max_observations": 10}
        times["spectrum cold"] = [request(client, "hess-spectrum", {**base, "n_bins": 12})[0]]
        times["spectrum warm"] = [request(client, "hess-spectrum", {**base, "n_bins": 4 + i})[0]
                                  for i in range(requests)]
        name, ra, dec = MAP_TARGETS[release]
        base = {"src_name": name, "RA": ra, "DEC": dec, "map_width": 2.0, "pixel_size": 0.02}
        times["map cold"] = [request(client, "hess-sky-map",
                                     {**base, "correlation_radius": 0.12})[0]]
        times["map warm"] = [request(client, "hess-sky-map",
                                     {**base, "correlation_radius": 0.1 - 0.01 * i})[0]
                             for i in range(requests)]
    return times


def reference(release_dir: Path, release: str, requests: int) -> dict[str, list[float]]:
    import astropy.units as u
    import iact_reference
    from astropy.coordinates import SkyCoord
    from hess_dl3.selection import select_observations

    times: dict[str, list[float]] = {}
    name, ra, dec = TARGETS[release]
    position = SkyCoord(ra, dec, unit="deg")
    obs_ids = select_observations(release_dir, position, max_observations=10).obs_ids
    runs = []
    for _ in range(max(1, requests // 2)):
        t0 = time.perf_counter()
        fit = iact_reference.spectrum(str(release_dir), obs_ids, position)
        runs.append(time.perf_counter() - t0)
    times["spectrum"] = runs
    print(f"reference spectrum of {name} ({len(obs_ids)} observations): index "
          f"{fit['index']:.3f} ± {fit['index_err']:.3f}, amplitude {fit['amplitude']:.3e}")
    name, ra, dec = MAP_TARGETS[release]
    position = SkyCoord(ra, dec, unit="deg")
    obs_ids = select_observations(release_dir, position, max_offset=2.0 * u.deg).obs_ids
    runs = []
    for _ in range(max(1, requests // 2)):
        t0 = time.perf_counter()
        result = iact_reference.significance_map(str(release_dir), obs_ids, position)
        runs.append(time.perf_counter() - t0)
    times["map"] = runs
    print(f"reference map of {name} ({len(obs_ids)} observations): peak "
          f"{result['max_significance']:.1f} sigma")
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dr1", type=Path, default=next((p for p in DR1_COPIES
                                                          if (p / "obs-index.fits.gz").is_file()),
                                                         None),
                        help="a copy of H.E.S.S. DL3 DR1 (default: ../shared's, else synthetic)")
    parser.add_argument("--synthetic", action="store_true", help="use the synthetic release")
    parser.add_argument("--requests", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="iact-bench-") as tmp:
        data, release = prepare(Path(tmp), None if args.synthetic else args.dr1)
        print(f"release: {release} ({data / 'hess' / release})")
        ours = served(data, release, args.requests)
        theirs = reference(data / "hess" / release, release, args.requests)
    med = {k: statistics.median(v) for k, v in ours.items()}
    ref = {k: statistics.median(v) for k, v in theirs.items()}
    print(f"\n{'':34s}{'astroflow':>12s}{'gammapy':>12s}{'ratio':>9s}")
    for what, key in (("spectrum, 10 observations", "spectrum"), ("2x2 deg significance map",
                                                                   "map")):
        for state in ("cold", "warm"):
            ours_s = med[f"{key} {state}"]
            print(f"{what + ', ' + state:34s}{ours_s:11.2f}s{ref[key]:11.2f}s"
                  f"{ref[key] / ours_s:8.1f}x")
    print("\nall requests (s):", {k: [round(x, 2) for x in v] for k, v in ours.items()})
    print("reference runs (s):", {k: [round(x, 2) for x in v] for k, v in theirs.items()})


if __name__ == "__main__":
    main()
