"""The job store on both databases: join/cache semantics, FIFO claims, races, recovery."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest
from pg import private_schema

from astroflow.jobs.migrate import current
from astroflow.jobs.store import MAX_ATTEMPTS, JobStore, QueueFull, sqlite_url


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    if request.param == "sqlite":
        s = JobStore(sqlite_url(tmp_path / "jobs.db"))
        s.migrate()
        yield s
        s.close()
        return
    with private_schema() as url:
        s = JobStore(url)
        s.migrate()
        yield s
        s.close()


def _submit(store: JobStore, key: str = "k1", owner: str | None = "alice", **kw):
    return store.submit(service="svc", version="v1", cache_key=key, parameters={"x": 1},
                        owner=owner, **kw)


def test_migrations_are_idempotent(store):
    store.migrate()
    assert current(store.engine) == "0007"


def test_identical_requests_join_then_hit_cache(store):
    job, created = _submit(store)
    assert created and job.state == "queued"
    joined, created2 = _submit(store, owner="bob")
    assert not created2 and joined.id == job.id
    claimed = store.claim_next("host:1")
    assert claimed.id == job.id and claimed.state == "running" and claimed.attempts == 1
    assert _submit(store)[0].id == job.id  # joins the running job
    assert store.finish(job.id, "done", products=[{"name": "p"}])
    cached, created3 = _submit(store)
    assert not created3 and cached.state == "done" and cached.products == [{"name": "p"}]


@pytest.mark.parametrize("end", ["failed", "cancelled"])
def test_failed_and_cancelled_are_never_served(store, end):
    job, _ = _submit(store)
    store.claim_next("host:1")
    store.finish(job.id, end, error={"type": "bug", "message": "boom"})
    again, created = _submit(store)
    assert created and again.id != job.id and again.state == "queued"


def test_concurrent_identical_submissions_create_one_job(store):
    results, errors = [], []

    def go():
        try:
            results.append(_submit(store, key="race"))
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=go) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sum(created for _, created in results) == 1
    assert len({job.id for job, _ in results}) == 1


def test_fifo_and_no_double_claim(store):
    ids = [_submit(store, key=f"k{i}")[0].id for i in range(20)]
    claimed, lock = [], threading.Lock()

    def worker(name):
        while (job := store.claim_next(name)) is not None:
            with lock:
                claimed.append(job.id)

    threads = [threading.Thread(target=worker, args=(f"h:{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(claimed) == sorted(ids) and len(claimed) == len(set(claimed))
    # A single worker sees them in submission order.
    more = [_submit(store, key=f"m{i}")[0].id for i in range(5)]
    assert [store.claim_next("h:9").id for _ in more] == more


def test_queue_limit_per_owner(store):
    for i in range(3):
        _submit(store, key=f"q{i}", queue_limit=3)
    with pytest.raises(QueueFull, match="3 queued jobs"):
        _submit(store, key="q3", queue_limit=3)
    _submit(store, key="other", owner="bob", queue_limit=3)  # bob has his own allowance


def test_cancel(store):
    queued, _ = _submit(store, key="a")
    assert store.cancel(queued.id).state == "cancelled"
    running, _ = _submit(store, key="b")
    store.claim_next("h:1")
    job = store.cancel(running.id)
    assert job.state == "running" and job.cancel_requested
    assert store.cancel_requested([running.id, queued.id]) == {running.id}


def test_progress_is_stored(store):
    job, _ = _submit(store)
    store.claim_next("h:1")
    store.report_progress(job.id, {"stage": "fit", "fraction": 0.5, "message": "half"})
    assert store.get(job.id).progress["fraction"] == 0.5


def test_recovery_requeues_once_then_fails(store):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    host = os.uname().nodename
    job, _ = _submit(store)
    store.claim_next(f"{host}:{dead}")
    requeued, failed = store.recover(f"{host}:{os.getpid()}")
    assert requeued == [job.id] and failed == []
    assert store.get(job.id).state == "queued"
    for _ in range(MAX_ATTEMPTS - 1):
        store.claim_next(f"{host}:{dead}")
    requeued, failed = store.recover(f"{host}:{os.getpid()}")
    assert failed == [job.id]
    final = store.get(job.id)
    assert final.state == "failed" and "interrupted" in final.error["message"]
    # A live worker's jobs are left alone.
    live, _ = _submit(store, key="live")
    store.claim_next(f"{host}:{os.getpid()}")
    assert store.recover(f"{host}:{os.getpid()}") == ([], [])
    assert store.get(live.id).state == "running"


def test_anonymous_callers_have_an_allowance_per_address(store):
    for i in range(2):
        _submit(store, key=f"a{i}", owner=None, requester="anon:10.0.0.1", queue_limit=2)
    with pytest.raises(QueueFull):
        _submit(store, key="a2", owner=None, requester="anon:10.0.0.1", queue_limit=2)
    job, created = _submit(store, key="b0", owner=None, requester="anon:10.0.0.2", queue_limit=2)
    assert created and job.owner is None
