"""The storage policy as the operator writes it, quotas at submit, and the sweep's lease:
one process at a time on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from lifecycle_helpers import ended_job
from pg import private_schema

from astroflow.jobs.artifacts import ArtifactStore
from astroflow.jobs.store import JobStore, Quota, QuotaExceeded, sqlite_url
from astroflow.lifecycle import lease
from astroflow.lifecycle.housekeeping import LEASE, Housekeeper
from astroflow.lifecycle.policy import PolicyError, StoragePolicy

TOML = """
[storage]
max_age = "30d"
max_bytes = "50GB"
upload_max_age = "P2D"
interval = 60

[storage.services]
icecube = "90d"
quick = "never"

[storage.quota]
jobs_per_day = 100
stored_bytes = "1GiB"
exempt_roles = ["operator"]

[storage.quota.roles.astronomer]
jobs_per_day = 10000
"""


def test_policy_from_toml_then_environment(tmp_path):
    path = tmp_path / "astroflow.toml"
    path.write_text(TOML)
    policy = StoragePolicy.load(path, {"ASTROFLOW_MAX_STORE": "2GiB",
                                       "ASTROFLOW_QUOTA_JOBS_PER_DAY": "50"})
    assert policy.max_age == 30 * 86400 and policy.max_bytes == 2 * 1024 ** 3
    assert policy.age_limit("icecube") == 90 * 86400 and policy.age_limit("quick") is None
    assert policy.age_limit("other") == 30 * 86400
    assert policy.upload_max_age == 2 * 86400 and policy.interval == 60
    assert policy.quota.for_roles([]) == Quota(jobs_per_day=50, stored_bytes=1024 ** 3)
    assert policy.quota.for_roles(["astronomer"]) == Quota(10000, 1024 ** 3)
    assert policy.quota.for_roles(["operator", "astronomer"]).unlimited


@pytest.mark.parametrize(("table", "named"), [
    ({"max_bytes": "lots"}, "storage.max_bytes"),
    ({"max_age": "soon"}, "storage.max_age"),
    ({"services": {"x": -5}}, "storage.services.x"),
    ({"quota": {"jobs_per_day": "many"}}, "storage.quota.jobs_per_day"),
    ({"max_agee": "1d"}, "'max_agee'"),
])
def test_bad_settings_name_the_field_and_the_reason(table, named):
    with pytest.raises(PolicyError, match=named):
        StoragePolicy.from_table(table)


@pytest.fixture
def store(tmp_path):
    store = JobStore(sqlite_url(tmp_path / "jobs.db"))
    store.migrate()
    yield store
    store.close()


def test_jobs_per_day_quota_refuses_new_jobs_but_not_joining(store):
    quota = Quota(jobs_per_day=2)
    for key in ("a", "b"):
        store.submit(service="s", version="v", cache_key=key, parameters={}, owner="alice",
                     quota=quota)
    with pytest.raises(QuotaExceeded, match="at most 2 new jobs a day") as refused:
        store.submit(service="s", version="v", cache_key="c", parameters={}, owner="alice",
                     quota=quota)
    assert refused.value.limit == "jobs_per_day" and 0 < refused.value.retry_after <= 86401
    joined, created = store.submit(service="s", version="v", cache_key="a", parameters={},
                                   owner="alice", quota=quota)
    assert not created  # joining costs nothing
    _, created = store.submit(service="s", version="v", cache_key="c", parameters={},
                              owner="bob", quota=quota)
    assert created  # per caller


def test_stored_bytes_quota_counts_kept_results_only(store, tmp_path):
    artifacts = ArtifactStore(tmp_path / "artifacts")
    job = ended_job(store, artifacts, size=5000, requester="alice")
    quota = Quota(stored_bytes=4000)
    with pytest.raises(QuotaExceeded, match="stored_bytes"):
        store.submit(service="s", version="v", cache_key="n", parameters={}, owner="alice",
                     quota=quota)
    from astroflow.lifecycle import ledger

    assert ledger.expire(store.engine, [job], time.time(), time.time()) == [job]
    _, created = store.submit(service="s", version="v", cache_key="n", parameters={},
                              owner="alice", quota=quota)
    assert created


def _contend(url: str, tmp_path) -> None:
    """Eight threads, each its own engine (as replicas are), sweep at once: exactly one
    sweeps; while it holds the lease nobody else does; a dead holder's lease runs out."""
    stores = [JobStore(url) for _ in range(8)]
    stores[0].migrate()
    artifacts = ArtifactStore(tmp_path / "artifacts")
    inside, most = [0], [0]
    guard = threading.Lock()
    keepers = [Housekeeper(s, artifacts, StoragePolicy(), holder=f"replica-{i}")
               for i, s in enumerate(stores)]
    for job_index in range(3):
        ended_job(stores[0], artifacts, finished=time.time() - 10 * job_index)

    def sweep(keeper: Housekeeper):
        def counting(_job_id: str) -> bool:
            """Counts the sweeps inside their removal step at this moment."""
            with guard:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
            time.sleep(0.05)
            with guard:
                inside[0] -= 1
            return False

        keeper.in_use = counting  # type: ignore[method-assign]
        return keeper.sweep(need_bytes=1)  # forces the LRU step, which asks in_use

    start = threading.Barrier(len(keepers))

    def at_once(keeper: Housekeeper):
        start.wait()
        return sweep(keeper)

    try:
        with ThreadPoolExecutor(len(keepers)) as pool:
            reports = list(pool.map(at_once, keepers))
        assert sum(r is not None for r in reports) >= 1
        assert sum(len(r.removals) for r in reports if r) >= 1
        assert most[0] == 1  # never two sweeps at the same time
        assert lease.holder(stores[0].engine, LEASE) is None  # released after the sweep
        assert lease.acquire(stores[1].engine, LEASE, "dead", ttl=0.2)
        assert not lease.acquire(stores[2].engine, LEASE, "alive", ttl=10)
        time.sleep(0.3)
        assert lease.acquire(stores[2].engine, LEASE, "alive", ttl=10)  # the dead one's ran out
    finally:
        for s in stores:
            s.close()


def test_one_sweeper_at_a_time_on_sqlite(tmp_path):
    _contend(sqlite_url(tmp_path / "jobs.db"), tmp_path)


def test_one_sweeper_at_a_time_on_postgresql(tmp_path):
    with private_schema() as url:
        _contend(url, tmp_path)


def test_a_disk_below_min_free_counts_as_full(store, tmp_path):
    artifacts = ArtifactStore(tmp_path / "artifacts")
    free = artifacts.free_bytes()
    assert free is not None and free > 0
    below = Housekeeper(store, artifacts, StoragePolicy(min_free=free * 1000), holder="a")
    above = Housekeeper(store, artifacts, StoragePolicy(min_free=1), holder="b")
    assert below.full and not above.full
    above.store_full()  # a run hit ENOSPC: full until a sweep frees space
    assert above.full
    ended_job(store, artifacts, finished=time.time() - 100)
    report = above.sweep()
    assert report is not None and report.freed > 0 and not above.full
