"""What a run does to itself right after the fork, before any notebook code runs.

Order matters: the cgroup is joined while the run may still write to cgroupfs; the user
and mount namespaces come before the rlimits (a namespace does not lift them); Landlock
comes last, once every file the setup needs has been opened. A layer the kernel refuses is
reported and skipped (the server has warned at start), unless the policy is strict.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from astroflow.execution.sandbox import cgroups, landlock, namespaces, tree
from astroflow.execution.sandbox.limits import apply_rlimits
from astroflow.execution.sandbox.policy import SandboxPolicy

# System folders every Python program reads; /etc only in part (it may hold credentials).
SYSTEM_READ = ("/usr", "/lib", "/lib32", "/lib64", "/libx32", "/bin", "/sbin", "/opt/conda")
ETC_READ = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "timezone", "ssl",
            "ca-certificates", "ca-certificates.conf", "pki", "resolv.conf", "hosts",
            "host.conf", "nsswitch.conf", "gai.conf", "passwd", "group", "mime.types",
            "protocols", "services", "fonts", "os-release", "alternatives", "matplotlibrc",
            "xdg", "debian_version", "machine-id")
PROC_READ = ("cpuinfo", "meminfo", "stat", "loadavg", "version", "sys/kernel/random")
SYS_READ = ("/sys/devices/system/cpu", "/sys/fs/cgroup/cpu.max")
DEV_WRITE = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty")
HOME_READ = (".astropy", ".cache/matplotlib", ".config/matplotlib", ".matplotlib")


# Paths every run allows, opened once in the warm parent (`prepare_sandbox`): a run then
# spends its Landlock set-up on rules, not on ~50 path lookups.
_preopened: dict[str, tuple[int, bool]] = {}


def prepare_sandbox() -> None:
    """In the warm parent, before any fork: open the paths every run's rules name."""
    if not _preopened and sys.platform.startswith("linux"):
        _preopened.update(landlock.open_paths(_outermost(_common_read_paths())))
        _preopened.update(landlock.open_paths(Path(p) for p in DEV_WRITE))


def _outermost(paths: list[Path]) -> list[Path]:
    """The paths none of the others contains (``/lib`` is ``/usr/lib`` on merged-/usr
    systems; a venv's site-packages is inside the venv): one Landlock rule each."""
    real: dict[str, Path] = {}
    for path in paths:
        with contextlib.suppress(OSError):
            real.setdefault(os.path.realpath(path), path)
    ordered = sorted(real)
    kept = [p for i, p in enumerate(ordered)
            if not any(p.startswith(q.rstrip("/") + "/") for q in ordered[:i])]
    return [real[p] for p in kept]


class SandboxUnavailable(RuntimeError):
    """A strict policy met a kernel without one of its layers."""


@dataclass
class SandboxReport:
    """Which layers this run got; ``missing`` says why the others are absent."""

    layers: list[str] = field(default_factory=list)
    missing: dict[str, str] = field(default_factory=dict)
    group: cgroups.RunGroup | None = None

    def to_dict(self) -> dict[str, object]:
        return {"layers": self.layers, "missing": self.missing}


def enter_sandbox(policy: SandboxPolicy | None, job_dir: Path, source_dir: Path | None,
                  group: cgroups.RunGroup | None = None) -> SandboxReport:
    """Confine this (forked, single-threaded) run process according to ``policy``;
    ``group`` is the cgroup the warm parent made for it, if it made one."""
    report = SandboxReport()
    if tree.become_subreaper():
        report.layers.append("subreaper")
    if policy is None:
        return report
    job_dir = Path(job_dir).resolve()
    limits = policy.limits
    report.group = cgroups.join_run_group(os.getpid(), limits.memory, limits.processes, group)
    _note(report, "cgroup", report.group is not None, "no writable cgroup for this process")
    private: list[str] = []
    if policy.namespaces:
        try:
            private = namespaces.enter_namespaces(_needed(policy, job_dir, source_dir),
                                                  tmp_size=limits.output)
            report.layers.append("namespaces")
        except OSError as exc:
            report.missing["namespaces"] = str(exc)
    apply_rlimits(limits)
    report.layers.append("rlimits")
    _private_tmp(job_dir, "/tmp" in private)
    if policy.filesystem:
        try:
            landlock.restrict_filesystem(read_paths(policy, source_dir),
                                         write_paths(policy, job_dir, private), _preopened)
            report.layers.append("landlock")
        except OSError as exc:
            report.missing["landlock"] = str(exc)
    if report.missing:
        text = "; ".join(f"{k}: {v}" for k, v in report.missing.items())
        if policy.strict and set(report.missing) - {"cgroup"}:
            raise SandboxUnavailable(f"the server requires every sandbox layer; missing {text}")
        print(f"astroflow sandbox: running without {text}", file=sys.stderr)
    return report


def _note(report: SandboxReport, layer: str, ok: bool, why: str) -> None:
    if ok:
        report.layers.append(layer)
    else:
        report.missing[layer] = why


def _private_tmp(job_dir: Path, mounted: bool) -> None:
    """Temporary files go to the run's private /tmp, else to a folder in its job folder."""
    folder = Path("/tmp") if mounted else job_dir / "tmp"
    folder.mkdir(exist_ok=True)
    os.environ["TMPDIR"] = str(folder)
    tempfile.tempdir = None  # the warm parent may have cached its own


@functools.cache
def _python_paths() -> tuple[Path, ...]:
    """The interpreter's folders and import path (fixed once the warm parent is up)."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
             os.path.dirname(os.path.realpath(sys.executable)),
             str(Path(__file__).resolve().parents[3])}  # astroflow itself, editable or not
    paths.update(p for p in sys.path if p)
    return tuple(Path(p) for p in paths)


def _needed(policy: SandboxPolicy, job_dir: Path, source_dir: Path | None) -> list[Path]:
    """What must stay visible (a private tmpfs over it would hide it)."""
    needed = [job_dir, *_python_paths(), *policy.read, *policy.write]
    if source_dir is not None:
        needed.append(Path(source_dir))
    if policy.data_dir is not None:
        needed.append(Path(policy.data_dir))
    return needed


def _common_read_paths() -> list[Path]:
    """What every run of this interpreter may read, whatever its workflow."""
    paths = [Path(p) for p in SYSTEM_READ]
    paths += [Path("/etc") / name for name in ETC_READ]
    paths += [Path("/proc") / name for name in PROC_READ]
    paths += [Path(p) for p in SYS_READ]
    paths += _python_paths()
    home = os.environ.get("HOME")
    if home:
        paths += [Path(home) / name for name in HOME_READ]
    return paths


def read_paths(policy: SandboxPolicy, source_dir: Path | None) -> list[Path]:
    """Everything a run may read besides its own job folder (in a warm parent's child:
    the common paths it opened, none that does not exist)."""
    dev = set(DEV_WRITE)
    paths = ([Path(p) for p in _preopened if p not in dev] if _preopened
             else _common_read_paths())
    paths.append(Path(f"/proc/{os.getpid()}"))  # its own /proc/self, not the server's
    if source_dir is not None:
        paths.append(Path(source_dir))
    paths += data_folders(policy)
    paths += list(policy.read)
    return paths


def data_folders(policy: SandboxPolicy) -> list[Path]:
    """The workflow data folders in the server's data folder (``icecube/`` …, or links to
    them), not its database, logs, artifacts, uploads or registry."""
    if policy.data_dir is None:
        return []
    try:
        entries = list(os.scandir(policy.data_dir))
    except OSError:
        return []
    # A data folder may be a link to another disk: the rule is on the folder it names.
    return [Path(e.path) for e in entries
            if e.is_dir() and e.name not in policy.private_data and not e.name.startswith(".")]


def write_paths(policy: SandboxPolicy, job_dir: Path, private: list[str]) -> list[Path]:
    paths = [job_dir, *(Path(p) for p in DEV_WRITE), *(Path(p) for p in private)]
    return paths + list(policy.write)
