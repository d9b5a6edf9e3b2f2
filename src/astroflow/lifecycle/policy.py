"""The operator's storage policy: the ``[storage]`` table of ``astroflow.toml``, then
``ASTROFLOW_*`` environment variables, then command-line flags.

Ages are seconds or ``30d``/``12h``/``15m``/``10s``/ISO 8601 (``P30D``); sizes are bytes or
``50GB``/``1.5GiB`` (pydantic's ByteSize). Nothing expires by default except uploads (7 days)
and the files of failed and cancelled jobs (1 day): results stay until the operator sets
``max_age`` or ``max_bytes``.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import ByteSize, TypeAdapter
from pydantic import ValidationError as PydanticError

from astroflow.errors import AstroflowError
from astroflow.jobs.store import Quota

DAY = 86400.0
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": DAY, "w": 7 * DAY}
_SPAN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$", re.IGNORECASE)


class PolicyError(AstroflowError):
    """A storage setting that cannot be used; the message names it and says why."""


@dataclass(frozen=True)
class QuotaPolicy:
    """Per-caller quotas: ``default`` for everyone, ``roles`` lift them (a caller gets the
    most generous of its roles' values), ``exempt_roles`` have none."""

    default: Quota = field(default_factory=Quota)
    roles: Mapping[str, Quota] = field(default_factory=dict)
    exempt_roles: frozenset[str] = frozenset()

    def for_roles(self, roles: Iterable[str]) -> Quota:
        held = set(roles)
        if held & self.exempt_roles:
            return Quota()
        quotas = [self.default, *(q for role, q in self.roles.items() if role in held)]
        return Quota(jobs_per_day=_most(q.jobs_per_day for q in quotas),
                     stored_bytes=_most(q.stored_bytes for q in quotas))


def _most(values: Iterable[int | None]) -> int | None:
    """The most generous limit; None (unlimited) beats any number."""
    numbers = list(values)
    return None if any(v is None for v in numbers) else max(numbers)  # type: ignore[type-var]


@dataclass(frozen=True)
class StoragePolicy:
    """What the sweep may remove and when, and what each caller may store."""

    max_age: float | None = None            # seconds a done job's results are kept
    service_max_age: Mapping[str, float | None] = field(default_factory=dict)
    max_bytes: int | None = None            # total results + derived files; LRU beyond
    min_free: int | None = None             # free bytes the store's disk keeps; LRU below
    ended_max_age: float | None = DAY       # failed/cancelled jobs' notebook and log
    upload_max_age: float | None = 7 * DAY  # uploaded input files
    interval: float = 300.0                 # seconds between the server's sweeps
    in_use_grace: float = 300.0             # a job used this recently is never removed
    full_release: float = 0.1               # store full, no size set: free this share
    quota: QuotaPolicy = field(default_factory=QuotaPolicy)

    def age_limit(self, service: str) -> float | None:
        return self.service_max_age.get(service, self.max_age)

    @classmethod
    def load(cls, path: Path | None = None, environ: Mapping[str, str] | None = None,
             **overrides: Any) -> StoragePolicy:
        """The file's ``[storage]`` table, then the environment, then non-None ``overrides``."""
        table: dict[str, Any] = {}
        if path is not None and Path(path).is_file():
            try:
                table = dict(tomllib.loads(Path(path).read_text("utf-8")).get("storage", {}))
            except tomllib.TOMLDecodeError as exc:
                raise PolicyError(f"{path}: not valid TOML ({exc})") from None
        for key, name in ENVIRONMENT.items():
            if environ and environ.get(name):
                table[key] = environ[name]
        table.update({k: v for k, v in overrides.items() if v is not None})
        policy = cls.from_table(table, where=str(path) if path else "settings")
        return with_quota_env(policy, environ) if environ else policy

    @classmethod
    def from_table(cls, table: Mapping[str, Any], where: str = "settings") -> StoragePolicy:
        known = {"max_age", "services", "max_bytes", "min_free", "ended_max_age",
                 "upload_max_age", "interval", "in_use_grace", "full_release", "quota"}
        unknown = sorted(set(table) - known)
        if unknown:
            raise PolicyError(f"{where}: [storage] has no setting {unknown[0]!r} "
                              f"(known: {', '.join(sorted(known))})")
        policy = cls()
        ages = ("max_age", "ended_max_age", "upload_max_age", "interval", "in_use_grace")
        values: dict[str, Any] = {k: parse_age(table[k], f"storage.{k}") for k in ages
                                  if k in table}
        values.update({k: parse_size(table[k], f"storage.{k}") for k in ("max_bytes", "min_free")
                       if k in table})
        if "full_release" in table:
            values["full_release"] = _fraction(table["full_release"], "storage.full_release")
        services = table.get("services", {})
        if not isinstance(services, Mapping):
            raise PolicyError("storage.services: must be a table of service = max age")
        values["service_max_age"] = {str(name): parse_age(age, f"storage.services.{name}")
                                     for name, age in services.items()}
        if "quota" in table:
            values["quota"] = _quota_policy(table["quota"])
        if values.get("interval") is None and "interval" in values:
            raise PolicyError("storage.interval: must be a duration (the sweep needs a period)")
        if values.get("in_use_grace") is None and "in_use_grace" in values:
            values["in_use_grace"] = 0.0
        return replace(policy, **values)


# environment variable of each [storage] setting
ENVIRONMENT = {"max_age": "ASTROFLOW_MAX_AGE", "max_bytes": "ASTROFLOW_MAX_STORE",
               "min_free": "ASTROFLOW_MIN_FREE", "ended_max_age": "ASTROFLOW_ENDED_MAX_AGE",
               "upload_max_age": "ASTROFLOW_UPLOAD_MAX_AGE", "interval": "ASTROFLOW_GC_INTERVAL",
               "in_use_grace": "ASTROFLOW_IN_USE_GRACE"}
QUOTA_ENVIRONMENT = {"jobs_per_day": "ASTROFLOW_QUOTA_JOBS_PER_DAY",
                     "stored_bytes": "ASTROFLOW_QUOTA_STORED_BYTES"}


def _quota_policy(table: Any) -> QuotaPolicy:
    if not isinstance(table, Mapping):
        raise PolicyError("storage.quota: must be a table (jobs_per_day, stored_bytes, roles, "
                          "exempt_roles)")
    roles = table.get("roles", {})
    if not isinstance(roles, Mapping):
        raise PolicyError("storage.quota.roles: must be a table of role = {jobs_per_day, "
                          "stored_bytes}")
    exempt = table.get("exempt_roles", [])
    if isinstance(exempt, str):
        exempt = [r.strip() for r in exempt.split(",") if r.strip()]
    inherited = {k: table[k] for k in ("jobs_per_day", "stored_bytes") if k in table}
    for role, limits in roles.items():
        if not isinstance(limits, Mapping):
            raise PolicyError(f"storage.quota.roles.{role}: must be a table (jobs_per_day, "
                              "stored_bytes)")
    # a role's table lifts what it names ("none": no limit) and keeps the default's rest
    return QuotaPolicy(default=_quota(table, "storage.quota"),
                       roles={str(r): _quota({**inherited, **q}, f"storage.quota.roles.{r}")
                              for r, q in roles.items()},
                       exempt_roles=frozenset(str(r) for r in exempt))


def _quota(table: Any, where: str) -> Quota:
    if not isinstance(table, Mapping):
        raise PolicyError(f"{where}: must be a table (jobs_per_day, stored_bytes)")
    jobs = table.get("jobs_per_day")
    if _unset(jobs):
        jobs = None
    if jobs is not None:
        try:
            jobs = int(jobs)
        except (TypeError, ValueError):
            raise PolicyError(f"{where}.jobs_per_day: must be a whole number, got {jobs!r}") from None
        if jobs < 0:
            raise PolicyError(f"{where}.jobs_per_day: must not be negative, got {jobs}")
    stored = table.get("stored_bytes")
    return Quota(jobs_per_day=jobs,
                 stored_bytes=None if stored is None else parse_size(stored, f"{where}.stored_bytes"))


def with_quota_env(policy: StoragePolicy, environ: Mapping[str, str]) -> StoragePolicy:
    """The policy with the default quota from ``ASTROFLOW_QUOTA_*`` (when set)."""
    given = {k: environ[name] for k, name in QUOTA_ENVIRONMENT.items() if environ.get(name)}
    if not given:
        return policy
    base = policy.quota.default
    merged = {"jobs_per_day": base.jobs_per_day, "stored_bytes": base.stored_bytes, **given}
    quota = replace(policy.quota, default=_quota(merged, "quota"))
    exempt = environ.get("ASTROFLOW_QUOTA_EXEMPT_ROLES")
    if exempt:
        quota = replace(quota, exempt_roles=frozenset(r.strip() for r in exempt.split(",")))
    return replace(policy, quota=quota)


def parse_age(value: Any, name: str) -> float | None:
    """Seconds from ``86400``, ``"30d"``, ``"12h"``, ``"P30D"``; ``"never"``/``false``: None."""
    if _unset(value):
        return None
    if isinstance(value, bool):
        raise PolicyError(f"{name}: must be a duration such as 30d, got {value!r}")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        text = str(value)
        match = _SPAN.match(text)
        if match:
            seconds = float(match.group(1)) * _UNITS[match.group(2).lower() or "s"]
        else:
            try:
                seconds = TypeAdapter(timedelta).validate_python(text).total_seconds()
            except PydanticError:
                raise PolicyError(f"{name}: {text!r} is not a duration (use seconds, 30d, "
                                  "12h, 15m, 10s or ISO 8601 such as P30D)") from None
    if seconds < 0:
        raise PolicyError(f"{name}: must not be negative, got {value!r}")
    return seconds


def parse_size(value: Any, name: str) -> int | None:
    """Bytes from ``1073741824``, ``"1GiB"``, ``"50 GB"``; ``"none"``/``false``: None."""
    if _unset(value):
        return None
    try:
        return int(TypeAdapter(ByteSize).validate_python(value))
    except PydanticError:
        raise PolicyError(f"{name}: {value!r} is not a size (use bytes, 500MB, 50GB or "
                          "1.5GiB)") from None


def _unset(value: Any) -> bool:
    """No limit: absent, ``false``, or ``"never"``/``"off"``/``"none"``."""
    return value is None or value is False or (
        isinstance(value, str) and value.strip().lower() in ("never", "off", "none", ""))


def _fraction(value: Any, name: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise PolicyError(f"{name}: must be a number between 0 and 1, got {value!r}") from None
    if not 0 < number <= 1:
        raise PolicyError(f"{name}: must be between 0 and 1, got {number}")
    return number
