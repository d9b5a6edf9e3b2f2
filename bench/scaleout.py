"""Scale-out on Dask: throughput of jobs and of a fanned-out TS map on 1 and 2 workers.

Usage: python bench/scaleout.py [--trivial 500] [--limits 20] [--nside 32] [--workers 1,2]
       [--overhead 60] [--json FILE]

For each worker count a `distributed.LocalCluster` of that many worker processes (one thread
each, on 127.0.0.1) runs, through `DaskExecutor` (the server's executor, without HTTP):
  * ``--trivial`` jobs of a one-cell notebook (``x = 1``), all submitted at once;
  * ``--limits`` IceCube point-source jobs (the service's `run`: fit, calibrated upper limit,
    an 11x11 TS map, light curve) on a small synthetic release (generated under /tmp on
    first use), at as many positions;
  * one γ-free TS map of the whole sky at ``--nside`` (12·nside² pixels) fanned out over the
    cluster by `icecube_ps.allsky.Pool`, as a job on Dask does through `astroflow.parallel`:
    once on fresh workers (cold: imports and per-worker caches), then again (warm).
Throughput per worker count and its ratio to one worker are printed. Then the overhead of a
Dask job over a local one: the median wall time of ``--overhead`` trivial jobs run one after
the other on `LocalExecutor` and on a one-worker cluster.

The machine's load average is printed with the figures: on a shared 2-core machine the
ratios say what the cores allow, not what Dask does.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import nbformat.v4 as v4

HERE = Path(__file__).resolve().parent
WORKFLOW = HERE.parent / "workflows" / "icecube"
RELEASE = Path(tempfile.gettempdir()) / "astroflow-scaleout-release"


def notebook(*sources: str) -> dict:
    return json.loads(v4.writes(v4.new_notebook(cells=[v4.new_code_cell(s) for s in sources])))


def small_release() -> Path:
    """The synthetic release the IceCube jobs read (made once; its cache built once)."""
    sys.path.insert(0, str(WORKFLOW))
    from icecube_ps import release, synthetic

    folder = RELEASE
    if not (folder / "events").is_dir():
        source = synthetic.Source(ra=150.0, dec=20.0, n_events=60, gamma=2.0)
        folder = synthetic.generate(RELEASE, scale=0.02, sources=(source,), seed=7,
                                    irf_samples=3000)
    release.open_release(folder, "synthetic")  # builds the cache the jobs then read
    return folder


def limit_notebook(folder: Path, ra: float, dec: float) -> dict:
    return notebook(
        f"import sys\nsys.path.insert(0, {str(WORKFLOW)!r})\n"
        "from icecube_ps import release, service\n"
        f"r = release.open_release({str(folder)!r}, 'synthetic')\n"
        f"out = service.run(r, 'bench', {ra}, {dec}, '2008-04-06', '2018-07-10',\n"
        "                  ts_map_pixels=11, background_trials=0)\n"
        "x = 1")


def run_all(executor, specs) -> float:
    """Seconds from the first submit to the last result; every run must end done."""
    t0 = time.perf_counter()
    handles = [executor.submit(spec) for spec in specs]
    for handle in handles:
        result = handle.wait(3600)
        if result.status != "done":
            raise RuntimeError(f"a bench job ended {result.status}: {result.error}")
    return time.perf_counter() - t0


def trivial_specs(root: Path, n: int, tag: str) -> list:
    from astroflow.execution import RunSpec

    code = notebook("x = 1")
    return [RunSpec(code, [], root / f"{tag}-{i}") for i in range(n)]


def measure(workers: int, args: argparse.Namespace, root: Path, folder: Path | None) -> dict:
    from distributed import LocalCluster

    from astroflow.execution import RunSpec
    from astroflow.execution.dask.executor import DaskExecutor

    figures: dict[str, float] = {}
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      host="127.0.0.1", dashboard_address=None) as cluster, \
            DaskExecutor(cluster.scheduler_address) as executor:
        run_all(executor, trivial_specs(root, 4 * workers, f"warm{workers}"))  # warm parents
        if args.trivial:
            seconds = run_all(executor, trivial_specs(root, args.trivial, f"t{workers}"))
            figures["trivial_jobs_per_s"] = args.trivial / seconds
        if args.limits and folder is not None:
            positions = [((37.0 * i) % 360.0, -60.0 + (97.0 * i) % 120.0)
                         for i in range(args.limits)]
            run_all(executor, [RunSpec(limit_notebook(folder, *positions[0]), [],
                                       root / f"lw{workers}-{k}") for k in range(workers)])
            specs = [RunSpec(limit_notebook(folder, ra, dec), [], root / f"l{workers}-{i}")
                     for i, (ra, dec) in enumerate(positions)]
            seconds = run_all(executor, specs)
            figures["limits_per_min"] = 60.0 * args.limits / seconds
        if args.nside and folder is not None:
            cold, warm = ts_map_seconds(cluster, folder, args.nside)
            figures["ts_map_cold_seconds"], figures["ts_map_seconds"] = cold, warm
    return figures


def ts_map_seconds(cluster, folder: Path, nside: int) -> tuple[float, float]:
    """Seconds for the whole-sky map on fresh workers (each builds the analysis's
    per-declination caches and imports the package once), then again on the same workers."""
    from distributed import Client
    from icecube_ps import allsky, release
    from icecube_ps.likelihood import PointSourceAnalysis

    analysis = PointSourceAnalysis(release.open_release(folder, "synthetic"))
    with Client(cluster.scheduler_address, set_as_default=False) as client:
        os.environ["ASTROFLOW_SCHEDULER"] = cluster.scheduler_address
        try:
            seconds = []
            with allsky.Pool(analysis) as pool:
                for _ in range(2):
                    t0 = time.perf_counter()
                    sky = allsky.scan_sky(nside=nside, pool=pool)
                    seconds.append(time.perf_counter() - t0)
        finally:
            os.environ.pop("ASTROFLOW_SCHEDULER", None)
            from astroflow import parallel

            if parallel._client is not None:
                parallel._client.close()
                parallel._client = None
        assert sky.ts.size == 12 * nside * nside and client.status == "running"
    return seconds[0], seconds[1]


def overhead(n: int, root: Path) -> dict:
    """Median wall time of one trivial job, run alone, locally and on a one-worker cluster."""
    from distributed import LocalCluster

    from astroflow.execution import LocalExecutor, RunSpec
    from astroflow.execution.dask.executor import DaskExecutor

    code = notebook("x = 1")

    def median_run(executor, tag: str) -> float:
        for i in range(5):
            executor.run(RunSpec(code, [], root / f"{tag}-warm-{i}"))
        times = []
        for i in range(n):
            t0 = time.perf_counter()
            result = executor.run(RunSpec(code, [], root / f"{tag}-{i}"))
            times.append(time.perf_counter() - t0)
            assert result.status == "done", result.error
        return statistics.median(times)

    with LocalExecutor(max_parallel=1) as local:
        local_s = median_run(local, "local")
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster, \
            DaskExecutor(cluster.scheduler_address) as executor:
        dask_s = median_run(executor, "dask")
    return {"local_ms": 1000 * local_s, "dask_ms": 1000 * dask_s,
            "overhead_ms": 1000 * (dask_s - local_s)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trivial", type=int, default=500)
    parser.add_argument("--limits", type=int, default=20)
    parser.add_argument("--nside", type=int, default=32)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--overhead", type=int, default=60)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    counts = [int(w) for w in args.workers.split(",") if w.strip()]
    folder = small_release() if (args.limits or args.nside) else None
    report: dict = {"load_average": os.getloadavg()[0], "cpus": os.cpu_count(), "runs": {}}
    with tempfile.TemporaryDirectory(prefix="astroflow-scaleout-") as tmp:
        root = Path(tmp)
        for workers in counts:
            figures = measure(workers, args, root, folder)
            report["runs"][workers] = figures
            print(f"{workers} worker(s): " + ", ".join(f"{k} {v:.2f}" for k, v in figures.items()),
                  flush=True)
        base = report["runs"].get(1)
        if base:
            for workers, figures in report["runs"].items():
                ratios = {}
                for key, value in figures.items():
                    if key in base and base[key]:
                        # seconds fall as workers rise; rates rise
                        ratios[key] = base[key] / value if key.endswith("_seconds") else value / base[key]
                figures["ratio_to_one"] = ratios
                print(f"{workers} worker(s) vs 1: " + ", ".join(f"{k} x{v:.2f}"
                                                               for k, v in ratios.items()))
        if args.overhead:
            report["overhead"] = overhead(args.overhead, root)
            o = report["overhead"]
            print(f"trivial job alone: local {o['local_ms']:.1f} ms, dask {o['dask_ms']:.1f} ms,"
                  f" overhead {o['overhead_ms']:.1f} ms")
    report["load_average_end"] = os.getloadavg()[0]
    print(f"load average {report['load_average']:.1f} → {report['load_average_end']:.1f} "
          f"on {report['cpus']} CPUs")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
