"""The sweep on a real store (SQLite) and real artifact stores (a local folder, and fsspec's
``memory://``): what the policy removes, what it must keep, and that it says so."""

from __future__ import annotations

import os
import time

import pytest
from lifecycle_helpers import ended_job

from astroflow.jobs.artifacts import ArtifactStore
from astroflow.jobs.store import JobStore, sqlite_url
from astroflow.lifecycle.policy import StoragePolicy
from astroflow.lifecycle.sweep import Sweeper

DAY = 86400.0


@pytest.fixture(params=["folder", "memory"])
def stores(request, tmp_path):
    store = JobStore(sqlite_url(tmp_path / "jobs.db"))
    store.migrate()
    if request.param == "folder":
        artifacts = ArtifactStore(tmp_path / "artifacts")
    else:
        artifacts = ArtifactStore(f"memory://lc-{tmp_path.name}", cache=tmp_path / "cache")
    yield store, artifacts
    store.close()


def on_disk(artifacts: ArtifactStore, job_id: str) -> bool:
    """Whether any of the job's files is still in the store (and its local cache)."""
    return artifacts.usage(job_id) != (0, 0) or artifacts.job_dir(job_id).exists()


def test_max_age_per_service_expires_old_results_and_keeps_the_record(stores):
    store, artifacts = stores
    now = time.time()
    old = ended_job(store, artifacts, service="short", finished=now - 3 * DAY)
    young = ended_job(store, artifacts, service="short", finished=now - 0.5 * DAY)
    kept = ended_job(store, artifacts, service="long", finished=now - 3 * DAY)
    policy = StoragePolicy(max_age=2 * DAY, service_max_age={"long": 10 * DAY}, in_use_grace=0)
    report = Sweeper(store, artifacts, policy).run()
    assert [(r.kind, r.target) for r in report.removals] == [("age", old)]
    assert report.freed >= 1000
    assert not on_disk(artifacts, old) and on_disk(artifacts, young) and on_disk(artifacts, kept)
    record = store.get(old)
    assert record.state == "done" and record.expired is not None and record.parameters
    assert store.get(young).expired is None and store.get(kept).expired is None


def test_an_identical_request_recomputes_once_the_result_expired(stores):
    store, artifacts = stores
    job = ended_job(store, artifacts, key="same", finished=time.time() - 3 * DAY)
    joined, created = store.submit(service="svc", version="v1", cache_key="same",
                                   parameters={}, owner=None)
    assert (joined.id, created) == (job, False)
    assert store.get(job).last_used is not None  # joining is a use: evicted last
    Sweeper(store, artifacts, StoragePolicy(max_age=DAY, in_use_grace=0)).run()
    again, created = store.submit(service="svc", version="v1", cache_key="same",
                                  parameters={}, owner=None)
    assert created and again.id != job and again.state == "queued"


def test_failed_and_cancelled_jobs_files_go_after_ended_max_age(stores):
    store, artifacts = stores
    now = time.time()
    failed = ended_job(store, artifacts, state="failed", finished=now - 2 * DAY)
    cancelled = ended_job(store, artifacts, state="cancelled", finished=now - 2 * DAY)
    recent = ended_job(store, artifacts, state="failed", finished=now - 60)
    done = ended_job(store, artifacts, finished=now - 30 * DAY)  # no max_age: kept forever
    report = Sweeper(store, artifacts, StoragePolicy(ended_max_age=DAY, in_use_grace=0)).run()
    assert sorted(r.target for r in report.removals if r.kind == "ended") == sorted(
        [failed, cancelled])
    assert on_disk(artifacts, recent) and on_disk(artifacts, done)


def test_dry_run_reports_the_same_and_removes_nothing(stores):
    store, artifacts = stores
    old = ended_job(store, artifacts, finished=time.time() - 3 * DAY)
    policy = StoragePolicy(max_age=DAY, in_use_grace=0)
    dry = Sweeper(store, artifacts, policy).run(dry_run=True)
    assert [(r.kind, r.target) for r in dry.removals] == [("age", old)]
    assert on_disk(artifacts, old) and store.get(old).expired is None
    real = Sweeper(store, artifacts, policy).run()
    assert [(r.kind, r.target, r.bytes) for r in real.removals] == [
        (r.kind, r.target, r.bytes) for r in dry.removals]


def test_lru_eviction_takes_derived_files_first_then_least_recently_used_results(stores):
    store, artifacts = stores
    now = time.time()
    a = ended_job(store, artifacts, size=10_000, finished=now - 500)
    b = ended_job(store, artifacts, size=10_000, finished=now - 400)
    c = ended_job(store, artifacts, size=10_000, finished=now - 300)
    store.touch(a, last_used=now - 10)           # a was downloaded lately: b is the oldest use
    derived = artifacts.job_dir(c) / "derived"   # a converted format, used long ago
    derived.mkdir()
    (derived / "table.votable").write_bytes(b"v" * 3000)
    os.utime(derived / "table.votable", (now - 1000, now - 1000))
    store.touch(c, last_used=now - 200)
    total = 3 * artifacts.usage(a)[0] + 3000
    # 3,000 over: the derived file alone is enough
    report = Sweeper(store, artifacts, StoragePolicy(max_bytes=total - 3000,
                                                     in_use_grace=0)).run()
    assert [r.kind for r in report.removals] == ["derived"]
    assert not (derived / "table.votable").exists()
    # 5,000 over: one whole result, the least recently used (b)
    report = Sweeper(store, artifacts, StoragePolicy(max_bytes=total - 8000,
                                                     in_use_grace=0)).run()
    assert [(r.kind, r.target) for r in report.removals] == [("lru", b)]
    assert on_disk(artifacts, a) and on_disk(artifacts, c) and not on_disk(artifacts, b)
    assert report.stored_bytes <= total - 8000


def test_jobs_in_use_are_never_removed(stores):
    """Used within the grace (a download recorded in the database, from any replica), or
    held by a download in progress in this process: kept; queued and running jobs are never
    candidates at all."""
    store, artifacts = stores
    now = time.time()
    used = ended_job(store, artifacts, finished=now - 3 * DAY)
    held = ended_job(store, artifacts, finished=now - 3 * DAY)
    store.touch(used, last_used=now - 5)
    queued, _ = store.submit(service="svc", version="v1", cache_key="q", parameters={},
                             owner=None)
    artifacts.job_dir(queued.id).mkdir(parents=True)
    (artifacts.job_dir(queued.id) / "inputs.dat").write_bytes(b"i")
    sweeper = Sweeper(store, artifacts, StoragePolicy(max_age=DAY, max_bytes=0,
                                                      ended_max_age=0, in_use_grace=60),
                      in_use=lambda job_id: job_id == held)
    report = sweeper.run()
    assert report.removals == [] and report.skipped_in_use >= 2
    assert on_disk(artifacts, used) and on_disk(artifacts, held)
    assert (artifacts.job_dir(queued.id) / "inputs.dat").exists()


def test_uploads_expire_unless_a_waiting_job_refers_to_them(stores):
    store, artifacts = stores
    from astroflow.jobs.uploads import store_upload

    old = store_upload(artifacts, iter([b"old data"]), "a.txt", 1 << 20)
    wanted = store_upload(artifacts, iter([b"wanted data"]), "b.txt", 1 << 20)
    store.submit(service="svc", version="v1", cache_key="w", parameters={"f": [wanted.ref]},
                 owner=None)
    policy = StoragePolicy(upload_max_age=DAY)
    assert Sweeper(store, artifacts, policy).run().removals == []  # not a day old yet
    later = time.time() + 2 * DAY
    report = Sweeper(store, artifacts, policy, clock=lambda: later).run()
    assert [(r.kind, r.target, r.bytes) for r in report.removals] == [
        ("upload", old.relative, len(b"old data"))]
    assert report.skipped_in_use == 1
    assert not (artifacts.cache / old.relative).exists()
    names = {relative for relative, *_ in artifacts.stored_files("uploads")}
    assert wanted.relative in names and old.relative not in names


def test_leftover_scratch_of_ended_runs_is_removed(stores):
    store, artifacts = stores
    job = ended_job(store, artifacts, state="failed", scratch=True)
    report = Sweeper(store, artifacts, StoragePolicy(ended_max_age=None)).run()
    assert [(r.kind, r.target, r.bytes) for r in report.removals] == [("scratch", job, 100)]
    assert not (artifacts.job_dir(job) / "work").exists()
    assert (artifacts.job_dir(job) / "executed.ipynb").exists()


def test_sizes_of_jobs_that_ended_before_they_were_measured_are_recorded(stores):
    store, artifacts = stores
    job = ended_job(store, artifacts, size=4321)
    with store.engine.begin() as connection:
        from sqlalchemy import text

        connection.execute(text("UPDATE jobs SET stored_bytes = NULL"))
    report = Sweeper(store, artifacts, StoragePolicy()).run()
    assert report.measured == 1 and store.get(job).stored_bytes == artifacts.usage(job)[0] >= 4321


def test_files_of_a_job_expired_by_an_interrupted_sweep_are_removed_later(stores):
    """A sweep that stopped between marking a job expired and removing its files (killed,
    or its lease lost) leaves them; the next sweep removes them."""
    store, artifacts = stores
    from astroflow.lifecycle import ledger

    job = ended_job(store, artifacts, size=777)
    assert ledger.expire(store.engine, [job], time.time(), time.time()) == [job]
    assert artifacts.job_dir(job).exists()
    report = Sweeper(store, artifacts, StoragePolicy()).run()
    assert [(r.kind, r.target) for r in report.removals] == [("leftover", job)]
    assert not on_disk(artifacts, job)
