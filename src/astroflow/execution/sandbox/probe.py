"""What this machine's kernel offers the sandbox, said once at server start."""

from __future__ import annotations

import os
import sys

from astroflow.execution.sandbox import cgroups, landlock


def sandbox_support() -> dict[str, str | None]:
    """Layer → None when available, else why not (probed in a throw-away child)."""
    support: dict[str, str | None] = {}
    if not sys.platform.startswith("linux"):
        reason = "not Linux: runs are limited by rlimits and killed by process group only"
        return {"landlock": reason, "namespaces": reason, "cgroup": reason}
    abi = landlock.abi_version()
    support["landlock"] = None if abi >= 1 else "the kernel has no Landlock"
    support["landlock-net"] = None if abi >= 4 else f"Landlock ABI {abi} < 4: no TCP rules"
    support["landlock-scope"] = None if abi >= 6 else f"Landlock ABI {abi} < 6: no signal scoping"
    support["namespaces"] = _in_child(_try_namespaces)
    support["cgroup"] = _in_child(_try_cgroup)
    return support


def _try_namespaces() -> None:
    from astroflow.execution.sandbox.namespaces import enter_namespaces

    enter_namespaces([])


def _try_cgroup() -> None:
    group = cgroups.join_run_group(os.getpid(), None, None)
    if group is None:
        raise OSError("no writable cgroup for this process (run under systemd with "
                      "Delegate=yes, or give the service a writable cgroupfs)")
    # the parent removes the group once this child has exited


def _in_child(attempt) -> str | None:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        try:
            attempt()
            os.write(write, b"ok")
        except BaseException as exc:  # noqa: BLE001 - any failure is the answer
            os.write(write, str(exc).encode()[:500] or b"failed")
        finally:
            os._exit(0)
    os.close(write)
    answer = os.read(read, 1000).decode(errors="replace")
    os.close(read)
    os.waitpid(pid, 0)
    cgroups.run_group(pid).remove()
    return None if answer == "ok" else answer
