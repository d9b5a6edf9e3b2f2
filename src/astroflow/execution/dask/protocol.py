"""What travels between the server's `DaskExecutor` and the workers: names and messages.

Progress and start notices go from the run's worker to the server as Dask structured events
(``Worker.log_event`` → scheduler → every client subscribed to the topic). Why events and not
the database: a worker holds no database credentials (a run must never reach the job store),
one subscription serves every run of the server (no thread per job, as a ``Sub`` would need),
and a report costs one batched message, not a database write on the worker.
"""

from __future__ import annotations

PROGRESS_TOPIC = "astroflow-run"   # events: {"run": id, "kind": "started"|"progress", ...}
SCHEDULER_VARIABLE = "ASTROFLOW_SCHEDULER"  # a Dask run's environment: where parallel.map goes
RUN_VARIABLE = "ASTROFLOW_DASK_RUN"         # a Dask run's environment: "run id@worker address"
FANOUT_VARIABLE = "ASTROFLOW_DASK_FANOUT"   # a worker's: 0 shuts the cluster's ports to runs
MAX_ATTEMPTS = 2                   # a run whose worker is lost runs once more elsewhere
WORKER_LOST = "worker lost"
