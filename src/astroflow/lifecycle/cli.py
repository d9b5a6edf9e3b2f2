"""``astroflow gc``: apply the storage policy once, from the command line (cron, or by hand).

It reads the same settings as the server (``[storage]`` of astroflow.toml, ``ASTROFLOW_*``,
then these flags), takes the same database lease, so it never sweeps at the same time as a
server replica, and reports what it removed (``--dry-run``: what it would remove).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

from astroflow.errors import AstroflowError
from astroflow.lifecycle.sweep import Report

EXIT_OK, EXIT_BUSY = 0, 3


def add_parser(sub: argparse._SubParsersAction) -> None:
    gc = sub.add_parser("gc", help="remove what the storage policy allows (expired results, "
                                   "evicted formats, old uploads, leftovers) and report it")
    gc.add_argument("--dry-run", action="store_true", help="report what would go; remove nothing")
    gc.add_argument("--data-dir", type=Path, default=None, help="the server's data directory")
    gc.add_argument("--db", default=None, help="SQLAlchemy URL (default: SQLite in data dir)")
    gc.add_argument("--store", default=None, help="artifact folder or fsspec URL")
    gc.add_argument("--config", type=Path, default=None,
                    help="astroflow.toml with a [storage] table (default: ./astroflow.toml)")
    gc.add_argument("--max-age", default=None, help="done jobs' results older than this go "
                                                   "(30d, 12h, P30D; overrides max_age)")
    gc.add_argument("--max-bytes", default=None, help="evict least recently used results "
                                                     "beyond this total (50GB; max_bytes)")
    gc.add_argument("--grace", default=None,
                    help="keep jobs used (downloaded, joined) this recently (default 300 s; "
                         "in_use_grace)")
    gc.add_argument("--free", default=None,
                    help="free at least this much now (e.g. 2GB), least recently used first")
    gc.add_argument("--json", action="store_true", help="machine-readable report")


def cmd_gc(args: argparse.Namespace) -> int:
    from astroflow.jobs.artifacts import ArtifactStore
    from astroflow.jobs.store import JobStore, worker_id
    from astroflow.lifecycle import lease
    from astroflow.lifecycle.housekeeping import LEASE
    from astroflow.lifecycle.policy import StoragePolicy, parse_size
    from astroflow.lifecycle.sweep import Sweeper
    from astroflow.server.config import ServerConfig

    config = ServerConfig.from_env(db=args.db, store=args.store, data_dir=args.data_dir,
                                   config_file=args.config)
    policy = StoragePolicy.load(config.config_file, os.environ, max_age=args.max_age,
                                max_bytes=args.max_bytes, in_use_grace=args.grace)
    need = parse_size(args.free, "--free") or 0
    if config.db is None and not (config.data_dir / "astroflow.db").is_file():
        raise AstroflowError(f"no astroflow database in {config.data_dir}: give the server's "
                             "--data-dir, or --db")
    store = JobStore(config.db_url)
    try:
        store.migrate()
        artifacts = ArtifactStore(config.store_root, cache=config.data_dir / "cache")
        holder = f"gc:{worker_id()}"
        ttl = max(60.0, 2 * policy.interval)
        if not lease.acquire(store.engine, LEASE, holder, ttl):
            print(f"a sweep is running elsewhere ({lease.holder(store.engine, LEASE)}); "
                  "try again later", file=sys.stderr)
            return EXIT_BUSY
        try:
            sweeper = Sweeper(store, artifacts, policy, leftover_window=math.inf,
                              keep_lease=lambda: lease.acquire(store.engine, LEASE, holder, ttl))
            report = sweeper.run(dry_run=args.dry_run, need_bytes=need)
        finally:
            lease.release(store.engine, LEASE, holder)
    finally:
        store.close()
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        print(render(report))
    return EXIT_OK


def render(report: Report) -> str:
    """The report for people: one line per kind, then the totals."""
    verb = "would remove" if report.dry_run else "removed"
    labels = {"ended": "failed/cancelled jobs' files", "age": "results past their max age",
              "upload": "expired uploads", "derived": "derived formats (LRU)",
              "lru": "results evicted (LRU)", "scratch": "leftover scratch folders",
              "leftover": "leftover files of expired jobs"}
    lines = []
    for kind, totals in report.summary().items():
        files = f", {totals['files']} files" if totals["files"] >= 0 else ""
        lines.append(f"  {labels.get(kind, kind)}: {totals['count']} ({size(totals['bytes'])}"
                     f"{files})")
    head = (f"{verb} {len(report.removals)} items, {size(report.freed)} in "
            f"{report.seconds:.2f} s; {size(report.stored_bytes)} kept")
    notes = []
    if report.skipped_in_use:
        notes.append(f"{report.skipped_in_use} in use, kept")
    if report.measured:
        notes.append(f"measured {report.measured} jobs")
    if not report.complete:
        notes.append("stopped early: another process took the sweep's lease")
    return "\n".join([head + (f" ({'; '.join(notes)})" if notes else ""), *lines])


def size(n: int) -> str:
    value = float(n)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{int(value)} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"
