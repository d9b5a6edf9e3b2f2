"""The job: its states, its row in the store, and the plain record the rest of astroflow sees."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, cast

from sqlalchemy import JSON, BigInteger, Boolean, Float, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

State = Literal["queued", "running", "done", "failed", "cancelled"]
TERMINAL: frozenset[str] = frozenset({"done", "failed", "cancelled"})
# States in which a job may answer an identical request (join it or serve it from cache).
LIVE: frozenset[str] = frozenset({"queued", "running", "done"})


class Base(DeclarativeBase):
    """The metadata every astroflow table (jobs, registry) is declared on."""


class JobRow(Base):
    """One request of one service version with one set of canonical values."""

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_state_owner", "state", "owner"),
                      Index("ix_jobs_state_requester", "state", "requester"),
                      Index("ix_jobs_requester_created", "requester", "created"),
                      Index("ix_jobs_state_used", "state", "last_used"))

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    service: Mapped[str] = mapped_column(String(200), index=True)
    version: Mapped[str] = mapped_column(String(64))
    cache_key: Mapped[str] = mapped_column(String(64), index=True)
    # Equal to cache_key while the job can answer identical requests; NULL once it failed or
    # was cancelled. Its unique index makes "join or create" race-free across API replicas.
    live_key: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    state: Mapped[str] = mapped_column(String(16), index=True)
    owner: Mapped[str | None] = mapped_column(String(200), index=True, nullable=True)
    # Who asked, for the per-caller queue limit: the user, or "anon:<address>" for anonymous
    # callers, so that one anonymous visitor cannot use up everyone else's allowance.
    requester: Mapped[str | None] = mapped_column(String(200), nullable=True)
    parameters: Mapped[dict] = mapped_column(JSON)
    progress: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    error: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    products: Mapped[list | None] = mapped_column(JSON, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    time_limit: Mapped[float | None] = mapped_column(Float, nullable=True)
    created: Mapped[float] = mapped_column(Float, index=True)
    started: Mapped[float | None] = mapped_column(Float, nullable=True)
    finished: Mapped[float | None] = mapped_column(Float, nullable=True)
    worker: Mapped[str | None] = mapped_column(String(200), nullable=True)
    heartbeat: Mapped[float | None] = mapped_column(Float, nullable=True)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    job_dir: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Storage lifecycle (astroflow.lifecycle): bytes the job's folder holds once it ended,
    # when a download or an identical request last used it (LRU eviction), and when its
    # files were removed by the operator's policy (the record stays; the request recomputes).
    stored_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    last_used: Mapped[float | None] = mapped_column(Float, nullable=True)
    expired: Mapped[float | None] = mapped_column(Float, nullable=True, index=True)


class LeaseRow(Base):
    """A named lease one process holds until ``expires``: one replica at a time sweeps."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    expires: Mapped[float] = mapped_column(Float)


EXPIRED_MESSAGE = "expired: resubmit to recompute"


@dataclass
class Job:
    """A job as read from the store (detached from any database session)."""

    id: str
    service: str
    version: str
    cache_key: str
    state: State
    owner: str | None
    parameters: dict[str, Any]
    created: float
    progress: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    products: list[dict[str, Any]] = field(default_factory=list)
    attempts: int = 0
    time_limit: float | None = None
    started: float | None = None
    finished: float | None = None
    worker: str | None = None
    cancel_requested: bool = False
    job_dir: str | None = None
    requester: str | None = None  # who asked first: the user, or "anon:<address>"
    stored_bytes: int | None = None
    last_used: float | None = None
    expired: float | None = None  # when its files were removed (None: they are kept)

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL

    @classmethod
    def from_row(cls, row: JobRow) -> Job:
        return cls(
            id=row.id, service=row.service, version=row.version, cache_key=row.cache_key,
            state=cast(State, row.state), owner=row.owner, parameters=row.parameters, created=row.created,
            progress=row.progress, error=row.error, products=row.products or [],
            attempts=row.attempts, time_limit=row.time_limit, started=row.started,
            finished=row.finished, worker=row.worker, cancel_requested=row.cancel_requested,
            job_dir=row.job_dir, requester=row.requester, stored_bytes=row.stored_bytes,
            last_used=row.last_used, expired=row.expired,
        )


PROGRESS_KEYS = ("stage", "fraction", "message", "substage", "subfraction")


def shown_progress(state: str, progress: dict[str, Any] | None) -> dict[str, Any]:
    """A job's progress as the API, its events and the CLI show it.

    A run's last report is stale once it ended: a done job is at stage "done", fraction 1
    (not "light curve, 60%"); a failed or cancelled one keeps where it stopped, marked by
    ``ended`` (its state), so that nobody reads it as still moving.
    """
    progress = progress or {}
    shown = {key: progress.get(key) for key in PROGRESS_KEYS}
    if state == "done":
        shown = {**dict.fromkeys(PROGRESS_KEYS), "stage": "done", "fraction": 1.0,
                 "message": "done"}
    shown["ended"] = state if state in TERMINAL else None
    return shown
