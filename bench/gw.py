"""GW services over real HTTP: sky-map lookups and the neutrino follow-up, against the same
computation done pixel by pixel through separate IceCube requests, in the same run.

A real `astroflow serve` (SQLite, 2 workers, sandbox on) serves workflows/gw and
workflows/icecube with a data folder holding IceCube's real 3-year release (fetched once
into the test cache, as the tests do) and the offline GW mirror (synthetic event
GW120618_120000, 90% region 1000 deg2). Measured:

1. the sky map's probability at a position, warm (the map read once; `SkyMap.probability_at`
   per call, median of 2,000 random positions);
2. the follow-up over the 90% region (±500 s, transient likelihood) submit → done over HTTP,
   each request new (the index differs, so no sub-job is a cache hit), at nside 32, 64 and
   128 (how it scales with the region's pixel count), and the whole-release (time-integrated)
   variant at nside 64;
3. the reference: the same per-pixel limits (whole release, profile limits, no background
   trials) from one `icecube` request per pixel, for a sample of pixels, scaled to the
   region's pixel count.

Goals: probability ≤ 50 ms warm; follow-up over 1,000 deg2 ≤ 10 s on 2 cores.

    .venv/bin/python bench/gw.py [--reference-pixels 16]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "workflows" / "gw"))
sys.path.insert(0, str(ROOT / "workflows" / "multi-messenger" / "tests"))
from gw_open import mirror, synthetic  # noqa: E402
from gw_open.skymap import read_sky_map  # noqa: E402
from server_process import ServerProcess  # noqa: E402

API = "/api/v1"
RELEASE_SPAN = ("2008-04-06T00:00:00", "2018-07-10T00:00:00")


def prepare(folder: Path) -> Path:
    from mm_server import icecube_cache, place

    data = folder / "data"
    place([icecube_cache()], data / "icecube" / "3year")
    mirror.build(data / "gw" / "mirror", log=lambda m: None)
    (data / "gw" / "current.json").write_text(json.dumps({"mode": "mirror", "path": "mirror"}))
    services = folder / "services"
    services.mkdir()
    for name in ("icecube", "gw"):
        (services / name).symlink_to(ROOT / "workflows" / name)
    return data


def run(http: httpx.Client, service: str, parameters: dict) -> tuple[float, dict]:
    t0 = time.perf_counter()
    job = http.post(f"{API}/services/{service}/jobs", json={"parameters": parameters}).json()
    while job["state"] not in ("done", "failed", "cancelled"):
        job = http.get(f"{API}/jobs/{job['id']}", params={"wait": 30}).json()
    elapsed = time.perf_counter() - t0
    if job["state"] != "done":
        raise SystemExit(f"{service} {parameters}: {job['state']} {job.get('error')}")
    return elapsed, job


def table(http: httpx.Client, job: dict, name: str):
    from astropy.table import Table

    text = http.get(f"{API}/jobs/{job['id']}/products/{name}", params={"format": "ecsv"}).text
    return Table.read(text, format="ascii.ecsv")


def probability_timing(sky_path: Path) -> tuple[float, float]:
    sky = read_sky_map(sky_path)
    rng = np.random.default_rng(1)
    ra, dec = rng.uniform(0, 360, 2000), np.degrees(np.arcsin(rng.uniform(-1, 1, 2000)))
    sky.probability_at(150.0, 25.0)
    times = []
    for a, d in zip(ra, dec, strict=True):
        t0 = time.perf_counter()
        sky.probability_at(a, d)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3, max(times) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reference-pixels", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-gw-") as tmp:
        data = prepare(Path(tmp))
        sky_path = next((data / "gw" / "mirror").rglob("*.fits*"))
        median_ms, worst_ms = probability_timing(sky_path)
        print(f"sky-map probability at a position, warm: median {median_ms:.3f} ms, "
              f"max {worst_ms:.3f} ms over 2000 positions (goal <= 50 ms)")
        with ServerProcess(data, services=[Path(tmp) / "services"], workers=2).running() as srv, \
                httpx.Client(base_url=srv.url, timeout=300) as http:
            run(http, "icecube-region", {"pixels": "1"})          # warm both parents
            seconds, _ = run(http, "gw-neutrino-followup", {"event": synthetic.NAME,
                                                            "index": 2.5})
            print(f"first follow-up (the GW parent imports ligo.skymap): {seconds:.2f} s")
            rows = []
            for k, (nside, window) in enumerate([(32, 500.0), (64, 500.0), (128, 500.0),
                                                 (64, 0.0)]):
                index = 2.0 + 0.01 * (k + 1)                      # new sub-jobs every time
                seconds, job = run(http, "gw-neutrino-followup", {
                    "event": synthetic.NAME, "nside": nside, "time_window": window,
                    "index": index})
                summary = table(http, job, "summary")[0]
                rows.append((nside, window, int(summary["n_pixels"]), seconds))
                span = f"±{window:g} s" if window else "release"
                print(f"follow-up nside {nside:4d} window {span}"
                      f": {summary['n_pixels']:5d} pixels ({summary['area_deg2']:.0f} deg2) "
                      f"in {seconds:.2f} s ({1e3 * seconds / summary['n_pixels']:.2f} ms/pixel)")
            whole = next(r for r in rows if r[0] == 64 and r[1] == 0.0)
            # reference: one icecube request per pixel (whole release), a sample of pixels
            _, job = run(http, "gw-neutrino-followup", {"event": synthetic.NAME,
                                                        "time_window": 0.0, "index": 2.04})
            pixels = table(http, job, "pixel_limits")
            pick = np.linspace(0, len(pixels) - 1, args.reference_pixels).astype(int)
            times, agree = [], 0
            for i in pick:
                row = pixels[int(i)]
                seconds, direct = run(http, "icecube", {
                    "RA": float(row["ra"]), "DEC": float(row["dec"]), "T1": RELEASE_SPAN[0],
                    "T2": RELEASE_SPAN[1], "index": 2.04, "upper_limit_method": "profile",
                    "background_trials": 0})
                times.append(seconds)
                s = table(http, direct, "summary")[0]
                agree += bool(np.isclose(float(s["flux_upper_limit"]), float(row["flux_ul"]),
                                         rtol=1e-6))
            per = statistics.median(times)
            reference = per * whole[2] / 2.0                     # two workers in parallel
            print(f"reference: {len(pick)} icecube requests, median {per:.2f} s each; the "
                  f"region's {whole[2]} pixels on 2 workers: {reference:.0f} s; "
                  f"{agree}/{len(pick)} limits identical to the follow-up's")
            print(f"ratio (reference / follow-up, whole release, nside 64): "
                  f"{reference / whole[3]:.0f}x")


if __name__ == "__main__":
    main()
