"""The server's side of the lifecycle: the periodic sweep (one replica at a time, through a
lease in the database), the store-full state, downloads in progress, and telling the
replica's record cache which jobs expired.

A store found full (a run hit ENOSPC, or the disk is below ``min_free``) is swept at once;
until a sweep freed space, new jobs are refused with `StoreFull` (507) while every other
request (status, downloads, identical requests joining done jobs) is answered as usual.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from astroflow.errors import AstroflowError
from astroflow.jobs.artifacts import ArtifactStore
from astroflow.jobs.store import JobStore
from astroflow.lifecycle import lease, ledger
from astroflow.lifecycle.policy import StoragePolicy
from astroflow.lifecycle.sweep import Report, Sweeper

log = logging.getLogger("astroflow.lifecycle")

LEASE = "sweep"
WATCH_SECONDS = 5.0      # how often a replica looks for jobs expired by another one
FULL_RETRY_SECONDS = 60  # Retry-After of a refusal while the store is full
HOLD_SECONDS = 3600.0    # a download longer than this no longer keeps its job's files


class StoreFull(AstroflowError):
    """No space for new results, and sweeping could not free any (507)."""

    retry_after = FULL_RETRY_SECONDS


@dataclass
class Housekeeper:
    store: JobStore
    artifacts: ArtifactStore
    policy: StoragePolicy
    holder: str                                        # this replica (worker id)
    on_expired: Callable[[list[str]], None] = lambda ids: None
    _holds: dict[int, tuple[str, float]] = field(default_factory=dict)
    _tokens: Iterator[int] = field(default_factory=itertools.count)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _sweep_lock: threading.Lock = field(default_factory=threading.Lock)
    _wake: threading.Event = field(default_factory=threading.Event)
    _stop: threading.Event = field(default_factory=threading.Event)
    _full_since: float | None = None   # monotonic time a run found the store full
    _thread: threading.Thread | None = None
    last_report: Report | None = None

    # -- downloads in progress --------------------------------------------------------------

    def hold(self, job_id: str) -> Callable[[], None]:
        """A download of the job's files starts: this replica's sweep keeps them until the
        returned release is called (after the response is sent), or `HOLD_SECONDS` pass
        (a release lost with a dropped connection does not pin the job forever)."""
        with self._lock:
            token = next(self._tokens)
            self._holds[token] = (job_id, time.monotonic())

        def release() -> None:
            with self._lock:
                self._holds.pop(token, None)

        return release

    @contextlib.contextmanager
    def using(self, job_id: str) -> Iterator[None]:
        """The job's files are kept while the block runs."""
        release = self.hold(job_id)
        try:
            yield
        finally:
            release()

    def in_use(self, job_id: str) -> bool:
        now = time.monotonic()
        with self._lock:
            return any(held == job_id and now - since < HOLD_SECONDS
                       for held, since in self._holds.values())

    # -- the periodic sweep -----------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, daemon=True, name="astroflow-gc")
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _loop(self) -> None:
        seen = time.time()
        next_sweep = time.monotonic() + min(self.policy.interval, 30.0)  # not at the start rush
        while not self._stop.is_set():
            self._wake.wait(min(WATCH_SECONDS, max(0.05, next_sweep - time.monotonic())))
            woken = self._wake.is_set()
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                seen = self._forget_expired(seen)
                if woken or time.monotonic() >= next_sweep:
                    next_sweep = time.monotonic() + self.policy.interval
                    self.sweep()
            except Exception:  # the loop must outlive a database hiccup or a store error
                log.exception("storage sweep failed")

    def sweep(self, need_bytes: int = 0) -> Report | None:
        """Run the sweep here if no other replica runs it (None: another one does)."""
        ttl = max(60.0, 2 * self.policy.interval)
        with self._sweep_lock:
            if not lease.acquire(self.store.engine, LEASE, self.holder, ttl):
                return None
            try:
                sweeper = Sweeper(self.store, self.artifacts, self.policy, in_use=self.in_use,
                                  keep_lease=lambda: lease.acquire(self.store.engine, LEASE,
                                                                   self.holder, ttl))
                if self._full_since is not None and not need_bytes:
                    total = ledger.stored_total(self.store.engine)[0]
                    need_bytes = max(1, int(total * self.policy.full_release))
                report = sweeper.run(need_bytes=need_bytes)
            finally:
                lease.release(self.store.engine, LEASE, self.holder)
        self.last_report = report
        if report.removals:
            log.info("storage sweep: %d removed, %d bytes freed in %.2f s", len(report.removals),
                     report.freed, report.seconds, extra={"freed": report.freed})
            self.on_expired([r.target for r in report.removals if "/" not in r.target])
        if report.freed > 0:
            self._full_since = None  # full again only if a run or the free space says so
        return report

    def _forget_expired(self, since: float) -> float:
        found = ledger.expired_since(self.store.engine, since)
        if found:
            self.on_expired([job_id for job_id, _ in found])
            return found[-1][1]
        return since

    # -- store full -------------------------------------------------------------------------

    def store_full(self) -> None:
        """A run found no space left: sweep now, and refuse new jobs until a sweep freed
        space, or for `FULL_RETRY_SECONDS` (then a new job may try again)."""
        self._full_since = time.monotonic()
        self._wake.set()

    @property
    def full(self) -> bool:
        since = self._full_since
        if since is not None and time.monotonic() - since > FULL_RETRY_SECONDS:
            self._full_since = since = None
        return since is not None or self._below_min_free()

    def ensure_space(self) -> None:
        """Before a new job is queued: if the store is full, sweep first; StoreFull if that
        freed nothing. Costs one flag read (and a statvfs with ``min_free``) otherwise."""
        if not self.full:
            return
        if self._full_since is None and self._below_min_free():  # free at least the share
            self._full_since = time.monotonic()
        report = self.sweep()
        if report is None:  # another replica sweeps now: let it finish first
            time.sleep(0.2)
        if self.full:
            raise StoreFull("store full: the server has no space left for new results and "
                            "could not free any; retry later (the operators have been told)")

    def _below_min_free(self) -> bool:
        if self.policy.min_free is None or not self.artifacts.local:
            return False
        free = self.artifacts.free_bytes()
        return free is not None and free < self.policy.min_free
