"""The job store: every job in a database (SQLite embedded, PostgreSQL for replicas).

All transitions are single guarded UPDATEs (``… WHERE state = 'queued'``) so that several
API processes sharing one PostgreSQL database never run a job twice, and "join or create" for
identical requests rests on a unique index rather than on a lock held in memory.
"""

from __future__ import annotations

import builtins
import functools
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from sqlalchemy import (
    String,
    Table,
    bindparam,
    case,
    create_engine,
    event,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from astroflow.errors import AstroflowError
from astroflow.jobs.model import TERMINAL, Job, JobRow

JOBS = cast(Table, JobRow.__table__)  # the mapped class's Table (typed as a FromClause)

# A running job whose worker has not been heard of for this long is taken as interrupted.
# Workers beat four times as often (runner.HEARTBEAT_SECONDS): four missed beats, so a busy
# but live replica keeps its jobs, and a dead one's are taken over well within 30 s. Operators
# (and tests) may tighten it with ASTROFLOW_STALE_AFTER; every replica must share the value.
STALE_AFTER = float(os.environ.get("ASTROFLOW_STALE_AFTER", "") or 20.0)
MAX_ATTEMPTS = 2


class QueueFull(AstroflowError):
    """The caller already has as many queued jobs as allowed."""


class QuotaExceeded(AstroflowError):
    """The caller is over one of its quotas (jobs a day, stored bytes); the message names it."""

    def __init__(self, message: str, limit: str, retry_after: int) -> None:
        super().__init__(message)
        self.limit = limit
        self.retry_after = retry_after


@dataclass(frozen=True)
class Quota:
    """One caller's allowance; None: unlimited. Checked only when a request creates a job
    (joining an existing one costs nothing)."""

    jobs_per_day: int | None = None
    stored_bytes: int | None = None

    @property
    def unlimited(self) -> bool:
        return self.jobs_per_day is None and self.stored_bytes is None


DAY = 86400.0


def worker_id() -> str:
    """``host:pid``. ``ASTROFLOW_WORKER_HOST`` replaces the host name where replicas share
    one (containers on the host network): recovery trusts a pid check only on its own host."""
    return f"{os.environ.get('ASTROFLOW_WORKER_HOST') or socket.gethostname()}:{os.getpid()}"


# Given an interrupted job, the products of its complete run if its folder holds one.
CompletedRun = Callable[[Job], list[dict[str, Any]] | None]


@dataclass
class Recovery:
    """What `JobStore.take_over` did with other workers' interrupted jobs."""

    requeued: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)   # interrupted MAX_ATTEMPTS times
    done: list[str] = field(default_factory=list)     # had finished; recorded from its files


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{Path(path).resolve()}"


class JobStore:
    """Jobs in a SQLAlchemy database; schema managed by Alembic (`migrate`).

    (Its method `list` hides the builtin inside the class: annotations say `builtins.list`.)
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: Engine = _engine(url)
        self._session = sessionmaker(self.engine, expire_on_commit=False)

    # -- schema ---------------------------------------------------------------------------

    def migrate(self) -> None:
        """Bring the schema to the latest Alembic revision (creates it on a new database)."""
        from astroflow.jobs.migrate import upgrade

        upgrade(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    # -- requests -------------------------------------------------------------------------

    def submit(self, *, service: str, version: str, cache_key: str, parameters: dict[str, Any],
               owner: str | None, time_limit: float | None = None,
               queue_limit: int | None = None, requester: str | None = None,
               quota: Quota | None = None) -> tuple[Job, bool]:
        """Join the live job with this cache key, or create a queued one.

        Returns the job and whether it was created. A done job answers at once (and counts
        as a use of its files, for eviction); a failed or cancelled one, or a done one whose
        files expired, has no live key and so never answers: the request runs again.
        ``quota`` is checked only when a job would be created.
        """
        asking = requester if requester is not None else owner
        sql = self._sql
        for _ in range(5):
            job = Job(id=uuid.uuid4().hex, service=service, version=version, cache_key=cache_key,
                      state="queued", owner=owner, parameters=parameters, created=time.time(),
                      time_limit=time_limit, requester=asking)
            try:
                with self.engine.begin() as connection:  # read, count and insert: one transaction
                    row = connection.execute(sql.live, {"b_key": cache_key}).mappings().first()
                    if row is not None:
                        if row["state"] == "done" and _stale_use(row["last_used"], job.created):
                            connection.execute(sql.touch, {"b_id": row["id"],
                                                           "b_now": job.created})
                        return _job_from_mapping(row), False
                    if quota is not None and asking is not None and not quota.unlimited:
                        _check_quota(connection, asking, quota, job.created)
                    if queue_limit is not None:
                        count = connection.execute(
                            sql.queued_anonymous if asking is None else sql.queued_by,
                            {"b_requester": asking}).scalar()
                        if int(count or 0) >= queue_limit:
                            raise QueueFull(f"you already have {queue_limit} queued jobs; wait for "
                                            "some to finish or cancel them")
                    connection.execute(sql.insert, {
                        "id": job.id, "service": service, "version": version,
                        "cache_key": cache_key, "live_key": cache_key, "state": "queued",
                        "owner": owner, "requester": asking, "parameters": parameters,
                        "created": job.created, "time_limit": time_limit, "attempts": 0,
                        "cancel_requested": False})
                return job, True
            except IntegrityError:
                continue  # another request created it between our read and our insert
        raise AstroflowError("could not create or join the job; please retry")

    # The hot paths (submit, status, finish) use Core statements on the table: the ORM's
    # unit of work costs more than the query itself for one-row reads and writes.

    @functools.cached_property
    def _sql(self) -> _Statements:
        return _Statements()

    def live(self, cache_key: str) -> Job | None:
        """The job that answers requests with this cache key, if any."""
        with self.engine.connect() as connection:
            row = connection.execute(self._sql.live, {"b_key": cache_key}).mappings().first()
            return _job_from_mapping(row) if row else None

    def get(self, job_id: str) -> Job | None:
        with self.engine.connect() as connection:
            row = connection.execute(self._sql.get, {"b_id": job_id}).mappings().first()
            return _job_from_mapping(row) if row else None

    def list(self, *, owner: str | None = None, requester: str | None = None,
             service: str | None = None, states: Iterable[str] | None = None,
             limit: int = 100) -> list[Job]:
        query = select(JobRow).order_by(JobRow.created.desc()).limit(limit)
        if owner is not None:
            query = query.where(JobRow.owner == owner)
        if requester is not None:
            query = query.where(JobRow.requester == requester)
        if service is not None:
            query = query.where(JobRow.service == service)
        if states is not None:
            query = query.where(JobRow.state.in_(list(states)))
        with self._session() as s:
            return [Job.from_row(r) for r in s.scalars(query)]

    def queued_count(self, requester: str | None) -> int:
        """Queued jobs asked for by this requester (a user, or an anonymous address)."""
        column = JOBS.c.requester
        query = select(func.count()).select_from(JOBS).where(JOBS.c.state == "queued")
        query = query.where(column.is_(None) if requester is None else column == requester)
        with self.engine.connect() as connection:
            return int(connection.execute(query).scalar() or 0)

    def counts(self) -> dict[str, int]:
        with self._session() as s:
            rows = s.execute(select(JobRow.state, func.count()).group_by(JobRow.state))
            return {state: int(n) for state, n in rows}

    def durations(self, limit: int = 1000) -> builtins.list[float]:
        """Run times of recent done jobs, for metrics."""
        query = (select(JobRow.finished - JobRow.started).where(JobRow.state == "done")
                 .where(JobRow.started.is_not(None)).order_by(JobRow.finished.desc()).limit(limit))
        with self._session() as s:
            return [float(d) for d in s.scalars(query) if d is not None]

    # -- the runner's side ----------------------------------------------------------------

    def claim_next(self, worker: str, services: Iterable[str] | None = None,
                   job_dir_prefix: str | None = None) -> Job | None:
        """Take the oldest queued job (FIFO) and mark it running for this worker.

        One ``UPDATE … WHERE id = (oldest queued) AND state = 'queued' RETURNING *``: a job
        is never claimed twice, even by several replicas (PostgreSQL skips rows another
        transaction holds). The job's folder, ``job_dir_prefix`` + id, is set by the same
        statement.
        """
        statement = self._claim_statement(tuple(services) if services is not None else None)
        with self.engine.begin() as connection:
            row = connection.execute(statement, {"now": time.time(), "worker": worker,
                                                 "dir_prefix": job_dir_prefix}).mappings().first()
        return _job_from_mapping(row) if row is not None else None

    @functools.lru_cache(maxsize=32)  # noqa: B019 - one store per process, few service sets
    def _claim_statement(self, services: tuple[str, ...] | None) -> Any:
        """The claim UPDATE, built once: constructing SQL costs more than running it."""
        oldest = (select(JobRow.id).where(JobRow.state == "queued")
                  .order_by(JobRow.created, JobRow.id).limit(1))
        if services is not None:
            oldest = oldest.where(JobRow.service.in_(list(services)))
        if self.engine.dialect.name == "postgresql":
            oldest = oldest.with_for_update(skip_locked=True)
        now: Any = bindparam("now")
        prefix = bindparam("dir_prefix", type_=String)
        job_dir = case((prefix.is_(None), JOBS.c.job_dir), else_=prefix + JOBS.c.id)
        return (update(JOBS).where(JOBS.c.id == oldest.scalar_subquery(), JOBS.c.state == "queued")
                .values(state="running", started=now, heartbeat=now, worker=bindparam("worker"),
                        attempts=JOBS.c.attempts + 1, job_dir=job_dir)
                .returning(*JOBS.c))

    def report_progress(self, job_id: str, progress: dict[str, Any]) -> None:
        self._update(job_id, progress=progress, heartbeat=time.time(), only_state="running")

    def heartbeat(self, job_ids: Iterable[str], worker: str | None = None) -> set[str]:
        """Say these jobs' worker is alive. Returns the ids still running for ``worker``:
        any other was taken over (its worker was silent too long) and is no longer its."""
        ids = list(job_ids)
        if not ids:
            return set()
        query = update(JOBS).where(JOBS.c.id.in_(ids), JOBS.c.state == "running")
        if worker is not None:
            query = query.where(JOBS.c.worker == worker)
        with self.engine.begin() as connection:
            rows = connection.execute(query.values(heartbeat=time.time()).returning(JOBS.c.id))
            return {row[0] for row in rows}

    def finish(self, job_id: str, state: str, *, products: builtins.list[dict] | None = None,
               error: dict[str, Any] | None = None, at: float | None = None,
               worker: str | None = None, stored_bytes: int | None = None) -> bool:
        """Record the outcome of a running job; failed and cancelled jobs leave the cache.

        With ``worker``, only while that worker holds the job: a replica whose job was taken
        over (it was silent too long) must not overwrite the new run's record.
        """
        if state not in TERMINAL:
            raise ValueError(f"{state!r} is not a terminal state")
        sql = self._sql
        if worker is None:
            statement = sql.finish_done if state == "done" else sql.finish_dropped
        else:
            statement = sql.finish_done_by if state == "done" else sql.finish_dropped_by
        with self.engine.begin() as connection:
            return bool(connection.execute(statement, {
                "b_id": job_id, "b_state": state, "b_finished": at or time.time(),
                "b_products": products or [], "b_error": error, "b_worker": worker,
                "b_stored": stored_bytes}).rowcount)

    def requeue(self, job_id: str, worker: str) -> bool:
        """Give back a job this worker claimed but will not finish (its server is stopping).

        Queued again for any replica, its attempt not counted: the run was stopped, it did
        not fail. Not if the job's cancel was asked for, or it is no longer this worker's.
        """
        query = (update(JOBS).where(JOBS.c.id == job_id, JOBS.c.state == "running",
                                    JOBS.c.worker == worker, JOBS.c.cancel_requested.is_not(True))
                 .values(state="queued", worker=None, started=None, heartbeat=None, progress=None,
                         attempts=case((JOBS.c.attempts > 0, JOBS.c.attempts - 1), else_=0)))
        with self.engine.begin() as connection:
            return bool(connection.execute(query).rowcount)

    def cancel(self, job_id: str) -> Job | None:
        """Cancel a queued job at once; flag a running one for its runner to kill."""
        now = time.time()
        with self._session.begin() as s:
            s.execute(update(JobRow).where(JobRow.id == job_id, JobRow.state == "queued")
                      .values(state="cancelled", finished=now, live_key=None,
                              error={"type": "cancelled", "message": "cancelled before it started",
                                     "analysis": False, "traceback": ""}))
            s.execute(update(JobRow).where(JobRow.id == job_id, JobRow.state == "running")
                      .values(cancel_requested=True))
        return self.get(job_id)

    def cancel_requested(self, job_ids: Iterable[str]) -> set[str]:
        ids = list(job_ids)
        if not ids:
            return set()
        with self._session() as s:
            query = select(JobRow.id).where(JobRow.id.in_(ids), JobRow.cancel_requested.is_(True))
            return set(s.scalars(query))

    def recover(self, worker: str) -> tuple[builtins.list[str], builtins.list[str]]:
        """After a crash: re-queue interrupted running jobs once, fail them the second time.

        Returns (requeued, failed); see `take_over`.
        """
        recovery = self.take_over(worker)
        return recovery.requeued, recovery.failed

    def take_over(self, worker: str, completed: CompletedRun | None = None) -> Recovery:
        """Re-queue other workers' interrupted running jobs once, fail them the second time.

        A running job is interrupted when its worker is this host's dead process, or when no
        worker has sent its heartbeat for `STALE_AFTER` seconds. Runners call this at start
        and every few seconds after, so a live replica picks up a dead one's jobs. A job
        whose run had ended done (``completed`` finds its products) is recorded done rather
        than run again. Each change is one UPDATE guarded by the worker and heartbeat read,
        so of several replicas only one takes a job, and a worker that beat meanwhile keeps it.
        """
        host = worker.rsplit(":", 1)[0]
        recovery = Recovery()
        c = JOBS.c
        candidates = (select(JobRow).where(JobRow.state == "running")
                      .where(or_(JobRow.worker.is_(None), JobRow.worker != worker))
                      .where(or_(JobRow.heartbeat.is_(None),
                                 JobRow.heartbeat < time.time() - STALE_AFTER,
                                 JobRow.worker.startswith(f"{host}:", autoescape=True))))
        with self._session() as s:
            rows = list(s.scalars(candidates))
        for row in rows:
            if not _interrupted(row, host, worker):
                continue
            guarded = update(JOBS).where(c.id == row.id, c.state == "running",
                                         c.worker.is_not_distinct_from(row.worker),
                                         c.heartbeat.is_not_distinct_from(row.heartbeat))
            products = completed(Job.from_row(row)) if completed is not None else None
            if products is not None:
                outcome, values = recovery.done, {"state": "done", "finished": time.time(),
                                                  "products": products, "error": None}
            elif row.attempts >= MAX_ATTEMPTS:
                outcome, values = recovery.failed, {
                    "state": "failed", "finished": time.time(), "live_key": None,
                    "error": {"type": "interrupted", "analysis": False, "traceback": "",
                              "message": "interrupted: the server stopped while it ran, twice"}}
            else:
                outcome, values = recovery.requeued, {"state": "queued", "worker": None,
                                                      "started": None, "progress": None}
            with self.engine.begin() as connection:
                if connection.execute(guarded.values(**values)).rowcount:
                    outcome.append(row.id)
        return recovery

    def _update(self, job_id: str, only_state: str | None = None, **values: Any) -> None:
        query = update(JobRow).where(JobRow.id == job_id)
        if only_state:
            query = query.where(JobRow.state == only_state)
        with self._session.begin() as s:
            s.execute(query.values(**values))

    def session(self) -> Session:
        return self._session()

    def touch(self, job_id: str, last_used: float | None = None) -> None:
        """A download used the job's files now: they are the last to be evicted (LRU)."""
        now = last_used if last_used is not None else time.time()
        query = (update(JOBS).where(JOBS.c.id == job_id)
                 .where(or_(JOBS.c.last_used.is_(None), JOBS.c.last_used < now - TOUCH_EVERY))
                 .values(last_used=now))
        with self.engine.begin() as connection:
            connection.execute(query)


class _Statements:
    """The hot paths' statements, built once with bound parameters: building a SQLAlchemy
    statement costs more than running it on SQLite."""

    def __init__(self) -> None:
        c = JOBS.c
        self.get = select(JOBS).where(c.id == bindparam("b_id"))
        self.live = select(JOBS).where(c.live_key == bindparam("b_key"))
        queued = select(func.count()).select_from(JOBS).where(c.state == "queued")
        self.queued_by = queued.where(c.requester == bindparam("b_requester"))
        self.queued_anonymous = queued.where(c.requester.is_(None))
        self.insert = insert(JOBS)
        open_job = update(JOBS).where(c.id == bindparam("b_id"), c.state.in_(["queued", "running"]))
        outcome = {"state": bindparam("b_state"), "finished": bindparam("b_finished"),
                   "products": bindparam("b_products", type_=c.products.type),
                   "error": bindparam("b_error", type_=c.error.type),
                   "stored_bytes": bindparam("b_stored", type_=c.stored_bytes.type)}
        self.finish_done = open_job.values(**outcome)
        # Failed and cancelled jobs leave the cache: their key is live no more.
        self.finish_dropped = open_job.values(**outcome, live_key=None)
        held = open_job.where(c.worker == bindparam("b_worker"))
        self.finish_done_by = held.values(**outcome)
        self.finish_dropped_by = held.values(**outcome, live_key=None)
        self.touch = update(JOBS).where(c.id == bindparam("b_id")).values(
            last_used=bindparam("b_now"))


def _job_from_mapping(row: Any) -> Job:
    return Job(id=row["id"], service=row["service"], version=row["version"],
               cache_key=row["cache_key"], state=row["state"], owner=row["owner"],
               parameters=row["parameters"], created=row["created"], progress=row["progress"],
               error=row["error"], products=row["products"] or [], attempts=row["attempts"],
               time_limit=row["time_limit"], started=row["started"], finished=row["finished"],
               worker=row["worker"], cancel_requested=row["cancel_requested"],
               job_dir=row["job_dir"], requester=row["requester"],
               stored_bytes=row["stored_bytes"], last_used=row["last_used"],
               expired=row["expired"])


TOUCH_EVERY = 10.0  # seconds: a job used more often than this is written once


def _stale_use(last_used: float | None, now: float) -> bool:
    return last_used is None or now - last_used > TOUCH_EVERY


def _check_quota(connection: Any, requester: str, quota: Quota, now: float) -> None:
    """QuotaExceeded when ``requester`` may create no more jobs (inside submit's transaction)."""
    if quota.jobs_per_day is not None:
        count, oldest = connection.execute(_QUOTA.jobs_since, {
            "b_requester": requester, "b_since": now - DAY}).one()
        if int(count or 0) >= quota.jobs_per_day:
            wait = max(1, int((oldest or now) + DAY - now) + 1)
            raise QuotaExceeded(f"quota reached: at most {quota.jobs_per_day} new jobs a day "
                                f"per caller (jobs_per_day); the next is allowed in {wait} s, "
                                "or ask the operators for a role with a larger quota",
                                "jobs_per_day", wait)
    if quota.stored_bytes is not None:
        stored = connection.execute(_QUOTA.stored_by, {"b_requester": requester}).scalar()
        if int(stored or 0) >= quota.stored_bytes:
            raise QuotaExceeded(f"quota reached: your results take {_size(int(stored))}, the "
                                f"limit is {_size(quota.stored_bytes)} per caller "
                                "(stored_bytes); they are freed as they expire, or ask the "
                                "operators for a role with a larger quota", "stored_bytes", 3600)


class _QuotaStatements:
    """The quota reads, built once (see `_Statements`)."""

    def __init__(self) -> None:
        c = JOBS.c
        mine = c.requester == bindparam("b_requester")
        self.jobs_since = select(func.count(), func.min(c.created)).where(
            mine, c.created > bindparam("b_since"))
        self.stored_by = select(func.coalesce(func.sum(c.stored_bytes), 0)).where(
            c.state.in_(sorted(TERMINAL)), mine, c.expired.is_(None))


_QUOTA = _QuotaStatements()


def _size(n: int) -> str:
    """Bytes for people: 512 bytes, 3.2 MiB."""
    if n < 1024:
        return f"{n} bytes"
    value = float(n)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if value < 1024 or unit == "TiB":
            break
    return f"{value:.1f} {unit}"


def _interrupted(row: JobRow, host: str, me: str) -> bool:
    if row.worker == me:
        return False
    if row.worker and row.worker.rsplit(":", 1)[0] == host:
        pid = int(row.worker.rsplit(":", 1)[1])
        return not _alive(pid)
    return row.heartbeat is None or time.time() - row.heartbeat > STALE_AFTER


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        # One connection, handed from thread to thread: SQLite allows one writer at a time,
        # and waiting in the pool is a wake-up, where SQLite's own busy handler sleeps in
        # steps of up to 100 ms. Every use of the store is short, so one connection serves.
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30},
                               pool_size=1, max_overflow=0, pool_timeout=60)

        @event.listens_for(engine, "connect")
        def _pragmas(connection: Any, _record: Any) -> None:
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)
