"""Server latency and throughput over real HTTP, with papermill run beside it as the reference.

A real `astroflow serve` process (SQLite store, 2 workers) serves a trivial three-cell
notebook. Measured in the same run:

1. uncached request, submit → done (long poll), median of 50 distinct requests; papermill's
   execution of the same notebook (MMODA's nb2workflow answers this in 8.5–9 s);
2. cache hit: server time (``Server-Timing`` header) and client round trip, median;
   status reads per second with 16 concurrent clients;
3. throughput: 500 distinct jobs submitted at once, jobs per second to completion; three
   such bursts (each of new jobs), all printed with their median, since one burst on a
   shared 2-core machine moves with whatever else runs;
4. all of it twice, with the run sandbox on and off (``ASTROFLOW_SANDBOX``), and the
   difference: what isolation costs a request.

    .venv/bin/python bench/server_latency.py [--requests 50] [--burst 500] [--bursts 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from scratch import default_scratch  # noqa: E402
from server_process import ServerProcess  # noqa: E402

API = "/api/v1"


def write_service(folder: Path) -> Path:
    repo = folder / "services" / "trivial"
    repo.mkdir(parents=True)
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_code_cell("x = 1.0  # oda:Float\nn = 3  # oda:Integer",
                                  metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("y = x * n"),
        nbformat.v4.new_code_cell("y  # oda:Float", metadata={"tags": ["outputs"]}),
    ]
    path = repo / "trivial.ipynb"
    nbformat.write(nb, path)
    return path


def uncached(client: httpx.Client, n: int) -> list[float]:
    times = []
    for i in range(n):
        start = time.perf_counter()
        job = client.post(f"{API}/services/trivial/jobs", json={"parameters": {"x": 1000.0 + i}}).json()
        if job["state"] != "done":
            job = client.get(f"{API}/jobs/{job['id']}", params={"wait": 30}).json()
        times.append(time.perf_counter() - start)
        assert job["state"] == "done", job
    return times


def cache_hits(client: httpx.Client, n: int) -> tuple[list[float], list[float]]:
    server, wall = [], []
    for _ in range(n):
        start = time.perf_counter()
        reply = client.post(f"{API}/services/trivial/jobs", json={"parameters": {"x": 1000.0}})
        wall.append(time.perf_counter() - start)
        assert reply.json()["cached"] is True
        timing = reply.headers["server-timing"]
        server.append(float(timing.split("dur=")[1]) / 1000)
    return server, wall


class RawHTTP:
    """Keep-alive HTTP/1.1 over raw asyncio streams: a load generator light enough that the
    server, not the client, is what gets measured when both share a 2-core machine."""

    def __init__(self, url: str) -> None:
        self.host, port = url.removeprefix("http://").split(":")
        self.port = int(port)

    async def connect(self) -> list:
        return list(await asyncio.open_connection(self.host, self.port))

    async def request(self, conn: list, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        """One request; a connection the server closed while idle is opened again."""
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\n"
        if body:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        for attempt in range(2):
            reader, writer = conn
            try:
                writer.write(head.encode() + b"\r\n" + body)
                raw = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                if attempt:
                    raise
                conn[:] = await self.connect()
                continue
            status = int(raw[9:12])
            length = int(raw.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            return status, await reader.readexactly(length)
        raise AssertionError("unreachable")


async def status_reads(url: str, job_id: str, clients: int, seconds: float) -> float:
    http = RawHTTP(url)
    done = 0
    deadline = time.perf_counter() + seconds

    async def reader() -> None:
        nonlocal done
        conn = await http.connect()
        while time.perf_counter() < deadline:
            status, _ = await http.request(conn, "GET", f"{API}/jobs/{job_id}")
            assert status == 200
            done += 1
        conn[1].close()

    start = time.perf_counter()
    await asyncio.gather(*(reader() for _ in range(clients)))
    return done / (time.perf_counter() - start)


async def burst(url: str, n: int, first: int = 0, connections: int = 32) -> float:
    """Submit n distinct jobs at once over `connections` connections, then wait for all."""
    http = RawHTTP(url)
    conns = [await http.connect() for _ in range(connections)]
    bodies = [json.dumps({"parameters": {"x": 5000.0 + first + i}}).encode() for i in range(n)]
    start = time.perf_counter()

    async def submit(conn, chunk):
        ids = []
        for body in chunk:
            status, reply = await http.request(conn, "POST", f"{API}/services/trivial/jobs", body)
            assert status in (200, 201), reply[:300]
            ids.append(json.loads(reply)["id"])
        return ids

    chunks = [bodies[i::connections] for i in range(connections)]
    ids = [i for part in await asyncio.gather(*(submit(c, ch) for c, ch in zip(conns, chunks, strict=True)))
           for i in part]

    async def wait(conn, part):
        for job_id in part:
            while True:
                _, reply = await http.request(conn, "GET", f"{API}/jobs/{job_id}?wait=60")
                state = json.loads(reply)["state"]
                if state in ("done", "failed", "cancelled"):
                    assert state == "done", reply[:500]
                    break

    await asyncio.gather(*(wait(c, ids[i::connections]) for i, c in enumerate(conns)))
    for _, writer in conns:
        writer.close()
    return n / (time.perf_counter() - start)


def papermill_times(path: Path, runs: int, scratch: Path) -> list[float]:
    import papermill

    times = []
    for i in range(runs):
        start = time.perf_counter()
        papermill.execute_notebook(str(path), str(scratch / f"pm-{i}.ipynb"), progress_bar=False,
                                   kernel_name="python3", log_output=False)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--burst", type=int, default=500)
    parser.add_argument("--bursts", type=int, default=3)
    parser.add_argument("--papermill-runs", type=int, default=5)
    parser.add_argument("--scratch", type=Path, default=default_scratch(),
                        help="folder for the run's files (see bench/scratch.py)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.scratch) as tmp:
        scratch = Path(tmp)
        notebook = write_service(scratch)
        # The same measurements with the run sandbox on (the default) and off, in one run.
        results = {mode: measure(scratch / mode, scratch / "services", args, mode)
                   for mode in ("on", "off")}
        pm = papermill_times(notebook, args.papermill_runs, scratch)

    p = statistics.median(pm)
    print(f"astroflow server, trivial notebook, real HTTP, SQLite store, 2 workers "
          f"(files under {args.scratch})")
    for mode, (ours, hit_server, hit_wall, reads, rates) in results.items():
        a = statistics.median(ours)
        print(f" run sandbox {mode}:")
        print(f"  uncached submit→done, median of {len(ours)}: {a * 1e3:7.1f} ms   "
              f"(goal ≤ 35 ms with the sandbox on)")
        print(f"  papermill execution of the same notebook, median of {len(pm)}: {p * 1e3:7.1f} "
              f"ms   → astroflow {p / a:.0f}× faster (MMODA nb2workflow: 8.5–9 s, ≈{8.7 / a:.0f}×)")
        print(f"  cache hit, server time median: {statistics.median(hit_server) * 1e3:7.2f} ms   "
              f"(goal ≤ 2 ms); round trip median {statistics.median(hit_wall) * 1e3:.2f} ms")
        print(f"  status reads, 16 concurrent clients: {reads:7.0f} /s   (goal ≥ 2000 /s)")
        each = ", ".join(f"{r:.1f}" for r in rates)
        print(f"  burst of {args.burst} distinct jobs: {statistics.median(rates):7.1f} jobs/s to "
              f"completion, median of {len(rates)} bursts ({each})   (goal ≥ 90 /s sandboxed)")
    on, off = (statistics.median(results[m][0]) for m in ("on", "off"))
    burst_on, burst_off = (statistics.median(results[m][4]) for m in ("on", "off"))
    print(f" sandbox cost: {(on - off) * 1e3:+.1f} ms per uncached request (goal ≤ 5 ms), "
          f"burst {burst_on / burst_off:.2f}× the unsandboxed rate")


def measure(data: Path, services: Path, args: argparse.Namespace,
            sandbox: str) -> tuple[list[float], list[float], list[float], float, list[float]]:
    """One server (sandbox ``on`` or ``off``): latency, cache hits, reads, bursts."""
    env = {"ASTROFLOW_SANDBOX": sandbox, "ASTROFLOW_RATE_LIMIT": "0"}
    server = ServerProcess(data, services=[services], workers=2, env=env).start()
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            uncached(client, 3)  # warm the workflow's imports
            ours = uncached(client, args.requests)
            hit_server, hit_wall = cache_hits(client, 200)
            job_id = client.post(f"{API}/services/trivial/jobs",
                                 json={"parameters": {"x": 1000.0}}).json()["id"]
        reads = asyncio.run(status_reads(server.url, job_id, 16, 5.0))
        rates = [asyncio.run(burst(server.url, args.burst, first=k * args.burst))
                 for k in range(args.bursts)]
    finally:
        server.stop()
    return ours, hit_server, hit_wall, reads, rates


if __name__ == "__main__":
    main()
