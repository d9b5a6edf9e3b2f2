"""Storage lifecycle at scale: what a job leaves, submit latency as the store grows, and
how long the sweep takes to expire 10⁵ jobs.

1. real jobs: a real `astroflow serve` (SQLite, 2 workers) runs ``--real`` distinct
   requests of the trivial ``quick`` service (tests/services: a scalar and a 2-row table);
   bytes and files each job leaves in the store, before and after one download of the table
   in each other format (converted on demand where the code does so), and the database size;
2. 10⁵ jobs: running 10⁵ notebooks here would take hours, so jobs are inserted through the
   store's own table in batches, each with a copy of a real job's files from step 1 (the
   same bytes and files a run leaves); submit latency through `JobStore.submit` (a new
   job, median of 200; with and without quotas, which add two indexed reads) at 0, 10⁴
   and 10⁵ jobs in the store;
3. gc: a sweep with nothing due (the server's periodic cost), then the sweep with
   ``max_age = 0`` over all of them (folder store), its time, bytes and files freed, then
   submit latency once more.

Bounded: ``--max-seconds`` stops the inserts early (the figures say how many were reached).

    .venv/bin/python bench/storage.py [--jobs 100000] [--real 100] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from scratch import default_scratch  # noqa: E402
from server_process import ServerProcess  # noqa: E402

from astroflow.jobs.artifacts import ArtifactStore, folder_usage  # noqa: E402
from astroflow.jobs.model import JobRow  # noqa: E402
from astroflow.jobs.store import JobStore, Quota, sqlite_url  # noqa: E402
from astroflow.lifecycle.policy import StoragePolicy  # noqa: E402
from astroflow.lifecycle.sweep import Sweeper  # noqa: E402

API = "/api/v1"
BATCH = 5000
OTHER_FORMATS = ("fits", "votable", "csv", "json")


def real_jobs(root: Path, n: int) -> dict[str, Any]:
    """Run ``n`` distinct quick jobs through a real server; what each leaves."""
    server = ServerProcess(root / "server", workers=2)
    with server.running(), httpx.Client(base_url=server.url, timeout=120) as http:
        submit = []
        ids = []
        for i in range(n):
            start = time.perf_counter()
            reply = http.post(f"{API}/services/quick/jobs",
                              json={"parameters": {"x": 1.0 + i, "n": 2}})
            submit.append(time.perf_counter() - start)
            ids.append(reply.json()["id"])
        for job_id in ids:
            state = http.get(f"{API}/jobs/{job_id}", params={"wait": 60}).json()["state"]
            assert state == "done", state
        jobs = server.data_dir / "artifacts" / "jobs"
        before = [folder_usage(jobs / job_id) for job_id in ids]
        sample = ids[0]
        for fmt in OTHER_FORMATS:
            http.get(f"{API}/jobs/{sample}/products/table", params={"format": fmt})
        after = folder_usage(jobs / sample)
        files = sorted(str(p.relative_to(jobs / sample)) for p in (jobs / sample).rglob("*")
                       if p.is_file())
    db = server.data_dir / "astroflow.db"
    return {"jobs": n, "bytes_per_job": statistics.mean(b for b, _ in before),
            "files_per_job": statistics.mean(f for _, f in before),
            "after_downloads": {"bytes": after[0], "files": after[1], "formats": OTHER_FORMATS},
            "files_of_a_job": files, "db_bytes": db.stat().st_size,
            "http_submit_ms_median": 1000 * statistics.median(submit),
            "template": str(jobs / ids[-1])}  # a job nobody downloaded


def submit_latency(store: JobStore, quota: Quota | None, n: int = 200) -> float:
    """Median seconds of `JobStore.submit` creating a new job (then removed again)."""
    times, made = [], []
    for i in range(n):
        key = uuid.uuid4().hex
        start = time.perf_counter()
        job, created = store.submit(service="quick", version="v1", cache_key=key,
                                    parameters={"x": i}, owner=None, requester=f"user{i % 7}",
                                    quota=quota)
        times.append(time.perf_counter() - start)
        assert created
        made.append(job.id)
    with store.engine.begin() as connection:
        connection.execute(JobRow.__table__.delete().where(JobRow.__table__.c.id.in_(made)))
    return statistics.median(times)


def insert_jobs(store: JobStore, artifacts: ArtifactStore, template: Path, count: int,
                stored: int, finished: float) -> None:
    """``count`` done jobs, each with a copy of the template job's files."""
    table = JobRow.__table__
    files = [p for p in template.rglob("*") if p.is_file()]
    contents = {p.relative_to(template): p.read_bytes() for p in files}
    rows = []
    for _ in range(count):
        job_id = uuid.uuid4().hex
        key = uuid.uuid4().hex
        folder = artifacts.job_dir(job_id)
        for relative, data in contents.items():
            target = folder / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        rows.append({"id": job_id, "service": "quick", "version": "v1", "cache_key": key,
                     "live_key": key, "state": "done", "owner": None,
                     "requester": f"user{len(rows) % 1000}", "parameters": {"x": 1.0},
                     "products": [], "attempts": 1, "created": finished - 1,
                     "started": finished - 0.5, "finished": finished,
                     "job_dir": str(folder), "cancel_requested": False,
                     "stored_bytes": stored})
    with store.engine.begin() as connection:
        connection.execute(table.insert(), rows)


def at_scale(root: Path, template: Path, total: int, deadline: float) -> dict[str, Any]:
    data = root / f"scale-{total}"
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    store = JobStore(sqlite_url(data / "astroflow.db"))
    store.migrate()
    artifacts = ArtifactStore(data / "artifacts")
    stored = folder_usage(template, skip=("work", "derived"))[0]
    quota = Quota(jobs_per_day=10 ** 9, stored_bytes=1 << 50)
    latency: dict[int, dict[str, float]] = {}
    have = 0
    finished = time.time() - 3600  # within the last day: the idle sweep checks them all
    insert_seconds = 0.0
    for milestone in sorted({0, min(10_000, total), total}):
        while have < milestone and time.monotonic() < deadline:
            step = min(BATCH, milestone - have)
            start = time.perf_counter()
            insert_jobs(store, artifacts, template, step, stored, finished)
            insert_seconds += time.perf_counter() - start
            have += step
        latency[have] = {"submit_ms": 1000 * submit_latency(store, None),
                         "submit_with_quota_ms": 1000 * submit_latency(store, quota)}
        print(f"  {have:>7} jobs: submit {latency[have]['submit_ms']:.2f} ms, with quotas "
              f"{latency[have]['submit_with_quota_ms']:.2f} ms", flush=True)
        if have < milestone:
            break
    usage = folder_usage(artifacts.root / "jobs")
    db_before = (data / "astroflow.db").stat().st_size
    start = time.perf_counter()  # the periodic sweep's cost when nothing is due
    idle = Sweeper(store, artifacts, StoragePolicy(upload_max_age=None)).run()
    idle_seconds = time.perf_counter() - start
    assert not idle.removals
    sweeper = Sweeper(store, artifacts, StoragePolicy(max_age=0, in_use_grace=0,
                                                      upload_max_age=None))
    start = time.perf_counter()
    report = sweeper.run()
    gc_seconds = time.perf_counter() - start
    left = folder_usage(artifacts.root / "jobs")
    after = {"submit_ms": 1000 * submit_latency(store, None),
             "submit_with_quota_ms": 1000 * submit_latency(store, quota)}
    store.close()
    shutil.rmtree(data, ignore_errors=True)
    return {"jobs": have, "folder": str(root), "insert_seconds": insert_seconds, "latency": latency,
            "store_bytes": usage[0], "store_files": usage[1], "db_bytes": db_before,
            "idle_sweep_seconds": idle_seconds, "gc_seconds": gc_seconds, "gc_expired": len(report.removals),
            "gc_freed_bytes": report.freed, "gc_freed_files": sum(r.files for r in report.removals),
            "left_bytes": left[0], "left_files": left[1], "after_gc": after}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--real", type=int, default=100, help="real jobs through the server")
    parser.add_argument("--max-seconds", type=float, default=900.0)
    parser.add_argument("--scratch", type=Path, default=None,
                        help="real jobs and the on-disk run (default ~/.cache/astroflow-bench)")
    parser.add_argument("--scale-scratch", type=Path, default=Path("/dev/shm"),
                        help="folder of the 10⁵-job store (default /dev/shm, a tmpfs: this "
                             "machine's disk takes 3–4 ms per rmdir, which would measure "
                             "the disk rather than the sweep); the same run on --scratch "
                             "with --disk-jobs jobs gives the disk's figure")
    parser.add_argument("--disk-jobs", type=int, default=2000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    deadline = time.monotonic() + args.max_seconds
    root = (args.scratch or default_scratch()) / f"storage-{os.getpid()}"
    root.mkdir(parents=True)
    scale_root = args.scale_scratch / f"astroflow-storage-{os.getpid()}"
    scale_root.mkdir(parents=True)
    try:
        print(f"{args.real} real jobs through a server …", flush=True)
        real = real_jobs(root, args.real)
        after = real["after_downloads"]
        print(f"  {real['bytes_per_job'] / 1024:.1f} KiB and {real['files_per_job']:.1f} files "
              f"a job; after one download in each of {', '.join(OTHER_FORMATS)}: "
              f"{after['bytes'] / 1024:.1f} KiB in {after['files']} files "
              f"({', '.join(real['files_of_a_job'])}); HTTP submit "
              f"{real['http_submit_ms_median']:.1f} ms; database "
              f"{real['db_bytes'] / 1e6:.2f} MB", flush=True)
        template = Path(real.pop("template"))
        runs = {}
        for name, folder, count in (("tmpfs", scale_root, args.jobs),
                                    ("disk", root, args.disk_jobs)):
            print(f"{count} jobs inserted through the store in {folder} …", flush=True)
            scale = runs[name] = at_scale(folder, template, count, deadline)
            print(f"  store: {scale['store_bytes'] / 1e6:.1f} MB in {scale['store_files']} "
                  f"files, database {scale['db_bytes'] / 1e6:.1f} MB; inserted in "
                  f"{scale['insert_seconds']:.1f} s")
            print(f"  a sweep with nothing due: {scale['idle_sweep_seconds']:.2f} s")
            print(f"  gc: {scale['gc_expired']} jobs expired in {scale['gc_seconds']:.1f} s "
                  f"({1000 * scale['gc_seconds'] / max(1, scale['gc_expired']):.2f} ms a job), "
                  f"{scale['gc_freed_bytes'] / 1e6:.1f} MB and {scale['gc_freed_files']} files "
                  f"freed; {scale['left_files']} files left; submit after "
                  f"{scale['after_gc']['submit_ms']:.2f} ms", flush=True)
        if args.json:
            print(json.dumps({"real": real, **runs}, indent=2, default=str))
    finally:
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(scale_root, ignore_errors=True)


if __name__ == "__main__":
    main()
