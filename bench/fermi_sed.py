"""Fermi-LAT and the multi-messenger SED: catalogue load, cone search, SED request, each
beside straightforward gammapy/astropy code doing the same in the same run.

1. catalogue load, cold (a fresh process: imports included): ``fermi_lat.Catalogue.load``
   (converted cache) against gammapy's ``SourceCatalog4FGL`` on the FITS file (goal ≤ 200 ms);
2. cone search, warm (1° around 200 positions): ours against astropy ``SkyCoord.separation``
   over the catalogue's positions (goal ≤ 20 ms);
3. the multi-messenger SED request for TXS 0506+056 over real HTTP, submit → done, with
   Fermi-LAT and IceCube (3-year release) sub-jobs, uncached (goal ≤ 3 s); the reference is
   gammapy computing the same Fermi-LAT SED (flux points and 30-point butterfly) in process.

    .venv/bin/python bench/fermi_sed.py [--positions 200] [--requests 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "workflows" / "fermi-lat"))
from scratch import default_scratch  # noqa: E402
from server_process import ServerProcess  # noqa: E402

OURS_LOAD = """
import time; t = time.perf_counter()
from fermi_lat.catalogue import Catalogue
c = Catalogue.load({dest!r}); len(c)
print(time.perf_counter() - t)
"""
GAMMAPY_LOAD = """
import time; t = time.perf_counter()
from gammapy.catalog import SourceCatalog4FGL
c = SourceCatalog4FGL({path!r}); len(c.table)
print(time.perf_counter() - t)
"""


def prepare(data: Path) -> Path:
    """The real data, fetched once into the bench's data folder."""
    for name in ("fermi-lat", "icecube"):
        subprocess.run([sys.executable, "-m", "astroflow", "data", "fetch", name,
                        "--data-dir", str(data)], check=True, capture_output=True)
    return data / "fermi-lat"


def cold(code: str, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        done = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                              text=True, cwd=ROOT / "workflows" / "fermi-lat")
        out.append(float(done.stdout.strip().splitlines()[-1]))
    return out


def cone_times(dest: Path, positions: int) -> tuple[list[float], list[float]]:
    import astropy.units as u
    from astropy.coordinates import SkyCoord
    from fermi_lat.catalogue import Catalogue
    from gammapy.catalog import SourceCatalog4FGL

    ours = Catalogue.load(dest)
    reference = SourceCatalog4FGL(str(dest / "gll_psc_v35.fit")).positions
    rng = np.random.default_rng(1)
    ras, decs = rng.uniform(0, 360, positions), np.degrees(np.arcsin(rng.uniform(-1, 1, positions)))
    mine, theirs = [], []
    for ra, dec in zip(ras, decs, strict=True):
        t = time.perf_counter()
        rows, _ = ours.cone(ra, dec, 1.0)
        mine.append(time.perf_counter() - t)
        t = time.perf_counter()
        found = np.flatnonzero(SkyCoord(ra, dec, unit="deg").separation(reference) < 1 * u.deg)
        theirs.append(time.perf_counter() - t)
        assert set(map(int, rows)) == set(map(int, found)), (ra, dec)
    return mine, theirs


def gammapy_sed(path: Path) -> float:
    """The Fermi-LAT SED of TXS 0506+056 as plain gammapy code computes it."""
    import astropy.units as u
    from gammapy.catalog import SourceCatalog4FGL

    t = time.perf_counter()
    source = SourceCatalog4FGL(str(path))["4FGL J0509.4+0542"]
    points = source.flux_points.to_table(sed_type="e2dnde")
    model = source.spectral_model()
    energies = np.geomspace(0.05, 1000, 30) * u.GeV
    e2dnde, errors = model.evaluate_error(energies)[0] * energies**2, None
    assert len(points) > 0 and np.all(np.isfinite(e2dnde.value)) and errors is None
    return time.perf_counter() - t


def sed_requests(data: Path, requests: int) -> list[float]:
    """Submit → done times on a server with a new job store, the fetched data linked in."""
    import tempfile

    run = Path(tempfile.mkdtemp(dir=data.parent, prefix="run-"))
    for name in ("fermi-lat", "icecube"):
        (run / name).symlink_to(data / name)
    server = ServerProcess(run, services=[ROOT / "workflows"], workers=2,
                           env={"ASTROFLOW_RATE_LIMIT": "0"}).start(timeout=120)
    times = []
    try:
        with httpx.Client(base_url=server.url, timeout=120) as client:
            for i in range(requests):
                # a new position (by 0.36") and time range each time: no sub-job is cached
                parameters = {"src_name": "TXS 0506+056", "RA": 77.3582 + 1e-4 * i,
                              "DEC": 5.6932,
                              "T1": "2008-08-04T00:00:00", "T2": f"2012-05-{10 + i:02d}T00:00:00"}
                t = time.perf_counter()
                job = client.post("/api/v1/services/multi-messenger-sed/jobs",
                                  json={"parameters": parameters}).json()
                job = client.get(f"/api/v1/jobs/{job['id']}", params={"wait": 60}).json()
                times.append(time.perf_counter() - t)
                if job["state"] != "done":
                    raise SystemExit(f"multi-messenger request failed: {json.dumps(job)[:800]}")
    finally:
        server.stop()
        import shutil

        shutil.rmtree(run, ignore_errors=True)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--positions", type=int, default=200)
    parser.add_argument("--requests", type=int, default=3)
    parser.add_argument("--runs", type=int, default=3, help="cold loads per side")
    args = parser.parse_args()
    data = default_scratch() / "fermi-sed-data"
    dest = prepare(data)
    ours_load = cold(OURS_LOAD.format(dest=str(dest)), args.runs)
    gp_load = cold(GAMMAPY_LOAD.format(path=str(dest / "gll_psc_v35.fit")), args.runs)
    mine, theirs = cone_times(dest, args.positions)
    reference_sed = min(gammapy_sed(dest / "gll_psc_v35.fit") for _ in range(3))
    sed = sed_requests(data, args.requests)

    def ms(values: list[float]) -> float:
        return statistics.median(values) * 1e3

    print("Fermi-LAT 4FGL-DR4 and the multi-messenger SED (2 cores, real data)")
    print(f"  catalogue load, cold process, median of {args.runs}: {ms(ours_load):7.1f} ms   "
          f"(goal ≤ 200 ms); gammapy SourceCatalog4FGL {ms(gp_load):7.1f} ms "
          f"→ {ms(gp_load) / ms(ours_load):.1f}×")
    print(f"  cone search 1°, warm, median of {args.positions}: {ms(mine):7.3f} ms   "
          f"(goal ≤ 20 ms); astropy separation {ms(theirs):7.3f} ms "
          f"→ {ms(theirs) / ms(mine):.1f}× (same sources found)")
    each = ", ".join(f"{s:.2f}" for s in sed)
    print(f"  multi-messenger SED, TXS 0506+056, uncached, over HTTP: median "
          f"{statistics.median(sed):.2f} s ({each}; the first starts the services' warm "
          f"parents)   (goal ≤ 3 s); gammapy's Fermi-LAT SED alone in process "
          f"{reference_sed:.2f} s (catalogue read included)")


if __name__ == "__main__":
    main()
