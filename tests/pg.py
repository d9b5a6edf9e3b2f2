"""A private PostgreSQL schema per test, on the machine's server (127.0.0.1:5432, db `test`)."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text

PG_URL = os.environ.get("ASTROFLOW_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def unavailable() -> str | None:
    try:
        engine = create_engine(PG_URL, connect_args={"connect_timeout": 3})
        with engine.connect():
            pass
        engine.dispose()
        return None
    except Exception as exc:  # any reason: no driver, no server, no auth
        return (f"PostgreSQL at {PG_URL} is not reachable here ({type(exc).__name__}); "
                "set ASTROFLOW_TEST_PG to a reachable database")


@contextlib.contextmanager
def private_schema() -> Iterator[str]:
    """Yields a database URL whose tables live in a new schema, dropped afterwards."""
    reason = unavailable()
    if reason:
        pytest.skip(reason)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    with admin.begin() as c:
        c.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as c:
            c.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()
