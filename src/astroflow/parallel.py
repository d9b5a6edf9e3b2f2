"""`map(fn, items)`: fan an analysis out over the Dask cluster its job runs on, else over
local processes, with the same results in the same order.

A job run by the ``dask`` executor finds its scheduler's address in ``ASTROFLOW_SCHEDULER``
(the worker sets it in the run's environment; the run sandbox shuts only the job database's
port, so the run reaches the scheduler over the network or loopback): `map` then submits one
task per item to that cluster. Inside a plain Dask task it uses the task's own client. Anywhere
else it forks local processes. ``distributed`` is imported only on the cluster path.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

SCHEDULER_VARIABLE = "ASTROFLOW_SCHEDULER"  # = astroflow.execution.dask.protocol's
RUN_VARIABLE = "ASTROFLOW_DASK_RUN"         # = astroflow.execution.dask.protocol's

_client: Any = None
_client_lock = threading.Lock()
_shared: dict[int, Any] = {}  # what forked local workers read (copy-on-write)


def cluster_client() -> Any:
    """The Dask client of the cluster this code runs on, or None (run it locally)."""
    global _client
    address = os.environ.get(SCHEDULER_VARIABLE, "").strip()
    if address:
        with _client_lock:
            if _client is None or _client.status in ("closed", "closing"):
                from distributed import Client

                _client = Client(address, set_as_default=False, timeout=30)
                _announce_fan_out(_client)
            return _client
    if "distributed" in sys.modules:  # never import it only to learn we are not in a task
        from distributed import get_client, get_worker

        try:
            get_worker()
        except ValueError:
            return None
        return get_client()
    return None


def _announce_fan_out(client: Any) -> None:
    """Tell this job's worker that the job now waits for tasks of its own: its job task
    gives its thread back, so that a full cluster still has threads to run them."""
    run = os.environ.get(RUN_VARIABLE, "")
    if "@" in run:
        from astroflow.execution.dask.plugin import mark_fanning_out

        run_id, worker = run.split("@", 1)
        client.run(mark_fanning_out, run_id, workers=[worker], on_error="ignore")


def cluster_threads(client: Any) -> int:
    """How many tasks the cluster runs at once (its workers' threads)."""
    return max(1, sum(client.nthreads().values()))


def map(fn: Callable[..., Any], items: Iterable[Any], *, shared: Any = None,
        workers: int | None = None, client: Any = None,
        done: Callable[[int, int], None] | None = None) -> list[Any]:
    """``[fn(item) for item in items]`` (``fn(shared, item)`` when ``shared`` is given), in
    parallel, in order.

    ``shared``: one large read-only object every call needs (an analysis, a data release):
    sent to each Dask worker once (``scatter``), or inherited by forked local processes,
    never pickled per item. ``workers``: local processes (default: the CPUs; 1 runs in this
    process). ``client``: a Dask client to use instead of finding one (`cluster_client`).
    ``done(count, total)`` is called as items finish (in any order). Exceptions propagate.
    """
    items = list(items)
    client = client if client is not None else cluster_client()
    if client is not None:
        return _on_cluster(client, fn, items, shared, done)
    workers = (os.cpu_count() or 1) if workers is None else max(1, int(workers))
    if workers == 1 or len(items) <= 1:
        out = []
        for item in items:
            out.append(fn(item) if shared is None else fn(shared, item))
            if done is not None:
                done(len(out), len(items))
        return out
    key = id(items)
    _shared[key] = (fn, shared)
    try:
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(min(workers, len(items)), mp_context=context) as pool:
            return _in_order([pool.submit(_call_shared, key, item) for item in items], done)
    finally:
        _shared.pop(key, None)


def _in_order(futures: list[Any], done: Callable[[int, int], None] | None) -> list[Any]:
    """The futures' results in submission order, ``done`` called as each one ends."""
    from concurrent.futures import as_completed

    if done is not None:
        for count, future in enumerate(as_completed(futures), 1):
            future.result()
            done(count, len(futures))
    return [future.result() for future in futures]


def _call_shared(key: int, item: Any) -> Any:
    """In a forked local worker: the call, with what the parent held when it forked."""
    fn, shared = _shared[key]
    return fn(item) if shared is None else fn(shared, item)


def _on_cluster(client: Any, fn: Callable[..., Any], items: list[Any], shared: Any,
                done: Callable[[int, int], None] | None) -> list[Any]:
    make_importable(client, fn)
    if shared is None:
        futures = client.map(fn, items, pure=False)
    else:
        make_importable(client, shared)
        remote = client.scatter(shared, broadcast=True, hash=False)
        futures = client.map(fn, [remote] * len(items), items, pure=False)
    if done is None:
        return client.gather(futures)
    finished = _Counter(len(futures), done)
    for future in futures:
        future.add_done_callback(finished.tick)  # on the client's callback thread
    results = client.gather(futures)
    finished.all_reported.wait(10.0)  # the last callbacks may trail the results
    return results


class _Counter:
    """Calls ``done(count, total)`` as futures end, from whichever thread tells it."""

    def __init__(self, total: int, done: Callable[[int, int], None]) -> None:
        self.total, self.done, self.count = total, done, 0
        self.lock = threading.Lock()
        self.all_reported = threading.Event()

    def tick(self, _future: Any) -> None:
        with self.lock:
            self.count += 1
            self.done(self.count, self.total)
            if self.count >= self.total:
                self.all_reported.set()


def make_importable(client: Any, value: Any) -> None:
    """Let the cluster's workers import the code of ``value`` (a function, or an object of a
    class) when it comes from the job's own workflow: its package is on the run's path, not
    the workers'. Its folder goes first on their path (one machine or a shared file system,
    as for the job folders), and a copy they had imported from another folder (another
    version of the workflow) is forgotten. Installed packages need nothing."""
    module = sys.modules.get(getattr(value, "__module__", "") or "")
    if module is None:
        return
    name = module.__name__.split(".")[0]
    top = sys.modules.get(name, module)
    path = getattr(top, "__file__", None) or ""
    if (not path or "site-packages" in path or "dist-packages" in path
            or path.startswith(sys.base_prefix) or name in ("__main__", "astroflow")):
        return
    folder = os.path.dirname(os.path.dirname(path) if hasattr(top, "__path__") else path)
    done = _importable.setdefault(id(client), set())
    if (name, folder) not in done:
        client.run(_use_folder, name, folder)
        done.add((name, folder))


_importable: dict[int, set[tuple[str, str]]] = {}


def _use_folder(name: str, folder: str) -> None:
    """On a worker: import ``name`` from ``folder`` from now on."""
    if folder in sys.path:
        sys.path.remove(folder)
    sys.path.insert(0, folder)
    loaded = sys.modules.get(name)
    if loaded is not None and not (getattr(loaded, "__file__", "") or "").startswith(
            folder + os.sep):
        for key in [k for k in sys.modules if k == name or k.startswith(name + ".")]:
            del sys.modules[key]
