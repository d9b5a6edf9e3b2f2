"""``astroflow bot``: deploy new versions of followed repositories, once or on an interval."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from astroflow.execution.pool import ExecutorPool
from astroflow.jobs.store import JobStore
from astroflow.registry.catalog import ServiceCatalog
from astroflow.registry.registry import Registry
from astroflow.server.config import ServerConfig


def open_registry(config: ServerConfig, executors: ExecutorPool) -> Registry:
    if config.registry is None or not config.registry.sources:
        where = config.config_file or "astroflow.toml"
        raise SystemExit(f"astroflow: no [[sources]] configured in {where}; see README "
                         "(Live workflows) for the format")
    config.data_dir.mkdir(parents=True, exist_ok=True)
    store = JobStore(config.db_url)
    store.migrate()
    return Registry(store, ServiceCatalog(), config.registry, config.data_dir / "registry",
                    executors.get)


def run_bot(config: ServerConfig, *, once: bool, interval: float, as_json: bool) -> int:
    with ExecutorPool(max_parallel=config.workers) as executors:
        registry = open_registry(config, executors)
        failed = False
        while True:
            outcomes = registry.update()
            failed = any(o["status"] == "failed" for o in outcomes)
            print_outcomes(outcomes, as_json)
            if once:
                return 1 if failed else 0
            time.sleep(interval)


def print_outcomes(outcomes: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        print(json.dumps(outcomes, indent=2))
        return
    for o in outcomes:
        version = (o.get("version") or "")[:12]
        line = f"{o.get('repository') or '-':<40} {version:<12} {o['status']}"
        if o["status"] == "failed":
            line += f" at {o.get('step')}: {o.get('reason')}"
        elif o.get("services"):
            line += f": {', '.join(o['services'])}"
        print(line)
    sys.stdout.flush()


def print_status(config: ServerConfig, as_json: bool) -> int:
    with ExecutorPool() as executors:
        entries = open_registry(config, executors).status()
    if as_json:
        print(json.dumps(entries, indent=2))
        return 0
    for e in entries:
        active = (e["active_version"] or "none")[:12]
        print(f"{e['name']:<40} active {active:<12} last attempt: {e['status']}")
        last = e["last_attempt"]
        if last and last["status"] == "failed":
            print(f"    {last['version'][:12]} failed at {last['step']}: {last['reason']}")
    return 0


def config_from_args(args: Any) -> ServerConfig:
    return ServerConfig.from_env(config_file=getattr(args, "config", None),
                                 db=getattr(args, "db", None),
                                 data_dir=getattr(args, "data_dir", None))
