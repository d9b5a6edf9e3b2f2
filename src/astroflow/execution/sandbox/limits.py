"""Per-process ceilings (``setrlimit``) and the words a user reads when one is hit.

``RLIMIT_DATA`` bounds the memory a run can write (heap and private mappings: what numpy
arrays use; shared libraries do not count), ``RLIMIT_CPU`` its CPU seconds (SIGXCPU, then
SIGKILL a second later), ``RLIMIT_NPROC`` the tasks of its user (outside a cgroup the only
count there is; root is exempt), ``RLIMIT_FSIZE`` the largest file it writes (SIGXFSZ is
ignored so the write fails with EFBIG and the notebook sees an error), ``RLIMIT_CORE`` 0.
"""

from __future__ import annotations

import errno
import resource
import signal
from typing import TYPE_CHECKING

from astroflow.execution.sandbox.policy import RunLimits, format_size

if TYPE_CHECKING:
    from astroflow.execution.spec import ErrorKind


def apply_rlimits(limits: RunLimits) -> None:
    """Lower this process's limits (never raise them above what it was given)."""
    _lower(resource.RLIMIT_CORE, 0)
    if limits.memory is not None:
        _lower(resource.RLIMIT_DATA, limits.memory)
    if limits.cpu_time is not None:
        seconds = max(1, int(round(limits.cpu_time)))
        _lower(resource.RLIMIT_CPU, seconds, seconds + 1)
    if limits.processes is not None:
        _lower(resource.RLIMIT_NPROC, limits.processes)
    if limits.output is not None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        _lower(resource.RLIMIT_FSIZE, limits.output)


def _lower(which: int, soft: int, hard: int | None = None) -> None:
    hard = soft if hard is None else hard
    old_soft, old_hard = resource.getrlimit(which)
    if old_hard != resource.RLIM_INFINITY:
        hard = min(hard, old_hard)
        soft = min(soft, hard)
    resource.setrlimit(which, (soft, hard))


def exception_reason(exc: BaseException, limits: RunLimits) -> tuple[ErrorKind, str] | None:
    """(error kind, message) when a notebook's exception is a sandbox limit being hit."""
    if isinstance(exc, MemoryError) and limits.memory is not None:
        return "memory_limit", (f"memory limit exceeded ({format_size(limits.memory)}): "
                                "the run could not allocate more")
    if isinstance(exc, OSError) and exc.errno == errno.EFBIG and limits.output is not None:
        return "output_limit", (f"output limit exceeded: a file may not grow beyond "
                                f"{format_size(limits.output)}")
    if (isinstance(exc, OSError) and exc.errno == errno.EAGAIN and limits.processes is not None
            and "fork" in _trace_text(exc)):
        return "process_limit", (f"process limit exceeded ({limits.processes} processes and "
                                 "threads at once): a new process could not start")
    return None


def _trace_text(exc: BaseException) -> str:
    import traceback

    return "".join(traceback.format_exception(exc))


def signal_reason(signum: int | None, limits: RunLimits) -> tuple[str, str] | None:
    """(error kind, message) when the run was killed by a limit's signal."""
    if signum == signal.SIGXCPU and limits.cpu_time is not None:
        return "cpu_limit", f"CPU time limit exceeded ({limits.cpu_time:g} s of CPU)"
    if signum == signal.SIGXFSZ and limits.output is not None:
        return "output_limit", (f"output limit exceeded: a file may not grow beyond "
                                f"{format_size(limits.output)}")
    return None
