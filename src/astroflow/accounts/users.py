"""Local accounts in the job store's database: add, list, remove, change password, check.

The table lives next to the jobs (same database, same migrations), so every API replica
sharing a database shares the accounts too.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from astroflow.accounts.model import UserRow
from astroflow.accounts.passwords import hash_password, verify_password
from astroflow.errors import AstroflowError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,199}$")
_ROLE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,99}$")


class AccountError(AstroflowError):
    """A refused account change (bad name or role, unknown or existing user)."""


@dataclass(frozen=True)
class User:
    name: str
    roles: tuple[str, ...]
    created: float
    has_password: bool


def check_name(name: str) -> str:
    if not _NAME.match(name or ""):
        raise AccountError(f"user name {name!r} is not allowed: use 1-200 letters, digits and "
                           "._@+- starting with a letter or digit")
    return name


def check_roles(roles: Iterable[str]) -> list[str]:
    clean = sorted({r.strip() for r in roles if r.strip()})
    for role in clean:
        if not _ROLE.match(role):
            raise AccountError(f"role {role!r} is not allowed: use letters, digits and ._:/- "
                               "starting with a letter or digit")
    return clean


def _user(row: UserRow) -> User:
    return User(row.name, tuple(row.roles or ()), row.created, row.password_hash is not None)


class Users:
    """The ``users`` table of one database (migrated by the job store's migrations)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(self, name: str, roles: Iterable[str], password: str | None) -> User:
        now = time.time()
        granted = check_roles(roles)
        row = {"name": check_name(name), "roles": granted, "created": now,
               "updated": now, "password_hash": hash_password(password) if password else None}
        try:
            with self.engine.begin() as connection:
                connection.execute(insert(UserRow).values(**row))
        except IntegrityError:
            raise AccountError(f"user {name!r} already exists") from None
        return User(name, tuple(granted), now, password is not None)

    def get(self, name: str) -> User | None:
        with self.engine.connect() as connection:
            row = connection.execute(select(UserRow).where(UserRow.name == name)).first()
        return _user(row) if row else None  # type: ignore[arg-type]

    def list(self) -> list[User]:
        with self.engine.connect() as connection:
            rows = connection.execute(select(UserRow).order_by(UserRow.name)).all()
        return [_user(r) for r in rows]  # type: ignore[arg-type]

    def count(self) -> int:
        with self.engine.connect() as connection:
            return connection.execute(select(func.count()).select_from(UserRow)).scalar_one()

    def remove(self, name: str) -> None:
        with self.engine.begin() as connection:
            gone = connection.execute(delete(UserRow).where(UserRow.name == name)).rowcount
        if not gone:
            raise AccountError(f"no user named {name!r}")

    def set_password(self, name: str, password: str) -> None:
        hashed = hash_password(password)
        with self.engine.begin() as connection:
            done = connection.execute(update(UserRow).where(UserRow.name == name).values(
                password_hash=hashed, updated=time.time())).rowcount
        if not done:
            raise AccountError(f"no user named {name!r}")

    def check(self, name: str, password: str) -> User | None:
        """The user whose name and password these are, else None (same time either way)."""
        with self.engine.connect() as connection:
            row = connection.execute(select(UserRow.name, UserRow.password_hash, UserRow.roles,
                                            UserRow.created).where(UserRow.name == name)).first()
        stored = row.password_hash if row else None
        if not verify_password(password, stored) or row is None:
            return None
        return User(row.name, tuple(row.roles or ()), row.created, True)
