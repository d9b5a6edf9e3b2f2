"""Load: a burst of 1,000 jobs and 200 concurrent pollers, against SQLite and PostgreSQL.

For each store a real `astroflow serve` process (2 workers, free loopback port) serves the
trivial three-cell notebook of `bench/server_latency.py`. Measured per store:

1. burst: ``--jobs`` distinct jobs (distinct ``x``, so none comes from the cache) submitted
   as fast as ``--submitters`` httpx clients can, then waited for (long polls); submit
   latency p50/p99, submit wall time, first submit → last done, done jobs per second over
   that span, failures (anything but 200/201 then ``done``: must be 0);
2. pollers: ``--pollers`` asyncio clients (``--poll-client``: by default the raw keep-alive
   client of `bench/server_latency.py`, since 200 httpx clients use more CPU than the server
   they measure; or httpx), each on its own connection (opened before the clock starts), read ``GET /api/v1/jobs/{id}`` for ``--poll-seconds`` while a stream
   of jobs that sleep ``--stream-nap`` s is submitted at ``--stream-rate`` jobs/s; a read asks
   for a stream job not yet seen ended (queued or running) half of the time when there is
   one, else for a done job of the burst: poll latency p50/p99, reads per second, the states
   seen, and the CPU seconds the server (with its children) and this client used; one poller
   in ten long-polls (``?wait=5``) the newest stream job instead, counted apart;
3. memory: VmRSS of the server process and, separately, of its children (the warm parents),
   at start, after the burst and after the pollers.

The per-caller limits (``--rate-limit``, default 600 submissions a minute, and
``--queue-limit``) would answer 429 to a burst from one address, so they are lifted for the
benchmark (``--keep-limits`` leaves them, and 429s then count as failures). The client runs
on the same machine as the server: on 2 cores the figures are indicative.

    .venv/bin/python bench/load.py [--jobs 1000] [--pollers 200] [--stores sqlite,postgresql]
                                   [--poll-client raw|httpx] [--sandbox on|off] [--json]

Every wait is bounded (``--timeout`` for the burst, the poll window plus five minutes for the
pollers); each server is stopped in ``finally`` and its PostgreSQL schema dropped. The exit
status is 1 when any job or request failed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import datetime
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE))
from scratch import default_scratch  # noqa: E402
from server_latency import RawHTTP, write_service  # noqa: E402
from server_process import ServerProcess  # noqa: E402

API = "/api/v1"
SUBMIT = f"{API}/services/trivial/jobs"
NAP = f"{API}/services/nap/jobs"
TERMINAL = ("done", "failed", "cancelled")
PG_URL = os.environ.get("ASTROFLOW_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
ERRORS = (httpx.HTTPError, OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError)
LIFTED = {"rate-limit": "0", "queue-limit": "100000"}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def ms(values: list[float], q: float) -> float | None:
    """The q-quantile of values (seconds), in ms; None when there are none."""
    if not values:
        return None
    if len(values) == 1:
        return values[0] * 1e3
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1] * 1e3


# ---------------------------------------------------------------- services, limits, stores, memory

def write_nap(folder: Path) -> None:
    """A workflow that sleeps ``seconds``: the stream's jobs, queued or running when read."""
    repo = folder / "services" / "nap"
    repo.mkdir(parents=True)
    (repo / "nap.py").write_text(
        '# %% tags=["parameters"]\n'
        'seconds = 0.5  # oda:Float ; oda:lower_limit 0 ; oda:upper_limit 60\n'
        'tag = "a"  # oda:String\n\n'
        '# %%\nimport time\n\ntime.sleep(seconds)\nslept = seconds\n\n'
        '# %% tags=["outputs"]\nslept  # oda:Float\n')


def limit_args() -> tuple[list[str], dict[str, str], list[str]]:
    """Flags and environment that lift the per-caller limits, for the flags this serve has."""
    try:
        helptext = subprocess.run([sys.executable, "-m", "astroflow", "serve", "--help"],
                                  capture_output=True, text=True, timeout=60).stdout
    except subprocess.TimeoutExpired:
        helptext = ""
    args, shown = [], []
    for flag, value in LIFTED.items():
        if f"--{flag}" in helptext:
            args += [f"--{flag}", value]
            shown.append(f"--{flag} {value}")
    env = {"ASTROFLOW_RATE_LIMIT": "0", "ASTROFLOW_QUEUE_LIMIT": "100000"}
    return args, env, shown or ["ASTROFLOW_RATE_LIMIT=0 ASTROFLOW_QUEUE_LIMIT=100000"]


class PrivateSchema:
    """A new schema in the `test` database, as tests/pg.py makes one; dropped at the end."""

    def __init__(self, url: str) -> None:
        from sqlalchemy import create_engine

        self.schema = f"bench_{uuid.uuid4().hex[:12]}"
        self.admin = create_engine(url, connect_args={"connect_timeout": 5})
        self.url = f"{url}?options=-csearch_path%3D{self.schema}"

    def __enter__(self) -> str:
        from sqlalchemy import text

        with self.admin.begin() as c:
            c.execute(text(f"CREATE SCHEMA {self.schema}"))
        return self.url

    def __exit__(self, *exc: object) -> None:
        from sqlalchemy import text

        try:
            with self.admin.begin() as c:
                c.execute(text(f"DROP SCHEMA {self.schema} CASCADE"))
        finally:
            self.admin.dispose()


def loadavg() -> float | None:
    """The machine's 1-minute load average: how much else competed for the cores."""
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def vmrss_mb(pid: int) -> float | None:
    """Resident memory of ``pid`` in MB; None once the process is gone."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return None


def children_of(pid: int) -> list[int]:
    kids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            kids.append(int(entry.name))
    return sorted(kids)


def tree_cpu_s(pid: int) -> float:
    """CPU seconds of the server and its children, with the runs they have reaped."""
    total = 0.0
    for p in [pid, *children_of(pid)]:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
    return total / os.sysconf("SC_CLK_TCK")


def memory(pid: int) -> dict:
    """VmRSS of the server and of each child (warm parents; a child's own runs are not added)."""
    children = []
    for kid in children_of(pid):
        rss = vmrss_mb(kid)
        if rss is not None:
            children.append({"pid": kid, "rss_mb": round(rss, 1)})
    server = vmrss_mb(pid)
    return {"server_mb": None if server is None else round(server, 1),
            "children_mb": round(sum(c["rss_mb"] for c in children), 1),
            "children": children}


# ---------------------------------------------------------------- the two loads

def epoch(iso: str | None) -> float:
    """A job record's ISO time (``…Z``, ms) as a Unix time; now when it has none."""
    if not iso:
        return time.time()
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


async def wait_all(url: str, ids: list[str], clients: int, deadline: float,
                   failures: Counter) -> tuple[list[float], float]:
    """Long-poll every id to its end (until `deadline`, perf_counter); returns the server's
    `finished` times of done jobs and the client time the last one was seen to end."""
    finished: list[float] = []
    last = time.perf_counter()

    async def waiter(part: list[str]) -> None:
        nonlocal last
        async with httpx.AsyncClient(base_url=url, timeout=45) as client:
            for job_id in part:
                while True:
                    left = deadline - time.perf_counter()
                    if left <= 0:
                        failures["not done in time"] += 1
                        break
                    try:
                        reply = await client.get(f"{API}/jobs/{job_id}",
                                                 params={"wait": round(min(30.0, left), 1)})
                    except httpx.HTTPError as exc:
                        failures[f"wait: {type(exc).__name__}"] += 1
                        await asyncio.sleep(0.2)
                        continue
                    if reply.status_code != 200:
                        failures[f"wait: HTTP {reply.status_code}"] += 1
                        break
                    job = reply.json()
                    if job["state"] in TERMINAL:
                        if job["state"] == "done":
                            finished.append(epoch(job.get("finished")))
                        else:
                            failures[f"job {job['state']}"] += 1
                        last = max(last, time.perf_counter())
                        break

    await asyncio.gather(*(waiter(ids[i::clients]) for i in range(clients)))
    return finished, last


async def burst(url: str, n: int, submitters: int, timeout: float, server_pid: int) -> dict:
    bodies = [{"parameters": {"x": 10_000.0 + i}} for i in range(n)]
    latencies: list[float] = []
    ids: list[str] = []
    failures: Counter = Counter()
    cached = 0
    cpu0 = tree_cpu_s(server_pid), time.process_time()
    start, start_wall = time.perf_counter(), time.time()
    deadline = start + timeout

    async def submitter(chunk: list[dict]) -> None:
        nonlocal cached
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            for body in chunk:
                if time.perf_counter() > deadline:
                    failures["not submitted in time"] += 1
                    continue
                t = time.perf_counter()
                try:
                    reply = await client.post(SUBMIT, json=body)
                except httpx.HTTPError as exc:
                    failures[f"submit: {type(exc).__name__}"] += 1
                    continue
                latencies.append(time.perf_counter() - t)
                if reply.status_code not in (200, 201):
                    failures[f"submit: HTTP {reply.status_code}"] += 1
                    continue
                job = reply.json()
                cached += bool(job.get("cached"))
                ids.append(job["id"])

    await asyncio.gather(*(submitter(bodies[i::submitters]) for i in range(submitters)))
    submit_wall = time.perf_counter() - start
    finished, last_seen = await wait_all(url, ids, submitters, deadline, failures)
    span = (max(finished) - start_wall) if finished else None
    seen = last_seen - start
    server_cpu, client_cpu = tree_cpu_s(server_pid) - cpu0[0], time.process_time() - cpu0[1]
    return {"jobs": n, "submitters": submitters, "submitted": len(ids), "cached": cached,
            "done": len(finished), "failures": sum(failures.values()), "failure_kinds": dict(failures),
            "submit_p50_ms": ms(latencies, 0.50), "submit_p99_ms": ms(latencies, 0.99),
            "submit_wall_s": submit_wall, "to_last_done_s": span, "to_last_seen_s": seen,
            "jobs_per_s": len(finished) / span if span else None,
            "server_cpu_s": server_cpu, "client_cpu_s": client_cpu, "ids": ids}


async def pollers(url: str, done_ids: list[str], n: int, seconds: float, rate: float,
                  nap: float, server_pid: int, timeout: float, raw: bool) -> dict:
    """`n` readers for `seconds` while `nap` jobs are submitted at `rate` a second."""
    stream: list[str] = []
    live: list[str] = []          # stream jobs no reader has yet seen ended
    stream_latencies: list[float] = []
    latencies: list[float] = []
    long_polls: list[float] = []
    states: Counter = Counter()
    failures: Counter = Counter()
    rng = random.Random(21)
    n_long = n // 10
    ready = 0
    go = asyncio.Event()
    window: dict[str, float] = {}

    def read_state(job_id: str, body: bytes) -> None:
        state = json.loads(body)["state"]
        states[state] += 1
        if state in TERMINAL and job_id in live:
            live.remove(job_id)

    async def producer() -> None:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            k, t0 = 0, time.perf_counter()
            while not go.is_set() or time.perf_counter() < window["stop"]:
                t = time.perf_counter()
                try:
                    reply = await client.post(NAP, json={"parameters": {"seconds": nap, "tag": str(k)}})
                    stream_latencies.append(time.perf_counter() - t)
                    if reply.status_code in (200, 201):
                        stream.append(reply.json()["id"])
                        live.append(stream[-1])
                    else:
                        failures[f"stream submit: HTTP {reply.status_code}"] += 1
                except httpx.HTTPError as exc:
                    failures[f"stream submit: {type(exc).__name__}"] += 1
                k += 1
                await asyncio.sleep(max(0.0, t0 + k / rate - time.perf_counter()))

    async def poller(long: bool) -> None:
        nonlocal ready
        async with contextlib.AsyncExitStack() as stack:
            if raw:
                conn = await asyncio.wait_for(RawHTTP(url).connect(), 30)
                stack.callback(conn[1].close)

                async def get(path: str) -> tuple[int, bytes]:
                    return await asyncio.wait_for(RawHTTP(url).request(conn, "GET", path), 30)
            else:
                client = await stack.enter_async_context(httpx.AsyncClient(base_url=url, timeout=30))

                async def get(path: str) -> tuple[int, bytes]:
                    reply = await client.get(path)
                    return reply.status_code, reply.content

            try:  # one unmeasured read, so the clock starts on open connections
                await get(f"{API}/jobs/{done_ids[0]}")
            except ERRORS as exc:
                failures[f"connect: {type(exc).__name__}"] += 1
            ready += 1
            if ready == n:
                window["cpu"] = tree_cpu_s(server_pid), time.process_time()
                window["start"] = time.perf_counter()
                window["stop"] = window["start"] + seconds
                go.set()
            await go.wait()
            while time.perf_counter() < window["stop"]:
                if long and stream:
                    job_id, query = stream[-1], "?wait=5"
                elif not long and live and rng.random() < 0.5:
                    job_id, query = rng.choice(live), ""
                else:
                    job_id, query = rng.choice(done_ids), ""
                t = time.perf_counter()
                try:
                    status, body = await get(f"{API}/jobs/{job_id}{query}")
                except ERRORS as exc:
                    failures[f"poll: {type(exc).__name__}"] += 1
                    continue
                (long_polls if long else latencies).append(time.perf_counter() - t)
                if status != 200:
                    failures[f"poll: HTTP {status}"] += 1
                elif not long:
                    read_state(job_id, body)

    await asyncio.gather(producer(), *(poller(i < n_long) for i in range(n)))
    elapsed = time.perf_counter() - window["start"]
    server_cpu = tree_cpu_s(server_pid) - window["cpu"][0]
    client_cpu = time.process_time() - window["cpu"][1]
    drained, _ = await wait_all(url, list(stream), 4, time.perf_counter() + timeout, failures)
    return {"pollers": n, "long_pollers": n_long, "seconds": elapsed, "reads": len(latencies),
            "reads_per_s": len(latencies) / elapsed, "poll_p50_ms": ms(latencies, 0.50),
            "poll_p99_ms": ms(latencies, 0.99), "states_seen": dict(states),
            "long_polls": len(long_polls), "long_poll_p50_ms": ms(long_polls, 0.50),
            "poll_client": "raw" if raw else "httpx", "stream_rate": rate, "stream_nap_s": nap,
            "stream_submitted": len(stream), "stream_done": len(drained),
            "stream_submit_p50_ms": ms(stream_latencies, 0.50),
            "stream_submit_p99_ms": ms(stream_latencies, 0.99),
            "server_cpu_s": server_cpu, "client_cpu_s": client_cpu,
            "failures": sum(failures.values()), "failure_kinds": dict(failures)}


async def warm_up(url: str) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=45) as client:
        for path, parameters in [(SUBMIT, {"x": -1.0}), (SUBMIT, {"x": -2.0}),
                                 (NAP, {"seconds": 0, "tag": "warm"})]:
            job = (await client.post(path, json={"parameters": parameters})).json()
            if job["state"] not in TERMINAL:
                job = (await client.get(f"{API}/jobs/{job['id']}", params={"wait": 30})).json()
            if job["state"] != "done":
                raise RuntimeError(f"warm-up job ended {job['state']}: {job}")


def run_store(store: str, scratch: Path, args: argparse.Namespace, lift: tuple) -> dict:
    extra, env, shown = lift if lift else ([], {}, [])
    if args.sandbox:
        env = {**env, "ASTROFLOW_SANDBOX": args.sandbox}
    result: dict = {"store": store, "workers": args.workers, "limits_lifted": shown,
                    "sandbox": args.sandbox or os.environ.get("ASTROFLOW_SANDBOX", "server default"),
                    "loadavg_start": loadavg()}
    with PrivateSchema(args.pg) if store == "postgresql" else contextlib.nullcontext() as db:
        server = ServerProcess(scratch / f"data-{store}", services=[scratch / "services"],
                               db=db, workers=args.workers, extra_args=extra, env=env)
        try:
            server.start(timeout=90)
            pid = server.process.pid
            result["rss_start"] = memory(pid)
            asyncio.run(asyncio.wait_for(warm_up(server.url), 120))
            log(f"[{store}] burst of {args.jobs} jobs …")
            b = asyncio.run(asyncio.wait_for(
                burst(server.url, args.jobs, args.submitters, args.timeout, pid), args.timeout + 60))
            result["rss_after_burst"] = memory(pid)
            log(f"[{store}] {args.pollers} pollers for {args.poll_seconds:g} s …")
            done_ids = b.pop("ids")
            result["burst"] = b
            if not done_ids:
                raise RuntimeError("no job of the burst was submitted: nothing to poll")
            result["poll"] = asyncio.run(asyncio.wait_for(
                pollers(server.url, done_ids, args.pollers, args.poll_seconds, args.stream_rate,
                        args.stream_nap, pid, timeout=120, raw=args.poll_client == "raw"),
                args.poll_seconds + 300))
            result["rss_after_poll"] = memory(pid)
        except Exception as exc:  # noqa: BLE001 - reported with what was measured before it
            result["error"] = f"{type(exc).__name__}: {exc}"[:2000]
            log(f"[{store}] {result['error']}\n{server.log()[-2000:]}")
        finally:
            server.stop()
            result["loadavg_end"] = loadavg()
    return result


# ---------------------------------------------------------------- report

def fmt(value: float | None, spec: str = ".1f") -> str:
    return "–" if value is None else format(value, spec)


def rss_rows(r: dict) -> list[str]:
    snaps = [r.get("rss_start"), r.get("rss_after_burst"), r.get("rss_after_poll")]
    out = [f"  {'RSS, MB':<34}{'start':>10}{'after burst':>14}{'after pollers':>16}"]
    out.append(f"  {'server process':<34}" + "".join(
        f"{fmt(s and s['server_mb']):>{w}}" for s, w in zip(snaps, (10, 14, 16), strict=True)))
    out.append(f"  {'children (warm parents), total':<34}" + "".join(
        f"{fmt(s and s['children_mb']):>{w}}" for s, w in zip(snaps, (10, 14, 16), strict=True)))
    out.append(f"  {'  number of children':<34}" + "".join(
        f"{(len(s['children']) if s else '–'):>{w}}" for s, w in zip(snaps, (10, 14, 16), strict=True)))
    last = snaps[-1] or snaps[-2]
    if last and last["children"]:
        each = ", ".join(f"{c['rss_mb']:.1f}" for c in last["children"])
        out.append(f"  {'  each child at the end':<34}{each}")
    return out


def print_store(r: dict) -> None:
    title = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}[r["store"]]
    lifted = ("limits lifted for the benchmark: " + ", ".join(r["limits_lifted"])
              if r["limits_lifted"] else "server's default limits kept")
    print(f"\n{title} store, {r['workers']} workers, run sandbox {r.get('sandbox')} ({lifted}); "
          f"machine load average "
          f"{fmt(r.get('loadavg_start'))} at start, {fmt(r.get('loadavg_end'))} at end "
          f"on {os.cpu_count()} CPUs")
    b, p = r.get("burst"), r.get("poll")
    if b:
        print(f"  burst of {b['jobs']} distinct jobs, {b['submitters']} httpx submitters")
        print(f"    {'submit latency p50 / p99':<32}{fmt(b['submit_p50_ms'])} / {fmt(b['submit_p99_ms'])} ms")
        print(f"    {'all submitted after':<32}{fmt(b['submit_wall_s'], '.2f')} s")
        print(f"    {'first submit → last done':<32}{fmt(b['to_last_done_s'], '.2f')} s "
              f"(seen by the client after {b['to_last_seen_s']:.2f} s)")
        print(f"    {'throughput':<32}{fmt(b['jobs_per_s'])} done jobs/s")
        print(f"    {'CPU, first submit → all seen':<32}server and children {b['server_cpu_s']:.1f} s, "
              f"this client {b['client_cpu_s']:.1f} s")
        print(f"    {'done / cached / failures':<32}{b['done']} / {b['cached']} / {b['failures']}"
              + (f"  {b['failure_kinds']}" if b["failures"] else ""))
    if p:
        print(f"  {p['pollers']} {p['poll_client']} pollers for {p['seconds']:.1f} s ({p['long_pollers']} of them long-polling "
              f"the newest job) while {p['stream_submitted']} jobs of {p['stream_nap_s']:g} s were "
              f"submitted ({p['stream_rate']:g}/s)")
        print(f"    {'poll latency p50 / p99':<32}{fmt(p['poll_p50_ms'])} / {fmt(p['poll_p99_ms'])} ms")
        print(f"    {'reads':<32}{p['reads_per_s']:.0f} /s ({p['reads']} reads; states seen "
              f"{', '.join(f'{k} {v}' for k, v in sorted(p['states_seen'].items()))})")
        print(f"    {'long polls answered':<32}{p['long_polls']} (p50 {fmt(p['long_poll_p50_ms'])} ms)")
        print(f"    {'stream submit p50 / p99':<32}{fmt(p['stream_submit_p50_ms'])} / "
              f"{fmt(p['stream_submit_p99_ms'])} ms; {p['stream_done']} of {p['stream_submitted']} done")
        print(f"    {'CPU in the window':<32}server and children {p['server_cpu_s']:.1f} s, "
              f"this client {p['client_cpu_s']:.1f} s")
        print(f"    {'failures':<32}{p['failures']}" + (f"  {p['failure_kinds']}" if p["failures"] else ""))
    for line in rss_rows(r):
        print(line)
    if "error" in r:
        print(f"  ERROR: {r['error']}")


def print_summary(results: list[dict], args: argparse.Namespace) -> None:
    names = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
    rows = [
        (f"burst of {args.jobs}: submit p50 / p99",
         lambda r: f"{fmt(r['burst']['submit_p50_ms'])} / {fmt(r['burst']['submit_p99_ms'])} ms"),
        ("burst: first submit → last done", lambda r: f"{fmt(r['burst']['to_last_done_s'], '.1f')} s"),
        ("burst: done jobs/s", lambda r: fmt(r["burst"]["jobs_per_s"], ".0f")),
        ("burst: failures", lambda r: str(r["burst"]["failures"])),
        (f"{args.pollers} pollers: poll p50 / p99",
         lambda r: f"{fmt(r['poll']['poll_p50_ms'])} / {fmt(r['poll']['poll_p99_ms'])} ms"),
        (f"{args.pollers} pollers: reads/s", lambda r: f"{r['poll']['reads_per_s']:,.0f}"),
        ("pollers: failures", lambda r: str(r["poll"]["failures"])),
        ("server RSS start → end", lambda r: f"{fmt(r['rss_start']['server_mb'], '.0f')} → "
                                            f"{fmt(r['rss_after_poll']['server_mb'], '.0f')} MB"),
        ("machine load average (start, end)",
         lambda r: f"{fmt(r['loadavg_start'])}, {fmt(r['loadavg_end'])}"),
        ("warm parents RSS at end", lambda r: f"{fmt(r['rss_after_poll']['children_mb'], '.0f')} MB "
                                             f"({len(r['rss_after_poll']['children'])})"),
    ]
    print(f"\nSummary (bench/load.py, {args.workers} workers, client on the same machine)\n")
    print("| load | " + " | ".join(names[r["store"]] for r in results) + " |")
    print("|---|" + "---|" * len(results))
    for label, get in rows:
        cells = []
        for r in results:
            try:
                cells.append(get(r))
            except (KeyError, TypeError):
                cells.append("–")
        print(f"| {label} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000, help="jobs in the burst")
    parser.add_argument("--pollers", type=int, default=200, help="concurrent pollers")
    parser.add_argument("--poll-seconds", type=float, default=10.0)
    parser.add_argument("--stream-rate", type=float, default=3.0,
                        help="jobs/s submitted while the pollers read")
    parser.add_argument("--stream-nap", type=float, default=0.5,
                        help="seconds each stream job sleeps (2 workers: under 4 jobs/s keeps up)")
    parser.add_argument("--poll-client", choices=("raw", "httpx"), default="raw",
                        help="pollers' HTTP client: raw keep-alive asyncio streams "
                             "(bench/server_latency.py's, light enough that the server is what "
                             "is measured on 2 shared cores) or httpx")
    parser.add_argument("--submitters", type=int, default=8, help="concurrent submitting clients")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--stores", default="sqlite,postgresql")
    parser.add_argument("--pg", default=PG_URL, help="PostgreSQL admin URL (a schema is made in it)")
    parser.add_argument("--timeout", type=float, default=600.0,
                        help="bound, s, on submitting and finishing the burst")
    parser.add_argument("--sandbox", choices=("on", "strict", "off"),
                        help="ASTROFLOW_SANDBOX for the server (default: the server's own)")
    parser.add_argument("--keep-limits", action="store_true",
                        help="keep the server's per-caller rate and queue limits")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--scratch", type=Path, default=default_scratch(),
                        help="folder for the run's files (see bench/scratch.py)")
    args = parser.parse_args()
    stores = [s.strip() for s in args.stores.split(",") if s.strip()]
    unknown = set(stores) - {"sqlite", "postgresql"}
    if unknown:
        parser.error(f"unknown stores: {', '.join(sorted(unknown))}")
    lift = None if args.keep_limits else limit_args()

    results = []
    with tempfile.TemporaryDirectory(dir=args.scratch) as tmp:
        scratch = Path(tmp)
        write_service(scratch)
        write_nap(scratch)
        for store in stores:
            log(f"[{store}] starting the server …")
            try:
                results.append(run_store(store, scratch, args, lift))
            except Exception as exc:  # noqa: BLE001 - reported, and the next store still runs
                results.append({"store": store, "workers": args.workers,
                                "limits_lifted": lift[2] if lift else [],
                                "error": f"{type(exc).__name__}: {exc}"[:2000]})
    if args.json:
        print(json.dumps({"jobs": args.jobs, "pollers": args.pollers, "results": results}, indent=2))
    else:
        for r in results:
            print_store(r)
        print_summary(results, args)
    bad = [r for r in results if "error" in r or r.get("burst", {}).get("failures")
           or r.get("poll", {}).get("failures")]
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
