"""``astroflow worker --scheduler ADDR``: a Dask worker (under its nanny) with astroflow's plugin.

It is Dask's own ``dask worker`` with the preload added, so every option of that command
works after ``--`` (``--memory-limit``, ``--resources``, ``--local-directory`` ...), and
what starts Dask workers elsewhere (dask-jobqueue, dask-kubernetes) needs only the preload;
it is started again when it ends because its scheduler went away.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time

PRELOAD = "astroflow.execution.dask.preload"
FANOUT_VARIABLE = "ASTROFLOW_DASK_FANOUT"  # = protocol's (this module imports no distributed)
RESTART_SECONDS = 1.0  # at most one restart per this long (a scheduler that stays away)
SHORT_LIFE_SECONDS = 10.0  # a worker that ends sooner, MAX_QUICK_ENDS times in a row,
MAX_QUICK_ENDS = 5         # cannot start: give up with its exit status


def add_command(sub: argparse._SubParsersAction) -> None:
    worker = sub.add_parser("worker", help="start a Dask worker that runs astroflow jobs",
                            description="Start a Dask worker (under its nanny) with "
                                        "astroflow's plugin, for astroflow serve --executor dask://…")
    worker.add_argument("--scheduler", required=True, metavar="ADDR",
                        help="the scheduler: dask://HOST:PORT or tcp://HOST:PORT "
                             "(the address given to astroflow serve --executor)")
    worker.add_argument("--nworkers", type=int, default=1,
                        help="worker processes (default 1)")
    worker.add_argument("--nthreads", type=int, default=None,
                        help="jobs each worker process runs at once (default: CPUs / nworkers)")
    worker.add_argument("--name", default=None, help="the worker's name on the scheduler")
    worker.add_argument("--no-fanout", action="store_true",
                        help="sandboxed runs may not reach the scheduler or the workers: no "
                             "astroflow.parallel over the cluster (it forks local processes); "
                             "for untrusted workflows (ASTROFLOW_DASK_FANOUT=0)")
    worker.add_argument("dask_args", nargs=argparse.REMAINDER, metavar="-- DASK_WORKER_OPTION",
                        help="passed to dask worker as they are")


def worker_argv(args: argparse.Namespace) -> list[str]:
    """The ``dask worker`` command line this command runs."""
    from astroflow.execution.dask.executor import scheduler_address

    nthreads = args.nthreads or max(1, (os.cpu_count() or 1) // max(1, args.nworkers))
    argv = [sys.executable, "-m", "distributed.cli.dask_worker",
            scheduler_address(args.scheduler), "--preload", PRELOAD,
            "--nworkers", str(args.nworkers), "--nthreads", str(nthreads)]
    if args.name:
        argv += ["--name", args.name]
    extra = list(args.dask_args or [])
    return argv + (extra[1:] if extra[:1] == ["--"] else extra)


def cmd_worker(args: argparse.Namespace) -> int:
    """Run ``dask worker``, and start it again when it ends on its own: Dask workers close
    when their scheduler goes away, and a restarted scheduler must find them back (the
    server then submits the runs the old one lost). SIGTERM / SIGINT stop it for good."""
    try:
        argv = worker_argv(args)
    except ValueError as exc:
        print(f"error: --scheduler: {exc}", file=sys.stderr)
        return 2
    env = {**os.environ, **({FANOUT_VARIABLE: "0"} if args.no_fanout else {})}
    stopping: list[int] = []
    child: list[subprocess.Popen] = []

    def stop(signum: int, _frame: object) -> None:
        stopping.append(signum)
        if child and child[0].poll() is None:
            child[0].send_signal(signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    code, quick_ends = 0, 0
    while not stopping:
        started = time.monotonic()
        child[:] = [subprocess.Popen(argv, env=env)]
        code = child[0].wait()
        lived = time.monotonic() - started
        quick_ends = quick_ends + 1 if lived < SHORT_LIFE_SECONDS else 0
        if stopping or quick_ends >= MAX_QUICK_ENDS:
            break  # stopped, or it cannot start (a bad option, no astroflow on its path)
        print(f"astroflow worker: dask worker ended (status {code}); starting it again",
              file=sys.stderr)
        time.sleep(max(0.0, RESTART_SECONDS - lived))
    return 0 if stopping else (code or 1)
