"""What each layer of the run sandbox costs a run, measured in forked children.

Each row forks a child from this (warm) process, applies the sandbox's layers up to and
including that row's, and exits; the parent waits (and removes the child's cgroup, as the
warm parent does). The median of ``--runs`` forks per row, and each row's increment over
the previous one, beside the bare fork as the reference.

    .venv/bin/python bench/sandbox_layers.py [--runs 200]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from astroflow.execution.sandbox import apply, cgroups, landlock, namespaces, tree
from astroflow.execution.sandbox.limits import apply_rlimits
from astroflow.execution.sandbox.policy import RunLimits, SandboxPolicy

LAYERS = ("fork + exit (reference)", "subreaper", "cgroup (pids, memory)",
          "user + mount namespaces", "rlimits", "Landlock files + scopes")


def child(depth: int, policy: SandboxPolicy, job_dir: Path) -> None:
    if depth >= 1:
        tree.become_subreaper()
    if depth >= 2:
        cgroups.join_run_group(os.getpid(), policy.limits.memory, policy.limits.processes)
    private: list[str] = []
    if depth >= 3:
        private = namespaces.enter_namespaces(apply._needed(policy, job_dir, None))
    if depth >= 4:
        apply_rlimits(policy.limits)
    if depth >= 5:
        landlock.restrict_filesystem(apply.read_paths(policy, None),
                                     apply.write_paths(policy, job_dir, private),
                                     apply._preopened)


def measure(depth: int, runs: int, policy: SandboxPolicy, job_dir: Path) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                child(depth, policy, job_dir)
            except BaseException:  # noqa: BLE001 - reported through the exit code
                code = 1
            os._exit(code)
        _, status = os.waitpid(pid, 0)
        if depth >= 2:
            cgroups.run_group(pid).remove()
        times.append(time.perf_counter() - start)
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"layer {LAYERS[depth]!r} failed on this machine")
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        job_dir = Path(tmp) / "job"
        job_dir.mkdir()
        policy = SandboxPolicy(data_dir=Path(tmp), limits=RunLimits())
        apply.prepare_sandbox()  # as the warm parent does before its first fork
        medians = [measure(depth, args.runs, policy, job_dir) for depth in range(len(LAYERS))]
    print(f"run sandbox, cost per run (median of {args.runs} forks each), "
          f"Landlock ABI {landlock.abi_version()}")
    for depth, (name, median) in enumerate(zip(LAYERS, medians, strict=True)):
        step = "" if depth == 0 else f"   +{(median - medians[depth - 1]) * 1e3:6.3f} ms"
        print(f"  {name:<28} {median * 1e3:7.3f} ms{step}")
    print(f"  all layers: +{(medians[-1] - medians[0]) * 1e3:.2f} ms per run over a bare fork "
          "(goal ≤ 5 ms); the TCP rule for the job database's port is set once per warm "
          "parent (about 50 ms), not per run")


if __name__ == "__main__":
    main()
