"""The server's run sandbox: the policy from its settings, and what it says at start.

Settings (environment; the same names without ``ASTROFLOW_`` as ``astroflow.toml`` keys are
not read): ``ASTROFLOW_SANDBOX`` = ``on`` (default: every layer the kernel offers, a loud
warning for each it lacks), ``strict`` (refuse to run without them) or ``off`` (trusted
workflows only); per-run defaults ``ASTROFLOW_RUN_MEMORY`` (4G), ``ASTROFLOW_RUN_CPU_TIME``
(seconds, none), ``ASTROFLOW_RUN_PROCESSES`` (256), ``ASTROFLOW_RUN_OUTPUT`` (2G); the
ceilings a workflow's own declarations may reach, ``ASTROFLOW_RUN_MEMORY_MAX`` … (default:
the defaults); extra read-only paths ``ASTROFLOW_SANDBOX_READ`` (``:``-separated).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

from astroflow.execution.sandbox.policy import RunLimits, SandboxPolicy, parse_size

log = logging.getLogger("astroflow.server")

_LIMITS = (("memory", "ASTROFLOW_RUN_MEMORY", parse_size),
           ("cpu_time", "ASTROFLOW_RUN_CPU_TIME", float),
           ("processes", "ASTROFLOW_RUN_PROCESSES", int),
           ("output", "ASTROFLOW_RUN_OUTPUT", parse_size))
_DB_PORTS = {"postgresql": 5432, "mysql": 3306, "mariadb": 3306, "mssql": 1433, "oracle": 1521}


def limits_from_env(environ: Mapping[str, str]) -> tuple[RunLimits, RunLimits]:
    """(defaults, ceilings) from ``ASTROFLOW_RUN_*``; ``none`` lifts a limit."""
    defaults = RunLimits()
    ceilings: dict[str, float | int | None] = {}
    values: dict[str, float | int | None] = {}
    for field_name, variable, parse in _LIMITS:
        for target, name in ((values, variable), (ceilings, variable + "_MAX")):
            text = environ.get(name, "").strip()
            if not text:
                continue
            try:
                target[field_name] = None if text.lower() in ("none", "0", "off") else parse(text)
            except ValueError as exc:
                raise ValueError(f"{name}={text!r}: {exc}") from None
    defaults = RunLimits(**{f: values.get(f, getattr(defaults, f)) for f, *_ in _LIMITS})
    maximum = RunLimits(**{f: ceilings.get(f, getattr(defaults, f)) for f, *_ in _LIMITS})
    return defaults, maximum


def sandbox_policy(mode: str, limits: RunLimits, data_dir: Path, db_url: str,
                   environ: Mapping[str, str] = os.environ) -> SandboxPolicy | None:
    """The policy every served run gets (None when the operator turned the sandbox off)."""
    if mode == "off":
        return None
    if mode not in ("on", "strict"):
        raise ValueError(f"ASTROFLOW_SANDBOX={mode!r}: use on, strict or off")
    read = tuple(Path(p) for p in environ.get("ASTROFLOW_SANDBOX_READ", "").split(os.pathsep)
                 if p.strip())
    data_dir = Path(data_dir).resolve()
    return SandboxPolicy(limits=limits, read=read, data_dir=data_dir,
                         blocked_ports=database_ports(db_url), strict=mode == "strict",
                         workflow_cache=data_dir / "cache" / "workflows")


def database_ports(db_url: str) -> tuple[int, ...]:
    """The job database's TCP port: no run may connect to it (its credentials are not in
    a run's environment, but a database trusting local connections needs none)."""
    from sqlalchemy.engine import make_url

    try:
        url = make_url(db_url)
    except Exception:  # noqa: BLE001 - an unparsable URL fails elsewhere, loudly
        return ()
    backend = url.get_backend_name()
    if backend not in _DB_PORTS or (url.host or "").startswith("/"):
        return ()
    return (url.port or _DB_PORTS[backend],)


def report_sandbox(policy: SandboxPolicy | None) -> dict[str, str | None]:
    """Probe the kernel once and warn, loudly, for each layer runs will go without."""
    if policy is None:
        log.warning("run sandbox OFF (ASTROFLOW_SANDBOX=off): workflows can read this "
                    "server's files and database; serve trusted workflows only")
        return {}
    from astroflow.execution.sandbox.probe import sandbox_support

    support = sandbox_support()
    missing = {layer: why for layer, why in support.items() if why}
    for layer, why in missing.items():
        log.warning("run sandbox: no %s on this machine (%s)", layer, why)
    if policy.strict and set(missing) - {"cgroup"}:
        raise RuntimeError("ASTROFLOW_SANDBOX=strict but this machine lacks: "
                           + ", ".join(sorted(missing)))
    return support


def hide_server_process() -> bool:
    """Linux: make this process non-dumpable, so that no process of the same user without
    CAP_SYS_PTRACE (every sandboxed run) reads its ``/proc/PID/environ`` or memory, where
    the JWT secret and database password live. Core dumps of the server stop too."""
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return False
    pr_set_dumpable = 4
    return ctypes.CDLL(None, use_errno=True).prctl(pr_set_dumpable, 0, 0, 0, 0) == 0
