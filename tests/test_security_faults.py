"""Jobs survive every stop: SIGTERM drains, a dead replica's jobs are taken over, and a run
that ended but was never recorded is recorded from its files rather than run again.

Real `astroflow serve` processes, real SQLite and PostgreSQL; no mocks.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from pg import private_schema
from server_process import ServerProcess
from sqlalchemy import update

from astroflow.jobs.model import Job, JobRow
from astroflow.jobs.store import STALE_AFTER, JobStore, sqlite_url

API = "/api/v1"
TAKEOVER_LIMIT = 30.0  # seconds from a replica's kill -9 to its jobs being taken over


@contextlib.contextmanager
def _store(url: str) -> Iterator[JobStore]:
    store = JobStore(url)
    try:
        yield store
    finally:
        store.close()


def _submit(client: httpx.Client, service: str, **parameters: object) -> str:
    reply = client.post(f"{API}/services/{service}/jobs", json={"parameters": parameters})
    assert reply.status_code in (200, 201), reply.text
    return reply.json()["id"]


def _jobs(store: JobStore, ids: list[str]) -> list[Job]:
    jobs = [store.get(job_id) for job_id in ids]
    assert all(job is not None for job in jobs)
    return jobs  # type: ignore[return-value]


def _until(check: Callable[[], bool], seconds: float, what: str) -> float:
    """Poll ``check`` until it holds; returns the time.monotonic() when it did."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return time.monotonic()
        time.sleep(0.1)
    raise AssertionError(f"not within {seconds} s: {what}")


def _terminate(server: ServerProcess) -> None:
    """SIGTERM to the server process alone, as Kubernetes sends it to a pod's process."""
    assert server.process is not None
    os.kill(server.process.pid, signal.SIGTERM)


def _exit_time(server: ServerProcess, seconds: float) -> float:
    """Seconds until the server process exits (fails after ``seconds``)."""
    assert server.process is not None
    start = time.monotonic()
    try:
        server.process.wait(seconds)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"server still running {seconds} s after SIGTERM:\n"
                             f"{server.log()[-3000:]}") from None
    return time.monotonic() - start


def _dead_pid() -> int:
    """The pid of a process that has exited (on this host)."""
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                           capture_output=True, text=True, check=True)
    return int(child.stdout)


def _tag() -> str:
    return uuid.uuid4().hex[:8]


def _four_running(server: ServerProcess, store: JobStore, seconds: float) -> list[str]:
    """Four `slow` jobs, returned once the store has them all running."""
    with httpx.Client(base_url=server.url, timeout=30) as client:
        ids = [_submit(client, "slow", seconds=seconds, tag=_tag()) for _ in range(4)]
    _until(lambda: all(j.state == "running" for j in _jobs(store, ids)), 30, "4 jobs running")
    return ids


# -- (a) SIGTERM drains --------------------------------------------------------------------


@contextlib.contextmanager
def _sqlite_server(tmp_path: Path, grace: str) -> Iterator[tuple[ServerProcess, JobStore]]:
    """A server with this drain grace (set by environment), and its store."""
    data = tmp_path / "data"
    server = ServerProcess(data, workers=4, env={"ASTROFLOW_DRAIN_GRACE": grace}).start()
    try:
        with _store(sqlite_url(data / "astroflow.db")) as store:
            yield server, store
    finally:
        server.stop()


def test_sigterm_lets_running_jobs_finish_within_the_grace(tmp_path: Path) -> None:
    with _sqlite_server(tmp_path, "30") as (server, store):
        ids = _four_running(server, store, 4.0)
        _terminate(server)
        _until(lambda: '"draining: ' in server.log(), 10, "the drain begun")
        # Claimed by nobody while the server drains.
        late, _ = store.submit(service="slow", version="v", cache_key=_tag(),
                               parameters={"seconds": 0.1, "tag": "late"}, owner=None)
        took = _exit_time(server, 40)
        assert took < 15, f"the drain took {took:.1f} s for 4 s jobs"
        assert [j.state for j in _jobs(store, ids)] == ["done"] * 4
        late_job = store.get(late.id)
        assert late_job is not None and late_job.state == "queued"
        assert late_job.job_dir is None and late_job.attempts == 0  # never claimed


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_sigterm_after_the_grace_requeues_and_a_restart_finishes(tmp_path: Path,
                                                                database: str) -> None:
    data = tmp_path / "data"
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(private_schema()) if database == "postgresql" else None
        db = url or sqlite_url(data / "astroflow.db")
        server = ServerProcess(data, db=url, workers=4, extra_args=["--drain-grace", "1"]).start()
        stack.callback(lambda: server.stop())
        store = stack.enter_context(_store(db))
        ids = _four_running(server, store, 6.0)
        _terminate(server)
        took = _exit_time(server, 20)
        assert took < 10, f"a 1 s grace took {took:.1f} s"
        for job in _jobs(store, ids):
            # Back in the queue as if never claimed: not cancelled, no attempt used up.
            assert (job.state, job.attempts, job.worker, job.error) == ("queued", 0, None, None)
            assert job.started is None
        assert "cancelled" not in server.log()

        server = ServerProcess(data, db=url, workers=4, port=server.port).start()
        _until(lambda: all(j.state == "done" for j in _jobs(store, ids)), 60,
               "the re-queued jobs done after the restart")
        assert [j.attempts for j in _jobs(store, ids)] == [1] * 4


def test_a_second_sigterm_skips_the_grace(tmp_path: Path) -> None:
    with _sqlite_server(tmp_path, "120") as (server, store):
        ids = _four_running(server, store, 60.0)
        _terminate(server)
        time.sleep(1.5)
        assert server.process is not None and server.process.poll() is None  # draining
        _terminate(server)
        took = _exit_time(server, 20)
        assert took < 10, f"the second SIGTERM still took {took:.1f} s"
        assert [(j.state, j.attempts) for j in _jobs(store, ids)] == [("queued", 0)] * 4


# -- (b) a live replica takes over a killed one's jobs -------------------------------------


def test_a_live_replica_takes_over_a_killed_replicas_jobs(tmp_path: Path) -> None:
    """Two replicas on one PostgreSQL database, seen as two hosts: only heartbeats tell
    whether a claim is alive. `nap` reports no progress, so the runner's own beats must
    keep a busy replica's jobs its own. Both run with an 8 s stale window (the operator's
    ASTROFLOW_STALE_AFTER; 20 s by default) so the test waits less."""
    stale = 8.0
    artifacts = tmp_path / "artifacts"
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(private_schema())
        store = stack.enter_context(_store(url))

        def replica(name: str) -> ServerProcess:
            process = ServerProcess(tmp_path / name, db=url, workers=4,
                                    extra_args=["--store", str(artifacts)],
                                    env={"ASTROFLOW_WORKER_HOST": name,
                                         "ASTROFLOW_STALE_AFTER": str(stale)})
            stack.callback(process.stop)
            return process.start()

        a = replica("replica-a")
        assert a.process is not None
        on_a = f"replica-a:{a.process.pid}"
        seconds = stale + 12  # outlasts replica B's start and the stale window
        with httpx.Client(base_url=a.url, timeout=30) as client:
            ids = [_submit(client, "nap", seconds=seconds, tag=_tag()) for _ in range(4)]
        _until(lambda: all(j.state == "running" and j.worker == on_a
                           for j in _jobs(store, ids)), 30, "4 jobs running on replica A")
        claimed = max(j.started or 0 for j in _jobs(store, ids))
        b = replica("replica-b")

        # A busy, live replica keeps its jobs past the stale window: its beats keep them fresh.
        time.sleep(max(0.0, claimed + stale + 3 - time.time()))
        jobs = _jobs(store, ids)
        assert all(j.state == "running" and j.worker == on_a for j in jobs), \
            [(j.state, j.worker) for j in jobs]
        assert [j.attempts for j in jobs] == [1] * 4

        a.kill9()
        killed = time.monotonic()
        taken = _until(lambda: all(j.worker != on_a for j in _jobs(store, ids)),
                       stale + 10, "replica B took over replica A's jobs")
        takeover = taken - killed
        print(f"takeover {takeover:.1f} s after kill -9")
        assert takeover <= stale + 5  # the window plus a look (TAKEOVER_LIMIT at the default)
        _until(lambda: all(j.state == "done" for j in _jobs(store, ids)), seconds + 30,
               "the taken-over jobs done")
        jobs = _jobs(store, ids)
        assert all(j.worker.startswith("replica-b:") and j.attempts == 2 for j in jobs)
        with httpx.Client(base_url=b.url, timeout=30) as client:
            reply = client.get(f"{API}/jobs/{ids[0]}/products/slept", params={"format": "json"})
            assert reply.status_code == 200, reply.text


# -- (c) finished but not recorded ---------------------------------------------------------


def _unrecord(store: JobStore, job_id: str, worker: str) -> None:
    """The store as a server leaves it when it dies between the run's end and its record."""
    with store.session() as s, s.begin():
        s.execute(update(JobRow).where(JobRow.id == job_id).values(
            state="running", worker=worker, heartbeat=time.time() - 10 * STALE_AFTER,
            finished=None, products=[], progress=None))


def _files(job_dir: Path) -> dict[str, int]:
    """Every file of the job's folder with its modification time: a new run rewrites them."""
    return {str(p.relative_to(job_dir)): p.stat().st_mtime_ns
            for p in sorted(job_dir.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_a_finished_but_unrecorded_job_is_recorded_not_run_again(tmp_path: Path,
                                                                 database: str) -> None:
    """SQLite: a restart finds it (a dead process of this host held it). PostgreSQL: a live
    server's periodic look finds it (another host's worker went silent). A job whose folder
    holds no complete result runs again."""
    data = tmp_path / "data"
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(private_schema()) if database == "postgresql" else None
        db = url or sqlite_url(data / "astroflow.db")
        server = ServerProcess(data, db=url, workers=2).start()
        stack.callback(lambda: server.stop())
        store = stack.enter_context(_store(db))
        with httpx.Client(base_url=server.url, timeout=60) as client:
            ids = [_submit(client, "nap", seconds=0.1, tag=_tag()) for _ in range(2)]
            for job_id in ids:
                reply = client.get(f"{API}/jobs/{job_id}", params={"wait": 30}).json()
                assert reply["state"] == "done", reply
        complete, partial = _jobs(store, ids)
        folder = Path(complete.job_dir or "")
        before = _files(folder)
        # Recorded: the run's record (result.json) is dropped, the database holds it.
        assert "result.json" not in before and "executed.ipynb" in before
        assert not (Path(partial.job_dir or "") / "result.json").exists()
        # A server that dies between a run's end and its record leaves the run's record as
        # the run wrote it (its status and product records); the second job's was never
        # written (it is the run's last write): incomplete.
        (folder / "result.json").write_text(json.dumps({"status": "done",
                                                        "products": complete.products}))

        if database == "sqlite":
            _terminate(server)
            _exit_time(server, 30)
            for job_id in ids:
                _unrecord(store, job_id, f"{os.uname().nodename}:{_dead_pid()}")
            server = ServerProcess(data, workers=2, port=server.port).start()
        else:
            for job_id in ids:
                _unrecord(store, job_id, "another-host:4242")
        _until(lambda: all(j.state == "done" for j in _jobs(store, ids)), 60,
               "both jobs done again")
        recorded, rerun = _jobs(store, ids)
        # Recorded from its files: same start, same attempt, same products, files untouched.
        assert recorded.started == complete.started and recorded.attempts == complete.attempts
        assert recorded.products == complete.products and recorded.finished is not None
        assert _files(folder) == before
        # The incomplete one ran again.
        assert rerun.started != partial.started and rerun.attempts == partial.attempts + 1
        with httpx.Client(base_url=server.url, timeout=30) as client:
            reply = client.get(f"{API}/jobs/{recorded.id}/products/slept",
                               params={"format": "json"})
            assert reply.status_code == 200 and json.loads(reply.content) is not None


# -- the store's side: one taker per job, live workers keep theirs -------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[JobStore]:
    with contextlib.ExitStack() as stack:
        url = (stack.enter_context(private_schema()) if request.param == "postgresql"
               else sqlite_url(tmp_path / "jobs.db"))
        s = stack.enter_context(_store(url))
        s.migrate()
        yield s


def test_silent_claims_are_taken_once_and_live_ones_kept(store: JobStore) -> None:
    ids = [store.submit(service="svc", version="v", cache_key=f"k{i}", parameters={"i": i},
                        owner=None)[0].id for i in range(6)]
    for _ in ids[:4]:
        store.claim_next("dead-host:1")
    for _ in ids[4:]:
        store.claim_next("live-host:2")
    with store.session() as s, s.begin():
        s.execute(update(JobRow).where(JobRow.worker == "dead-host:1")
                  .values(heartbeat=time.time() - STALE_AFTER - 1))
    with ThreadPoolExecutor(4) as pool:  # four replicas look at once
        results = list(pool.map(lambda n: store.take_over(f"replica-{n}:9"), range(4)))
    taken = [job_id for r in results for job_id in r.requeued]
    assert sorted(taken) == sorted(ids[:4])  # each exactly once
    # A silent worker's beat finds its jobs gone; a live one's finds them still its own.
    assert store.heartbeat(ids[:4], worker="dead-host:1") == set()
    assert store.heartbeat(ids[4:], worker="live-host:2") == set(ids[4:])
    assert all(store.get(i).state == "running" for i in ids[4:])
    # A stopping worker gives its job back without using up an attempt; not a cancelled one.
    assert store.requeue(ids[4], "live-host:2")
    back = store.get(ids[4])
    assert (back.state, back.attempts, back.worker) == ("queued", 0, None)
    store.cancel(ids[5])
    assert not store.requeue(ids[5], "live-host:2")
    assert not store.requeue(ids[0], "dead-host:1")  # no longer its
    # A taken-over worker's late result is not recorded over the new claim.
    store.claim_next("replica-0:9")
    assert not store.finish(ids[0], "done", worker="dead-host:1")
