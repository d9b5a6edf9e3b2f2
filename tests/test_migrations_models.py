"""The migrations build exactly the tables the models describe, on SQLite and PostgreSQL.

alembic's autogenerate comparison runs after ``upgrade head``; on main before migration 0006
it found ``repositories.topics`` and ``repositories.services`` nullable in the database but
not in the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from pg import private_schema
from sqlalchemy import create_engine, text

from astroflow.accounts import model as _account_tables  # noqa: F401 - registers its table
from astroflow.jobs.migrate import upgrade
from astroflow.jobs.model import Base
from astroflow.registry import model as _registry_tables  # noqa: F401 - registers its tables


def _differences(url: str) -> list:
    engine = create_engine(url)
    try:
        upgrade(engine)
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return [d for d in compare_metadata(context, Base.metadata)
                    if not _is_alembic_version(d)]
    finally:
        engine.dispose()


def _is_alembic_version(diff) -> bool:
    return diff[0] == "remove_table" and diff[1].name == "alembic_version"


def test_sqlite_migrations_equal_models(tmp_path):
    assert _differences(f"sqlite:///{tmp_path / 'store.db'}") == []


def test_postgresql_migrations_equal_models():
    with private_schema() as url:
        assert _differences(url) == []


def test_null_lists_of_older_repositories_become_empty_lists(tmp_path):
    """Rows written before 0006 with null topics/services survive it as empty lists."""
    engine = create_engine(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        upgrade(engine, "0005")
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO repositories (name, source, kind) "
                                    "VALUES ('r', '/src', 'dir')"))
        upgrade(engine)
        with engine.connect() as connection:
            row = connection.execute(text("SELECT topics, services FROM repositories")).one()
        assert tuple(row) == ("[]", "[]")
    finally:
        engine.dispose()
