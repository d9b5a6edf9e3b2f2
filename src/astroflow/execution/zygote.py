"""The warm parent: imports the heavy modules once, then forks one child per run.

Started by the controller as ``python -m astroflow.execution.zygote CONTROL REPLY PROGRESS``
with three inherited pipe ends. It stays single-threaded (fork and threads do not mix) and
sleeps in a selector on the control pipe and on the signal wake-up pipe, so a finished child
is reported as soon as ``SIGCHLD`` arrives, without polling.

Messages in: ``preload {modules}``, ``run {job_id, spec, limit}``, ``drop {job_id}``, ``exit``.
Messages out: ``ready``, ``preloaded {modules, errors}``, ``started {job_id, pid}``,
``exited {job_id, pid, returncode, signal}``.

A ``run`` with a ``limit`` waits here while that many runs are going, and is forked the
moment one of them is reaped: the next run starts without a round trip to the controller.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import os
import selectors
import signal
import sys
from collections import deque
from pathlib import Path

from astroflow.execution.protocol import LineReader, drain, send
from astroflow.execution.sandbox import cgroups, tree

# Set by the executor when runs are sandboxed: TCP ports no run may connect to.
BLOCK_PORTS_VARIABLE = "ASTROFLOW_SANDBOX_BLOCK_PORTS"
# Set when runs are sandboxed: make each run's cgroup ahead of its fork.
GROUPS_VARIABLE = "ASTROFLOW_SANDBOX_GROUPS"
PR_SET_DUMPABLE = 4


class WarmParent:
    """Control loop of the warm parent process."""

    def __init__(self, control: int, reply: int, progress: int) -> None:
        self.control = control
        self.reply = reply
        self.progress = progress
        self.children: dict[int, str] = {}
        self.waiting: deque[tuple[str, Path]] = deque()
        self.limit: int | None = None
        self.selector = selectors.DefaultSelector()
        self.wake_read, self.wake_write = os.pipe()
        self.groups: dict[int, cgroups.RunGroup] = {}  # run pid → the cgroup made for it
        self.coordinators: set[int] = set()  # runs that wait for sub-jobs: not counted
        self.made = 0
        self.spare: cgroups.RunGroup | None = None
        self.sandboxed = os.environ.get(GROUPS_VARIABLE) == "1"  # runs join cgroups
        self.make_groups = self.sandboxed
        if self.make_groups:
            cgroups.sweep_stale()
        self.make_spare()
        for fd in (self.control, self.wake_read, self.wake_write):
            os.set_blocking(fd, False)

    def preload(self, modules: list[str]) -> dict[str, str]:
        """Import modules now so every child has them; failures are reported, not fatal."""
        errors: dict[str, str] = {}
        for name in modules:
            if name in sys.modules:
                continue
            try:
                importlib.import_module(name)
            except BaseException as exc:  # noqa: BLE001 - a broken module must not stop us
                errors[name] = f"{type(exc).__name__}: {exc}"
        # Objects that exist now are never collected in the children: their pages stay shared.
        gc.collect()
        gc.freeze()
        return errors

    def serve(self) -> None:
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.set_wakeup_fd(self.wake_write, warn_on_full_buffer=False)
        reader = LineReader(self.control)
        self.selector.register(self.control, selectors.EVENT_READ)
        self.selector.register(self.wake_read, selectors.EVENT_READ)
        while True:
            for key, _ in self.selector.select():
                if key.fd == self.wake_read:
                    drain(self.wake_read)
                    continue
                for message in reader.read():
                    if not self.handle(message):
                        return
                if reader.closed:
                    return
            self.reap()

    def handle(self, message: dict) -> bool:
        """Act on one controller message; False means stop serving."""
        kind = message.get("type")
        if kind == "preload":
            modules = [str(m) for m in message.get("modules", [])]
            send(self.reply, "preloaded", modules=modules, errors=self.preload(modules))
        elif kind == "run":
            self.limit = message.get("limit")
            if message.get("coordinator"):  # waits for sub-jobs: forked now, never counted
                pid = self.fork(str(message["job_id"]), Path(message["spec"]))
                if pid is not None:
                    self.coordinators.add(pid)
            else:
                self.waiting.append((str(message["job_id"]), Path(message["spec"])))
                self.start_waiting()
        elif kind == "drop":
            self.drop(str(message["job_id"]))
        elif kind == "exit":
            return False
        return True

    def start_waiting(self) -> None:
        while self.waiting and (self.limit is None
                                or len(self.children) - len(self.coordinators) < self.limit):
            self.fork(*self.waiting.popleft())

    def drop(self, job: str) -> None:
        for entry in list(self.waiting):
            if entry[0] == job:
                self.waiting.remove(entry)
                send(self.reply, "exited", job_id=job, pid=None, returncode=None, signal=None,
                     error="dropped before it started")

    def group_of(self, pid: int) -> cgroups.RunGroup:
        """The group a run made itself (none made by this parent); unsandboxed runs have
        none, and looking costs nothing then."""
        return cgroups.run_group(pid) if self.sandboxed else cgroups.RunGroup(())

    def make_spare(self) -> None:
        """The next run's cgroup, made now rather than on the run's own time."""
        if self.make_groups and self.spare is None:
            self.made += 1
            self.spare = cgroups.make_group(f"{cgroups.PREFIX}{os.getpid()}-{self.made}")
            self.make_groups = self.spare is not None  # not allowed here: stop trying

    def fork(self, job: str, spec: Path) -> int | None:
        """Fork the run; its pid, or None when the fork failed (reported as exited)."""
        me = os.getpid()
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            pid = os.fork()
        except OSError as exc:
            send(self.reply, "exited", job_id=job, pid=None, returncode=None, signal=None,
                 error=f"fork failed: {exc}")
            return None
        if pid == 0:
            try:
                from astroflow.execution.child import run_forked

                inherited = (self.control, self.reply, self.wake_read, self.wake_write,
                             self.selector.fileno())
                run_forked(spec, job, self.progress, inherited, me, self.spare)
            finally:
                os._exit(70)
        self.children[pid] = job
        send(self.reply, "started", job_id=job, pid=pid)
        if self.spare is not None:
            self.groups[pid], self.spare = self.spare, None
        self.make_spare()
        return pid

    def reap(self) -> None:
        """Collect every finished child and tell the controller how it ended; only then
        (the next run forked) clean up what it left: its strays and its cgroup."""
        ended: list[cgroups.RunGroup] = []
        while True:
            try:
                # Peek first: while the child is an unreaped zombie its pid cannot be reused,
                # so killing its process group reaches only what the run left behind.
                info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                break
            if info is None or info.si_pid == 0:
                break
            pid = info.si_pid
            job = self.children.pop(pid, None)
            self.coordinators.discard(pid)
            oom = 0
            if job is not None:
                _kill_group(pid)
                group = self.groups.pop(pid, None) or self.group_of(pid)
                oom = group.oom_kills()
                ended.append(group)
            _, status = os.waitpid(pid, 0)
            if job is None:  # an adopted orphan
                continue
            returncode = os.waitstatus_to_exitcode(status)
            send(self.reply, "exited", job_id=job, pid=pid,
                 returncode=returncode if returncode >= 0 else None,
                 signal=-returncode if returncode < 0 else None, oom_kills=oom)
        self.start_waiting()
        if ended:
            # What the runs left running was reparented here: it goes with them.
            tree.kill_strays(set(self.children))
            for group in ended:
                group.remove()

    def shutdown(self) -> None:
        """Kill every run still going, so none outlives the executor."""
        for pid in list(self.children):
            tree.kill_tree(pid)
        for pid in list(self.children):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        groups = [self.groups.get(pid) or self.group_of(pid) for pid in self.children]
        for group in [*groups, *([self.spare] if self.spare else [])]:
            group.remove()


def _adopt_orphans() -> None:
    """Linux: become the reaper of what runs leave behind (killed runs' ``!cmd`` children),
    so they never linger as zombies in containers whose init does not reap."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        pr_set_child_subreaper = 36
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_child_subreaper, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _confine_warm_parent() -> None:
    """Hide this process's /proc entries from runs (they are its children, of the same
    user) and shut the ports the executor names, for it and every run it forks."""
    from astroflow.execution.child import _libc

    if _libc:
        _libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    ports = [int(p) for p in os.environ.get(BLOCK_PORTS_VARIABLE, "").split(",") if p.strip()]
    if ports:
        from astroflow.execution.sandbox.landlock import block_tcp_ports

        try:
            if not block_tcp_ports(ports):
                print(f"astroflow sandbox: cannot block TCP ports {ports} (Landlock ABI < 4)",
                      file=sys.stderr)
        except OSError as exc:
            print(f"astroflow sandbox: cannot block TCP ports {ports}: {exc}", file=sys.stderr)


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def main(argv: list[str]) -> int:
    control, reply, progress = (int(arg) for arg in argv[:3])
    modules = [name for name in argv[3].split(",") if name] if len(argv) > 3 else []
    # Only the controller decides when runs stop; a terminal's Ctrl-C is for the controller.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _adopt_orphans()
    for fd in (control, reply, progress):
        os.set_inheritable(fd, False)  # runs keep them across fork, their commands do not
    parent = WarmParent(control, reply, progress)
    from astroflow.execution.child import prepare

    prepare()
    errors = parent.preload(modules)
    _confine_warm_parent()
    send(reply, "ready", pid=os.getpid(), errors=errors)
    try:
        parent.serve()
    finally:
        parent.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
