"""A lease in the database: one process at a time does a named task (the sweep).

Plain guarded UPDATE, then INSERT on a primary key: the same on SQLite and PostgreSQL, with
no advisory lock and no session to keep open. A holder that dies loses the lease when it
runs out (``ttl``); a long task renews it between steps.
"""

from __future__ import annotations

import time
from typing import cast

from sqlalchemy import Table, insert, or_, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from astroflow.jobs.model import LeaseRow

LEASES = cast(Table, LeaseRow.__table__)  # a Table (mypy reads FromClause)


def acquire(engine: Engine, name: str, holder: str, ttl: float) -> bool:
    """Take (or renew) the lease ``name`` for ``ttl`` seconds; False while another holds it."""
    now = time.time()
    c = LEASES.c
    take = (update(LEASES).where(c.name == name)
            .where(or_(c.holder == holder, c.expires < now))
            .values(holder=holder, expires=now + ttl))
    with engine.begin() as connection:
        if connection.execute(take).rowcount:
            return True
    try:
        with engine.begin() as connection:
            connection.execute(insert(LEASES).values(name=name, holder=holder, expires=now + ttl))
        return True
    except IntegrityError:  # another process holds it (or took it between our two statements)
        return False


def release(engine: Engine, name: str, holder: str) -> None:
    """Give the lease up at once (only if ``holder`` still holds it)."""
    c = LEASES.c
    with engine.begin() as connection:
        connection.execute(update(LEASES).where(c.name == name, c.holder == holder)
                           .values(expires=0.0))


def holder(engine: Engine, name: str) -> str | None:
    """Who holds the lease now (None: nobody)."""
    from sqlalchemy import select

    c = LEASES.c
    with engine.connect() as connection:
        row = connection.execute(select(c.holder, c.expires).where(c.name == name)).first()
    return row[0] if row is not None and row[1] > time.time() else None
