"""The sweep's reads and writes on the jobs table: what has ended, how old, how large, and
the guarded UPDATE that marks a job's files expired before they are removed."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.engine import Engine

from astroflow.jobs.model import TERMINAL, JobRow

JOBS = cast(Table, JobRow.__table__)  # a Table (mypy reads FromClause)
C = JOBS.c
BATCH = 500  # ids per statement: well under SQLite's 32,766 bound parameters


def _chunks(items: list[str], size: int = BATCH) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def older_than(engine: Engine, states: Iterable[str], cutoffs: Mapping[str, float | None],
               default: float | None) -> list[tuple[str, int | None]]:
    """(id, stored bytes) of kept jobs in ``states`` that ended before their service's
    cutoff (epoch; None: kept forever), oldest first."""
    base = (select(C.id, C.stored_bytes).where(C.state.in_(list(states)), C.expired.is_(None),
                                               C.finished.is_not(None))
            .order_by(C.finished))
    found: list[tuple[str, int | None]] = []
    with engine.connect() as connection:
        for service, cutoff in cutoffs.items():
            if cutoff is not None:
                query = base.where(C.service == service, C.finished < cutoff)
                found += [(r[0], r[1]) for r in connection.execute(query)]
        if default is not None:
            query = base.where(C.finished < default)
            if cutoffs:
                query = query.where(C.service.not_in(list(cutoffs)))
            found += [(r[0], r[1]) for r in connection.execute(query)]
    return found


def least_recently_used(engine: Engine, limit: int, after: tuple[float, str] | None = None
                        ) -> list[tuple[str, int | None, float]]:
    """(id, stored bytes, last use) of kept done jobs, least recently used first (a job
    never downloaded nor joined counts as used when it finished); ``after`` the (last use,
    id) of the previous page."""
    used = func.coalesce(C.last_used, C.finished)
    query = (select(C.id, C.stored_bytes, used).where(C.state == "done", C.expired.is_(None))
             .order_by(used, C.id).limit(limit))
    if after is not None:
        query = query.where((used > after[0]) | ((used == after[0]) & (C.id > after[1])))
    with engine.connect() as connection:
        return [(r[0], r[1], float(r[2] or 0.0)) for r in connection.execute(query)]


def recently_used(engine: Engine) -> list[str]:
    """Ids of kept jobs that were ever downloaded or joined (the only ones with derived files)."""
    query = select(C.id).where(C.expired.is_(None), C.last_used.is_not(None))
    with engine.connect() as connection:
        return [r[0] for r in connection.execute(query)]


def stored_total(engine: Engine) -> tuple[int, int]:
    """(bytes of kept ended jobs' results, jobs whose size is not measured yet)."""
    query = select(func.coalesce(func.sum(C.stored_bytes), 0),
                   func.count().filter(C.stored_bytes.is_(None))).where(
        C.state.in_(sorted(TERMINAL)), C.expired.is_(None))
    with engine.connect() as connection:
        total, unmeasured = connection.execute(query).one()
    return int(total or 0), int(unmeasured or 0)


def unmeasured(engine: Engine, limit: int) -> list[str]:
    """Kept ended jobs whose stored size is not known (ended before 0007, or recovered)."""
    query = (select(C.id).where(C.state.in_(sorted(TERMINAL)), C.expired.is_(None),
                                C.stored_bytes.is_(None)).limit(limit))
    with engine.connect() as connection:
        return [r[0] for r in connection.execute(query)]


def record_sizes(engine: Engine, sizes: Mapping[str, int]) -> None:
    statement = (update(JOBS).where(C.id == bindparam("b_id"))
                 .values(stored_bytes=bindparam("b_bytes")))
    if sizes:
        with engine.begin() as connection:
            connection.execute(statement, [{"b_id": k, "b_bytes": v} for k, v in sizes.items()])


def expire(engine: Engine, ids: list[str], now: float, used_before: float) -> list[str]:
    """Mark these ended jobs expired (and no longer answering identical requests) unless one
    was used after ``used_before``; returns those marked, whose files may now go."""
    marked: list[str] = []
    for chunk in _chunks(ids):
        statement = (update(JOBS)
                     .where(C.id.in_(chunk), C.state.in_(sorted(TERMINAL)), C.expired.is_(None))
                     .where((C.last_used.is_(None)) | (C.last_used < used_before))
                     .values(expired=now, live_key=None).returning(C.id))
        with engine.begin() as connection:
            marked += [r[0] for r in connection.execute(statement)]
    return marked


def ended_since(engine: Engine, since: float) -> list[tuple[str, float | None]]:
    """(id, expired) of jobs that ended or expired after ``since``."""
    query = select(C.id, C.expired).where(C.state.in_(sorted(TERMINAL)),
                                          (C.finished > since) | (C.expired > since))
    with engine.connect() as connection:
        return [(r[0], r[1]) for r in connection.execute(query)]


def expired_since(engine: Engine, since: float) -> list[tuple[str, float]]:
    """(id, when) of jobs whose files expired after ``since``: replicas drop their cached records."""
    query = select(C.id, C.expired).where(C.expired > since).order_by(C.expired)
    with engine.connect() as connection:
        return [(r[0], float(r[1])) for r in connection.execute(query)]


def pending_parameters(engine: Engine) -> list[dict[str, Any]]:
    """Parameters of queued and running jobs: the uploads they refer to must stay."""
    query = select(C.parameters).where(C.state.in_(["queued", "running"]))
    with engine.connect() as connection:
        return [r[0] or {} for r in connection.execute(query)]
