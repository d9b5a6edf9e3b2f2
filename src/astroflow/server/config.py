"""Server settings: command-line flags over ``ASTROFLOW_*`` environment variables over defaults."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from astroflow.accounts.oidc import OidcConfig
from astroflow.datadir import default_data_dir
from astroflow.execution.sandbox.policy import RunLimits
from astroflow.jobs.store import sqlite_url
from astroflow.lifecycle.policy import StoragePolicy
from astroflow.registry.sources import RegistryConfig
from astroflow.server.auth import AuthConfig

BUNDLED_WORKFLOWS = Path(__file__).resolve().parents[3] / "workflows"


@dataclass
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8000
    services: list[Path] = field(default_factory=list)
    db: str | None = None                 # SQLAlchemy URL; default SQLite in data_dir
    store: str | None = None              # artifact folder or fsspec URL; default data_dir/artifacts
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    data_dir: Path = field(default_factory=default_data_dir)
    time_limit: float = 3600.0            # default per-job limit, seconds
    # At SIGTERM, running jobs have this long to end before they go back to the queue; keep
    # it below the orchestrator's kill delay (Kubernetes: 30 s, systemd: 90 s).
    drain_grace: float = 20.0
    queue_limit: int = 1000               # queued jobs per caller (anonymous: per address)
    upload_limit: int = 100 * 1024 * 1024  # bytes per uploaded file
    # edge limits: what one request may carry, and how often one caller may submit
    param_limit: int = 64 * 1024          # bytes per parameter value (strings; JSON of lists)
    body_limit: int = 1024 * 1024         # bytes of a request body other than an upload
    rate_limit: int = 600                 # job submissions per minute per caller (0: no limit)
    base_url: str = ""
    auth: AuthConfig = field(default_factory=AuthConfig)
    oidc: OidcConfig | None = None        # "Sign in with <provider>" (ASTROFLOW_OIDC_*)
    login_rate_limit: int = 10            # password sign-in attempts per minute per address
    session_ttl: float = 12 * 3600        # seconds a portal sign-in lasts
    config_file: Path | None = None       # astroflow.toml: registry sources
    registry_interval: float | None = None  # seconds between looks at the sources (None: hooks only)
    registry: RegistryConfig | None = None
    operator_role: str = "operator"       # may list every job and cancel any job
    metrics_role: str | None = None       # /metrics needs a token with it (None: open)
    # run sandbox (server/isolation.py): on | strict | off, per-run limits and their ceilings
    sandbox: str = "on"
    run_limits: RunLimits = field(default_factory=RunLimits)
    max_run_limits: RunLimits | None = None   # None: the same as run_limits
    # storage lifecycle: [storage] of astroflow.toml over ASTROFLOW_MAX_AGE, … (lifecycle/policy.py)
    storage: StoragePolicy | None = None
    executor: str = "local"               # local | dask://HOST:PORT (execution/dask/)

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir)
        # No signing key configured: the one `astroflow serve` made in the data directory.
        self.auth = self.auth.with_stored_key(self.data_dir)
        if self.config_file is None and Path("astroflow.toml").is_file():
            self.config_file = Path("astroflow.toml")
        if self.registry is None and self.config_file is not None:
            self.registry = RegistryConfig.load(Path(self.config_file))
        if self.storage is None:
            self.storage = StoragePolicy.load(self.config_file, os.environ)
        has_sources = self.registry is not None and bool(self.registry.sources)
        if not self.services and not has_sources and BUNDLED_WORKFLOWS.is_dir():
            self.services = [BUNDLED_WORKFLOWS]

    @property
    def db_url(self) -> str:
        return self.db or sqlite_url(self.data_dir / "astroflow.db")

    @property
    def store_root(self) -> str:
        return self.store or str(self.data_dir / "artifacts")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ, **overrides: object) -> ServerConfig:
        """Environment first, then explicit (non-None) overrides such as command-line flags."""
        values: dict[str, object] = {}
        env = {
            "host": ("ASTROFLOW_HOST", str), "port": ("ASTROFLOW_PORT", int),
            "db": ("ASTROFLOW_DB", str), "store": ("ASTROFLOW_STORE", str),
            "workers": ("ASTROFLOW_WORKERS", int), "data_dir": ("ASTROFLOW_DATA_DIR", Path),
            "time_limit": ("ASTROFLOW_TIME_LIMIT", float),
            "drain_grace": ("ASTROFLOW_DRAIN_GRACE", float),
            "queue_limit": ("ASTROFLOW_QUEUE_LIMIT", int), "base_url": ("ASTROFLOW_BASE_URL", str),
            "upload_limit": ("ASTROFLOW_UPLOAD_LIMIT", int),
            # edge limits
            "param_limit": ("ASTROFLOW_PARAM_LIMIT", int),
            "body_limit": ("ASTROFLOW_BODY_LIMIT", int),
            "rate_limit": ("ASTROFLOW_RATE_LIMIT", int),
            "config_file": ("ASTROFLOW_CONFIG", Path),
            "registry_interval": ("ASTROFLOW_REGISTRY_INTERVAL", float),
            "operator_role": ("ASTROFLOW_OPERATOR_ROLE", str),
            "metrics_role": ("ASTROFLOW_METRICS_ROLE", str),
            "login_rate_limit": ("ASTROFLOW_LOGIN_RATE_LIMIT", int),
            "session_ttl": ("ASTROFLOW_SESSION_TTL", float),
            "executor": ("ASTROFLOW_EXECUTOR", str),
        }
        for key, (name, kind) in env.items():
            if environ.get(name):
                values[key] = kind(environ[name])
        if environ.get("ASTROFLOW_SERVICES"):
            values["services"] = [Path(p) for p in environ["ASTROFLOW_SERVICES"].split(os.pathsep) if p]
        values["auth"] = AuthConfig.from_env(environ)
        values["oidc"] = OidcConfig.from_env(environ)
        from astroflow.server.isolation import limits_from_env

        values["run_limits"], values["max_run_limits"] = limits_from_env(environ)
        if environ.get("ASTROFLOW_SANDBOX"):
            values["sandbox"] = environ["ASTROFLOW_SANDBOX"].strip().lower()
        values.update({k: v for k, v in overrides.items() if v is not None and v != []})
        services = values.get("services")
        if isinstance(services, list | tuple):
            values["services"] = [Path(p) for p in services]
        return cls(**values)  # type: ignore[arg-type]

    @property
    def store_kind(self) -> str:
        """The database's kind ("sqlite", "postgresql"): what /healthz may tell anyone."""
        from sqlalchemy.engine import make_url

        return make_url(self.db_url).get_backend_name()

    def redacted_db(self) -> str:
        from sqlalchemy.engine import make_url

        return make_url(self.db_url).render_as_string(hide_password=True)
