"""Alembic environment: runs on the connection the caller opened (see astroflow.jobs.migrate)."""

from alembic import context
from sqlalchemy import create_engine

from astroflow.accounts import model as _account_tables  # noqa: F401 - registers its table
from astroflow.jobs.model import Base
from astroflow.registry import model as _registry_tables  # noqa: F401 - registers its tables

config = context.config
connection = config.attributes.get("connection")


def _run(conn) -> None:
    context.configure(connection=conn, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


if connection is not None:
    _run(connection)
else:  # `alembic` command line with sqlalchemy.url set
    url = config.get_main_option("sqlalchemy.url")
    if url is None:
        raise SystemExit("alembic: set sqlalchemy.url (the database to migrate)")
    with create_engine(url).begin() as conn:
        _run(conn)
