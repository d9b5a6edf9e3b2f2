"""Registry state in the same database as the jobs: repositories and deployment attempts."""

from __future__ import annotations

from sqlalchemy import JSON, Float, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from astroflow.jobs.model import Base


class RepositoryRow(Base):
    """A workflow repository the registry follows, with the version that serves."""

    __tablename__ = "repositories"

    name: Mapped[str] = mapped_column(String(300), primary_key=True)
    source: Mapped[str] = mapped_column(Text)              # where it comes from (path or URL)
    kind: Mapped[str] = mapped_column(String(16))          # folder | git | gitlab
    topics: Mapped[list] = mapped_column(JSON, default=list)
    active_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    active_path: Mapped[str | None] = mapped_column(Text, nullable=True)
    active_python: Mapped[str | None] = mapped_column(Text, nullable=True)
    activated: Mapped[float | None] = mapped_column(Float, nullable=True)
    services: Mapped[list] = mapped_column(JSON, default=list)  # [{name, version, notebook}]


class AttemptRow(Base):
    """One try at deploying one commit of one repository."""

    __tablename__ = "deploy_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    repository: Mapped[str] = mapped_column(String(300), index=True)
    version: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))        # running | succeeded | failed
    step: Mapped[str | None] = mapped_column(String(32), nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    log_tail: Mapped[str | None] = mapped_column(Text, nullable=True)
    started: Mapped[float] = mapped_column(Float)
    finished: Mapped[float | None] = mapped_column(Float, nullable=True)
