"""`LocalExecutor`: runs notebooks as killable processes forked from a warm parent.

The executor keeps one warm parent (restarted when it dies), a FIFO of runs waiting for a
slot (at most ``max_parallel`` run at once) and a `RunHandle` per run. Everything the warm
parent reports arrives on its listening thread and is turned into handle state here.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import logging
import os
import pickle
import signal
import sys
import threading
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

from astroflow.execution.protocol import NOTEBOOK_FILE, RESULT_FILE, SPEC_FILE
from astroflow.execution.sandbox.environment import run_environment
from astroflow.execution.sandbox.limits import signal_reason
from astroflow.execution.sandbox.policy import (
    CACHE_VARIABLE,
    RunLimits,
    SandboxPolicy,
    format_size,
    workflow_cache_dir,
)
from astroflow.execution.sandbox.tree import kill_tree
from astroflow.execution.spec import ErrorKind, Progress, RunError, RunResult, RunSpec, Status
from astroflow.execution.warm import Zygote
from astroflow.execution.workdir import clear_outputs, write_json

log = logging.getLogger("astroflow.execution")

# Every warm parent has these: the run machinery, nothing a notebook may not need.
DEFAULT_PRELOAD: tuple[str, ...] = (
    "astroflow.execution.child",
    "IPython",
    "astroflow.products",
)
# Submodules that users of a package nearly always reach, imported along with it.
COMPANIONS: dict[str, tuple[str, ...]] = {
    "astropy": ("astropy.units", "astropy.time", "astropy.table", "astropy.coordinates",
                "astropy.io.fits"),
    "matplotlib": ("matplotlib.pyplot", "matplotlib_inline.backend_inline"),
}
MAX_WARM_PARENTS = 4
_BASE_PACKAGES = frozenset(name.split(".")[0] for name in DEFAULT_PRELOAD)  # every parent has them


def warm_profile(modules: Sequence[str]) -> tuple[str, ...]:
    """The third-party packages a run imports; runs with the same ones share a warm parent.

    Why not one warm parent with everything: forking costs in proportion to the parent's
    memory, so a trivial notebook forked from a parent that holds matplotlib and astropy
    (110 MB) pays 3 ms per run that one holding only IPython (28 MB) does not.
    """
    tops = {name.split(".")[0] for name in modules}
    return tuple(sorted(t for t in tops
                        if t not in sys.stdlib_module_names and t not in _BASE_PACKAGES))


def profile_modules(profile: Sequence[str]) -> tuple[str, ...]:
    """What a warm parent of this profile imports beyond the base preload."""
    modules: list[str] = []
    for package in profile:
        modules.append(package)
        modules.extend(COMPANIONS.get(package, ()))
    return tuple(modules)


ProgressCallback = Callable[[Progress], None]


class RunHandle:
    """A submitted run: wait for it, cancel it, or ask whether it is over."""

    def __init__(self, executor: LocalExecutor, job_id: str, spec: RunSpec, spec_path: Path,
                 on_progress: ProgressCallback | None) -> None:
        self.job_id = job_id
        self.spec = spec
        self.pid: int | None = None
        self._executor = executor
        self._spec_path = spec_path
        self._on_progress = on_progress
        self._zygote: Zygote | None = None
        self._dispatched_at: float | None = None
        self._started_at: float | None = None
        # "cancelled", "time_limit", or (kind, message) of a sandbox limit
        self._stop_reason: str | tuple[str, str] | None = None
        self._done = threading.Event()
        self._result: RunResult | None = None
        self._callbacks: list[Callable[[RunHandle], None]] = []
        self._callback_lock = threading.Lock()

    def wait(self, timeout: float | None = None) -> RunResult:
        """The result, once the run is over; `TimeoutError` if that takes longer than timeout."""
        if not self._done.wait(timeout):
            raise TimeoutError(f"run {self.job_id} still going after {timeout} s")
        assert self._result is not None
        return self._result

    def cancel(self) -> None:
        """Stop the run (kills its whole process group); its result says ``cancelled``."""
        self._executor._stop(self, "cancelled")

    def abandon(self) -> None:
        """Stop the run and leave its folder as it is: another process owns the job now
        (a replica took it over), and a result written here would overwrite its own."""
        self._executor._stop(self, "abandoned")

    def done(self) -> bool:
        return self._done.is_set()

    def add_done_callback(self, callback: Callable[[RunHandle], None]) -> None:
        """Call ``callback(handle)`` once the run is over (at once if it is already), on the
        thread that learns of the end: keep it short, e.g. put the handle on a queue."""
        with self._callback_lock:
            if not self._done.is_set():
                self._callbacks.append(callback)
                return
        callback(self)

    def _finish(self, result: RunResult) -> None:
        self._result = result
        with self._callback_lock:
            self._done.set()
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            try:
                callback(self)
            except Exception:  # noqa: BLE001 - a caller's callback must not break the listener
                log.exception("done callback of run %s failed", self.job_id)

    def _report(self, progress: Progress) -> None:
        if self._on_progress is None:
            return
        try:
            self._on_progress(progress)
        except Exception:  # noqa: BLE001 - a caller's callback must not break the listener
            log.exception("progress callback of run %s failed", self.job_id)


class LocalExecutor:
    """Runs notebooks on this machine, one forked process per run.

    ``python`` is the interpreter of the workflow's environment (it must have astroflow);
    ``preload`` the modules every run finds already imported. Runs fork from a warm parent
    of their `warm_profile` (at most ``max_warm_parents`` are kept, the least recently used
    idle one goes first); ``max_parallel`` bounds the runs going at once across all of them.
    With a ``sandbox`` policy every run is confined by it (its limits are the defaults and
    ``max_limits`` the ceiling a workflow's own declarations may reach), and the warm
    parents start with only the allowed part of this process's environment.
    """

    def __init__(self, python: str | None = None, preload: Sequence[str] = DEFAULT_PRELOAD,
                 max_parallel: int | None = None,
                 max_warm_parents: int = MAX_WARM_PARENTS,
                 sandbox: SandboxPolicy | None = None,
                 max_limits: RunLimits | None = None) -> None:
        self.python = python or sys.executable
        self.sandbox = sandbox
        self.max_limits = max_limits or (sandbox.limits if sandbox else RunLimits())
        self.preload = tuple(preload)
        self.max_parallel = max(1, max_parallel or os.cpu_count() or 1)
        self.max_warm_parents = max(1, max_warm_parents)
        self._lock = threading.RLock()
        self._waiting: deque[RunHandle] = deque()
        self._active: dict[str, RunHandle] = {}
        self._closed = False
        self._zygotes: OrderedDict[tuple[str, ...], Zygote] = OrderedDict()
        with self._lock:
            self._zygote_for(())  # warm up while the caller prepares its first run

    def warm(self, modules: Sequence[str]) -> None:
        """Have a warm parent ready for runs that import ``modules`` (e.g. at server start)."""
        with self._lock:
            zygote = self._zygote_for(warm_profile(modules))
            missing = [name for name in modules if name not in zygote.preloaded]
            if missing:
                zygote.preload(missing)

    def warm_parents(self) -> dict[tuple[str, ...], int]:
        """Profile → pid of each warm parent alive now."""
        with self._lock:
            return {profile: z.pid for profile, z in self._zygotes.items() if z.alive}

    # -- public API -----------------------------------------------------------------------

    def submit(self, spec: RunSpec, on_progress: ProgressCallback | None = None) -> RunHandle:
        """Queue a run; it starts as soon as fewer than ``max_parallel`` runs are going."""
        if self._closed:
            raise RuntimeError("this executor is closed")
        job_dir = Path(spec.job_dir).resolve()
        source_dir = Path(spec.source_dir).resolve() if spec.source_dir is not None else None
        # The warm parent's working directory is not the caller's: only absolute paths travel.
        spec = dataclasses.replace(spec, job_dir=job_dir, source_dir=source_dir)
        spec = dataclasses.replace(spec, sandbox=self._policy_for(spec))
        cache = _cache_dir(spec.sandbox, spec)
        if cache is not None:
            cache.mkdir(parents=True, exist_ok=True)
            spec = dataclasses.replace(spec, env={**spec.env, CACHE_VARIABLE: str(cache)})
        try:
            job_dir.mkdir(parents=True)
        except FileExistsError:  # a folder used before: what an earlier run left must go
            for stale in (RESULT_FILE, NOTEBOOK_FILE):
                (job_dir / stale).unlink(missing_ok=True)
        spec_path = job_dir / SPEC_FILE
        spec_path.write_bytes(pickle.dumps(spec, protocol=pickle.HIGHEST_PROTOCOL))
        handle = RunHandle(self, uuid.uuid4().hex, spec, spec_path, on_progress)
        with self._lock:
            if self._closed:
                raise RuntimeError("this executor is closed")
            self._waiting.append(handle)
            self._dispatch()
        return handle

    def _policy_for(self, spec: RunSpec) -> SandboxPolicy | None:
        """The executor's policy with the workflow's declared limits, none above the ceiling,
        and write access to its workflow's cache folder."""
        policy = spec.sandbox or self.sandbox
        if policy is None:
            return policy
        if spec.limits is not None:
            limits = dataclasses.asdict(spec.limits)
            policy = dataclasses.replace(policy, limits=policy.limits.overridden(**limits)
                                         .within(self.max_limits))
        cache = _cache_dir(policy, spec)
        if cache is not None:
            policy = dataclasses.replace(policy, write=(*policy.write, cache))
        return policy

    def _environment(self) -> dict[str, str] | None:
        if self.sandbox is None:
            return None
        from astroflow.execution.zygote import BLOCK_PORTS_VARIABLE, GROUPS_VARIABLE

        env = run_environment()
        env[GROUPS_VARIABLE] = "1"
        if self.sandbox.blocked_ports:
            env[BLOCK_PORTS_VARIABLE] = ",".join(str(p) for p in self.sandbox.blocked_ports)
        return env

    def run(self, spec: RunSpec, on_progress: ProgressCallback | None = None) -> RunResult:
        """Submit and wait."""
        return self.submit(spec, on_progress).wait()

    def close(self) -> None:
        """Stop the warm parent and every run; waiting runs end as cancelled."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            waiting = list(self._waiting)
            self._waiting.clear()
            for handle in self._active.values():
                handle._stop_reason = handle._stop_reason or "cancelled"
                _kill_group(handle.pid)
            zygotes = list(self._zygotes.values())
        for handle in waiting:
            handle._finish(self._stopped_result(handle, "cancelled"))
        for zygote in zygotes:
            zygote.close()

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- dispatching (called with the lock held) ------------------------------------------

    def _zygote_for(self, profile: tuple[str, ...]) -> Zygote:
        """The warm parent of this profile, started (and room made for it) if need be."""
        zygote = self._zygotes.get(profile)
        if zygote is None or not zygote.alive:
            self._make_room()
            zygote = Zygote(self.python, self.preload + profile_modules(profile), self,
                            environment=self._environment())
            self._zygotes[profile] = zygote
        self._zygotes.move_to_end(profile)
        return zygote

    def _make_room(self) -> None:
        """Stop least recently used idle warm parents beyond the limit (in the background:
        stopping one waits for its listener, which needs this executor's lock)."""
        busy = {id(h._zygote) for h in self._active.values()}
        for profile, zygote in list(self._zygotes.items()):
            if len(self._zygotes) < self.max_warm_parents:
                break
            if zygote.alive and id(zygote) in busy:
                continue
            del self._zygotes[profile]
            threading.Thread(target=zygote.close, daemon=True,
                             name=f"astroflow-retire-{zygote.pid}").start()

    def _dispatch(self) -> None:
        while self._waiting and not self._closed and self._may_send(self._waiting[0]):
            handle = self._waiting.popleft()
            handle._dispatched_at = time.monotonic()
            self._active[handle.job_id] = handle
            for _attempt in range(2):
                zygote = self._zygote_for(warm_profile(handle.spec.preload))
                handle._zygote = zygote
                missing = [name for name in handle.spec.preload if name not in zygote.preloaded]
                try:
                    if missing:
                        zygote.preload(missing)
                    zygote.run(handle.job_id, handle._spec_path, limit=self.max_parallel,
                               coordinator=handle.spec.coordinator)
                    break
                except OSError as exc:
                    # Died since we last heard from it: nothing was delivered, start afresh.
                    log.warning("warm parent %s unreachable (%s); restarting it", zygote.pid, exc)
                    zygote.alive = False

    def _may_send(self, handle: RunHandle) -> bool:
        """Whether the next run may go to its warm parent now.

        Below ``max_parallel`` runs out, always. Beyond it (up to twice as many) only when
        every run out is with that same warm parent: it keeps the extra ones waiting and forks
        one the moment one of its own ends, at most ``max_parallel`` going at once, so the next
        run does not wait for word to travel to this process and back. Runs of two parents
        never add up to more than ``max_parallel`` that way.
        """
        if handle.spec.coordinator:
            return True  # it waits for sub-jobs: never make it wait for a slot
        working = sum(not h.spec.coordinator for h in self._active.values())
        if working < self.max_parallel:
            return True
        if working >= 2 * self.max_parallel:
            return False
        zygote = self._zygotes.get(warm_profile(handle.spec.preload))
        return zygote is not None and zygote.alive and all(
            h._zygote is zygote for h in self._active.values() if not h.spec.coordinator)

    def _stop(self, handle: RunHandle, reason: str) -> None:
        with self._lock:
            if handle.done():
                return
            if handle in self._waiting:
                self._waiting.remove(handle)
                handle._finish(self._stopped_result(handle, reason))
                return
            handle._stop_reason = handle._stop_reason or reason
            if handle.pid is not None:
                _kill_group(handle.pid)
            elif handle._zygote is not None:  # waiting in the warm parent (or being forked)
                with contextlib.suppress(OSError):
                    handle._zygote.drop(handle.job_id)

    # -- what the warm parent reports (listening thread) ----------------------------------

    def on_started(self, zygote: Zygote, job: str, pid: int) -> None:
        with self._lock:
            handle = self._active.get(job)
            if handle is None:
                return
            handle.pid = pid
            handle._started_at = time.monotonic()
            if handle._stop_reason is not None:
                _kill_group(pid)
            elif handle.spec.time_limit is not None:
                zygote.set_deadline(job, time.monotonic() + handle.spec.time_limit)

    def on_exited(self, zygote: Zygote, job: str, message: dict[str, Any]) -> None:
        with self._lock:
            handle = self._active.pop(job, None)
            self._dispatch()
        if handle is not None:
            limit = _limit_reason(handle.spec, message)
            if limit is not None:
                handle._stop_reason = handle._stop_reason or limit
            handle._finish(self._result(handle, _exit_description(message)))

    def on_progress(self, job: str, message: dict[str, Any]) -> None:
        handle = self._active.get(job)
        if handle is not None:
            handle._report(_progress(message))

    def on_deadline(self, job: str) -> None:
        handle = self._active.get(job)
        if handle is not None:
            self._stop(handle, "time_limit")

    def on_died(self, zygote: Zygote) -> None:
        with self._lock:
            orphans = [h for h in self._active.values() if h._zygote is zygote]
            for handle in orphans:
                del self._active[handle.job_id]
                _kill_group(handle.pid)
            # Runs that were still waiting in it never started: they go first again.
            unstarted = [h for h in orphans if h.pid is None and h._stop_reason is None]
            orphans = [h for h in orphans if h not in unstarted]
            self._waiting.extendleft(reversed(unstarted))
            for profile, current in list(self._zygotes.items()):
                if current is zygote:
                    del self._zygotes[profile]
            if orphans and not self._closed:
                log.warning("warm parent %s died with %d runs going", zygote.pid, len(orphans))
            self._dispatch()
        how = f"the warm parent process died (exit status {zygote.process.returncode})"
        for handle in orphans:
            handle._finish(self._result(handle, how))

    # -- results --------------------------------------------------------------------------

    def _result(self, handle: RunHandle, how_it_ended: str) -> RunResult:
        """Read what the run left; if it left nothing, say why it stopped and record that."""
        job_dir = Path(handle.spec.job_dir).resolve()
        duration = time.monotonic() - (handle._started_at or handle._dispatched_at
                                       or time.monotonic())
        # An abandoned run's folder is another run's: what is in it is not this run's outcome.
        outcome = None if handle._stop_reason == "abandoned" else _read_outcome(job_dir / RESULT_FILE)
        if outcome is None:
            return self._stopped_result(handle, handle._stop_reason, how_it_ended, duration)
        error = outcome.get("error")
        return RunResult(
            status=outcome.get("status", "failed"),
            error=RunError.from_dict(error) if error else None,
            products=_products(outcome.get("products") or []),
            notebook_path=job_dir / NOTEBOOK_FILE,
            duration=duration,
            job_dir=job_dir,
        )

    def _stopped_result(self, handle: RunHandle, reason: str | tuple[str, str] | None,
                        how_it_ended: str = "",
                        duration: float = 0.0) -> RunResult:
        job_dir = Path(handle.spec.job_dir).resolve()
        status: Status
        if reason == "cancelled":
            status, error = "cancelled", RunError("cancelled", "Cancelled", "the run was cancelled")
        elif reason == "time_limit":
            limit = handle.spec.time_limit
            status, error = "failed", RunError("time_limit", "TimeLimitExceeded",
                                               f"time limit exceeded ({limit:g} s)")
        elif isinstance(reason, tuple):  # a sandbox limit: (kind, message)
            kind = cast(ErrorKind, reason[0])  # one of sandbox/limits.py's, sent by the run
            status, error = "failed", RunError(kind, "LimitExceeded", reason[1])
        elif reason == "abandoned":  # the folder is another run's now: write nothing
            error = RunError("cancelled", "Abandoned", "the run was stopped: another "
                             "server runs this job now")
            return RunResult("cancelled", error, [], job_dir / NOTEBOOK_FILE, duration, job_dir)
        else:
            status, error = "failed", RunError("crashed", "RunCrashed", how_it_ended)
        with contextlib.suppress(OSError):
            write_json(job_dir / RESULT_FILE, {"status": status, "error": error.to_dict(),
                                               "products": [], "duration": duration})
            if not (job_dir / NOTEBOOK_FILE).exists():  # stopped before its first save
                write_json(job_dir / NOTEBOOK_FILE, clear_outputs(copy.deepcopy(handle.spec.notebook)))
        return RunResult(status, error, [], job_dir / NOTEBOOK_FILE, duration, job_dir)


def _cache_dir(policy: SandboxPolicy | None, spec: RunSpec) -> Path | None:
    """The run's workflow cache folder, when the policy keeps caches and the run has a
    workflow folder (an inline notebook has none: nothing to share between its runs)."""
    if policy is None or policy.workflow_cache is None or spec.source_dir is None:
        return None
    return workflow_cache_dir(policy.workflow_cache, Path(spec.source_dir))


def _kill_group(pid: int | None) -> None:
    """SIGKILL the run and every process below it, however they detached."""
    kill_tree(pid)


def _limit_reason(spec: RunSpec, message: dict[str, Any]) -> tuple[str, str] | None:
    """The sandbox limit that ended a run, from how its process ended."""
    if spec.sandbox is None:
        return None
    limits = spec.sandbox.limits
    if message.get("oom_kills") and limits.memory is not None:
        return "memory_limit", (f"memory limit exceeded ({format_size(limits.memory)}): "
                                "the kernel stopped the run")
    return signal_reason(message.get("signal"), limits)


def _exit_description(message: dict[str, Any]) -> str:
    if message.get("error"):
        return str(message["error"])
    signum = message.get("signal")
    if signum:
        try:
            name = signal.Signals(signum).name
        except ValueError:
            name = f"signal {signum}"
        return f"the run process was killed by {name} without leaving a result"
    return f"the run process exited with code {message.get('returncode')} without leaving a result"


def _read_outcome(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _products(entries: list[dict[str, Any]]) -> list:
    if not entries:
        return []
    from astroflow.products.model import Product

    return [Product.from_dict(entry) for entry in entries]


def _progress(message: dict[str, Any]) -> Progress:
    extra = dict(message.get("extra") or {})
    return Progress(
        stage=message.get("stage"),
        fraction=message.get("fraction"),
        message=message.get("message"),
        time=float(message.get("time") or time.time()),
        substage=extra.pop("substage", None),
        subfraction=extra.pop("subfraction", None),
        extra=extra,
    )
