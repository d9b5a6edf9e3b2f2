"""The run sandbox, probed as an attacker would: each finding of issue 21 as a test.

Runs are real processes forked from a real warm parent; the server tests start a real
`astroflow serve` with a JWT secret, SQLite or a real PostgreSQL on 127.0.0.1. Each test
that expects the sandbox to refuse something first checks that the same probe succeeds
without it where that is meaningful, so none of them passes by accident.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import time
from pathlib import Path

import httpx
import pytest
from pg import private_schema
from server_process import SECRET, ServerProcess

from astroflow import Workflow
from astroflow.execution import LocalExecutor
from astroflow.execution.sandbox import RunLimits, SandboxPolicy
from astroflow.execution.sandbox.landlock import abi_version

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux") or abi_version() < 6,
                                reason="the sandbox's file, port and signal rules need "
                                       "Linux with Landlock ABI >= 6")

PROBE = r'''
import json, os, socket

def attempt(action):
    try:
        value = action()
        return "ok: " + repr(value)[:60]
    except Exception as exc:
        return "denied: " + type(exc).__name__

def scan_environs():
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit() and int(pid) != os.getpid():
            try:
                environ = open(f"/proc/{pid}/environ", "rb").read()
            except OSError:
                continue  # refused: what the sandbox is for
            if SECRET.encode() in environ:
                found.append(pid)
    return found

def connect_tcp(port):
    socket.create_connection(("127.0.0.1", port), 2).close()
    return "connected"

def connect_unix(path):
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    return "connected"

probes = {
    "env": attempt(lambda: [k for k, v in os.environ.items() if SECRET in v]),
    "environs": attempt(scan_environs),
    "database": attempt(lambda: open(DATABASE, "rb").read(16)),
    "jobs": attempt(lambda: os.listdir(JOBS)),
    "other_job": attempt(lambda: open(OTHER, "rb").read()),
    "data": attempt(lambda: open(DATA_FILE).read()),
    "tcp": attempt(lambda: connect_tcp(PORT)),
    "unix": attempt(lambda: connect_unix(UNIX)),
    "signal": attempt(lambda: os.kill(os.getppid(), 0)),
    "shadow": attempt(lambda: open("/etc/shadow").read(1)),
    "write_outside": attempt(lambda: open(os.path.join(JOBS, "planted"), "w").write("x")),
}
report = json.dumps(probes)
'''


def probe_notebook(notebook, **values: object) -> Path:
    """``notebook`` is conftest's factory fixture (a notebook in the test's own folder)."""
    parameters = "\n".join(f"{name} = {value!r}" for name, value in values.items())
    return notebook(parameters, PROBE, "report  # oda:String", name="probe.ipynb")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A server-like data folder: a database file, other jobs, a workflow data folder."""
    root = tmp_path_factory.mktemp("site")
    data = root / "data"
    (data / "artifacts" / "jobs" / "other").mkdir(parents=True)
    (data / "artifacts" / "jobs" / "other" / "result.json").write_text('{"private": 1}')
    (data / "astroflow.db").write_bytes(b"SQLite format 3\0private parameters")
    (data / "icecube").mkdir()
    (data / "icecube" / "events.txt").write_text("public data")
    return data


@pytest.fixture(scope="module")
def listener():
    """A TCP port standing for the job database, and one standing for any other service."""
    sockets = []
    for _ in range(2):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        sockets.append(s)
    yield [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()


@pytest.fixture(scope="module")
def sandboxed(site, listener):
    policy = SandboxPolicy(data_dir=site, blocked_ports=(listener[0],),
                           limits=RunLimits(memory=1 << 30, cpu_time=2, processes=40,
                                            output=20 << 20))
    saved = os.environ.get("ASTROFLOW_JWT_SECRET")
    os.environ["ASTROFLOW_JWT_SECRET"] = SECRET  # in the controller's environment, as a server's
    try:
        with LocalExecutor(sandbox=policy, max_parallel=2) as executor:
            yield executor
    finally:
        if saved is None:
            os.environ.pop("ASTROFLOW_JWT_SECRET", None)
        else:
            os.environ["ASTROFLOW_JWT_SECRET"] = saved


def run(executor, notebook: Path, site: Path, name: str, **kw):
    job_dir = site / "artifacts" / "jobs" / name
    return Workflow.from_path(notebook).run({}, executor=executor, job_dir=job_dir, **kw)


def probes(result) -> dict[str, str]:
    assert result.status == "done", result.error
    return json.loads(result.products[0].meta["value"])  # a scalar's value is in its record


def probe_values(site: Path, listener: list[int], port_index: int = 0) -> dict[str, object]:
    return {"SECRET": SECRET, "DATABASE": str(site / "astroflow.db"),
            "JOBS": str(site / "artifacts" / "jobs"),
            "OTHER": str(site / "artifacts" / "jobs" / "other" / "result.json"),
            "DATA_FILE": str(site / "icecube" / "events.txt"), "PORT": listener[port_index],
            "UNIX": "/var/run/postgresql/.s.PGSQL.5432"}


def test_the_probe_reaches_everything_without_the_sandbox(notebook, site, listener):
    """The same notebook, unconfined: proof that each refusal below is the sandbox's."""
    notebook = probe_notebook(notebook, **probe_values(site, listener))
    with LocalExecutor(max_parallel=1) as executor:
        seen = probes(run(executor, notebook, site, "unconfined"))
    for name in ("database", "jobs", "other_job", "data", "tcp", "signal"):
        assert seen[name].startswith("ok"), (name, seen[name])
    (site / "artifacts" / "jobs" / "planted").unlink(missing_ok=True)


def test_a_run_reads_no_secret_no_database_no_other_job(notebook, sandboxed, site, listener):
    notebook = probe_notebook(notebook, **probe_values(site, listener))
    seen = probes(run(sandboxed, notebook, site, "probe"))
    assert seen["env"] == "ok: []", seen            # not in its environment
    # nor in any other process's /proc entry (the listing itself is refused)
    assert seen["environs"] in ("ok: []", "denied: PermissionError"), seen
    for refused in ("database", "jobs", "other_job", "tcp", "signal", "shadow", "write_outside"):
        assert seen[refused].startswith("denied"), (refused, seen[refused])
    assert seen["unix"].startswith("denied"), seen  # no database socket in its /run
    assert seen["data"] == "ok: 'public data'", seen  # workflow data stays readable
    assert not (site / "artifacts" / "jobs" / "planted").exists()


def test_other_ports_stay_open(notebook, sandboxed, site, listener):
    """Only the database's port is shut: workflows still download from archives."""
    notebook = probe_notebook(notebook, **probe_values(site, listener, 1))
    assert probes(run(sandboxed, notebook, site, "port"))["tcp"] == "ok: 'connected'"


ESCAPE = r'''
import os, subprocess, time
pids = []
p = subprocess.Popen(["setsid", "sh", "-c", "sleep 300 & echo $! > sh_child; sleep 300"])
pids.append(p.pid)
read, write = os.pipe()
if os.fork() == 0:
    os.setsid()
    grandchild = os.fork()
    if grandchild == 0:
        time.sleep(300)
        os._exit(0)
    os.write(write, str(grandchild).encode())
    os._exit(0)
pids.append(int(os.read(read, 20)))
time.sleep(0.3)
pids.append(int(open("sh_child").read()))
open(os.environ["ASTROFLOW_JOB_DIR"] + "/escaped.json", "w").write(str(pids))
time.sleep(SLEEP)
'''


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stream:
            return stream.read().split(") ")[1][0] != "Z"
    except OSError:
        return False


def escaped(job_dir: Path) -> list[int]:
    return json.loads((job_dir / "escaped.json").read_text())


@pytest.mark.parametrize("sleep, time_limit", [(300, 3), (0, None)],
                         ids=["killed-at-time-limit", "ended-normally"])
def test_detached_descendants_die_with_the_run(notebook, sandboxed, site, sleep, time_limit):
    """setsid() and double forks do not outlive the run, whether it is killed or ends."""
    notebook = notebook(f"SLEEP = {sleep}", ESCAPE, "SLEEP", name="escape.ipynb")
    result = run(sandboxed, notebook, site, f"escape-{sleep}", time_limit=time_limit)
    assert result.status == ("failed" if time_limit else "done"), result.error
    pids = escaped(result.job_dir)
    assert len(pids) == 3
    deadline = time.monotonic() + 5
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [pid for pid in pids if alive(pid)]


@pytest.mark.parametrize("body, kind, words", [
    ("import numpy as np\nhog = np.ones(10 * 2**30 // 8)", "memory_limit", "memory limit exceeded"),
    ("hog = bytearray(10 * 2**30)", "memory_limit", "memory limit exceeded"),
    ("while True:\n    pass", "cpu_limit", "CPU time limit exceeded (2 s"),
    ("import subprocess\nps = [subprocess.Popen(['sleep', '20']) for _ in range(100)]",
     "process_limit", "process limit exceeded (40"),
    ("with open('big', 'wb') as f:\n    for _ in range(100):\n        f.write(b'x' * 2**20)",
     "output_limit", "output limit exceeded"),
    ("for i in range(30):\n    open(f'part{i}', 'wb').write(b'x' * 2**20)",
     "output_limit", "more than the 20 MiB allowed"),
], ids=["numpy-10GB", "bytes-10GB", "cpu", "processes", "one-big-file", "many-files"])
def test_each_limit_fails_the_job_with_its_reason(notebook, sandboxed, site, body, kind, words):
    notebook = notebook("x = 1", body, "x", name="hog.ipynb")
    result = run(sandboxed, notebook, site, f"hog-{kind}-{abs(hash(body))}", time_limit=60)
    assert result.status == "failed"
    assert result.error.kind == kind, result.error
    assert words in result.error.evalue, result.error.evalue


def test_a_workflow_declares_limits_within_the_operators_maximum(tmp_path, site):
    body = ("import resource\n"
            "memory = resource.getrlimit(resource.RLIMIT_DATA)[0]\n"
            "cpu = resource.getrlimit(resource.RLIMIT_CPU)[0]")
    source = "# %% [markdown]\n# # Greedy\n\n# %% tags=['parameters']\n"
    source += '# oda:memory_limit "64G"\n# oda:cpu_time_limit 30\nx = 1\n\n# %%\n' + body + "\n\n# %% tags=['outputs']\nmemory\ncpu\n"
    path = tmp_path / "wf" / "greedy.py"
    path.parent.mkdir(parents=True)
    path.write_text(source)
    workflow = Workflow.from_path(path)
    assert workflow.run_limits.memory == 64 << 30 and workflow.run_limits.cpu_time == 30
    policy = SandboxPolicy(data_dir=site, limits=RunLimits(memory=1 << 30, cpu_time=None))
    with LocalExecutor(sandbox=policy, max_limits=RunLimits(memory=2 << 30, cpu_time=60),
                       max_parallel=1) as executor:
        result = workflow.run({}, executor=executor, job_dir=site / "artifacts/jobs/greedy")
    assert result.status == "done", result.error
    values = {p.name: p.meta for p in result.products}  # a scalar's value is in its record
    assert values["memory"]["value"] == 2 << 30  # asked 64 GiB, the ceiling is 2 GiB
    assert values["cpu"]["value"] == 30           # asked 30 s, within the 60 s ceiling


# -- through a real server ----------------------------------------------------------------

def attack_service(folder: Path) -> Path:
    """A live-workflow repository as an attacker would publish it."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "attack.py").write_text(
        "# %% [markdown]\n# # Attack\n# Reads what it should not.\n\n"
        "# %% tags=['parameters']\n"
        "SECRET = ''  # oda:String\nDATABASE = ''  # oda:String\nJOBS = ''  # oda:String\n"
        "OTHER = ''  # oda:String\nDATA_FILE = ''  # oda:String\nPORT = 1  # oda:Integer\n"
        "UNIX = ''  # oda:String\n\n# %%\n" + PROBE + "\n# %% tags=['outputs']\nreport  # oda:String\n")
    (folder / "escape.py").write_text(
        "# %% [markdown]\n# # Escape\n\n# %% tags=['parameters']\nSLEEP = 300  # oda:Integer\n\n"
        "# %%\n" + ESCAPE + "\n# %% tags=['outputs']\nSLEEP  # oda:Integer\n")
    return folder


def wait_for(client: httpx.Client, job_id: str, states=("done", "failed")) -> dict:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job = client.get(f"/api/v1/jobs/{job_id}", params={"wait": 5}).json()
        if job["state"] in states:
            return job
    raise AssertionError(f"job {job_id} did not reach {states}: {job}")


def server_probe(server: ServerProcess, unix: str) -> dict[str, str]:
    data = server.data_dir.resolve()
    database = server.db or str(data / "astroflow.db")
    with httpx.Client(base_url=server.url, timeout=30) as client:
        values = {"SECRET": SECRET, "DATABASE": database, "JOBS": str(data / "artifacts/jobs"),
                  "OTHER": str(data / "artifacts/jobs"), "DATA_FILE": str(data / "nothing"),
                  "PORT": 5432, "UNIX": unix}
        reply = client.post("/api/v1/services/attack/jobs", json={"parameters": values})
        assert reply.status_code in (200, 201), reply.text
        job = wait_for(client, reply.json()["id"])
        assert job["state"] == "done", job
        text = client.get(f"/api/v1/jobs/{job['id']}/products/report", params={"format": "json"})
        return json.loads(text.json()["value"])


@pytest.mark.parametrize("store", ["sqlite", "postgresql"])
def test_a_served_run_reads_no_secret_and_no_database(tmp_path, store):
    with contextlib.ExitStack() as stack:
        db = stack.enter_context(private_schema()) if store == "postgresql" else None
        server = ServerProcess(tmp_path / "data", services=[attack_service(tmp_path / "repo")],
                               db=db)
        with server.running():
            seen = server_probe(server, "/var/run/postgresql/.s.PGSQL.5432")
    assert seen["env"] == "ok: []", seen
    assert seen["environs"] in ("ok: []", "denied: PermissionError"), seen
    # The job database's port is shut (with SQLite there is no such port to shut).
    refusals = ("database", "jobs", "unix", "signal", "write_outside")
    for refused in refusals + (("tcp",) if store == "postgresql" else ()):
        assert seen[refused].startswith("denied"), (refused, seen)


def test_server_shutdown_kills_what_runs_left_detached(tmp_path):
    server = ServerProcess(tmp_path / "data", services=[attack_service(tmp_path / "repo")],
                           env={"ASTROFLOW_DRAIN_GRACE": "1"})
    with server.running(), httpx.Client(base_url=server.url, timeout=30) as client:
        job = client.post("/api/v1/services/escape/jobs", json={"parameters": {}}).json()
        marker = server.data_dir / "artifacts" / "jobs" / job["id"] / "escaped.json"
        deadline = time.monotonic() + 30
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        pids = json.loads(marker.read_text())
        assert all(alive(pid) for pid in pids)
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in pids if alive(pid)]


# -- the operator's settings ----------------------------------------------------------------

def test_operator_settings_become_the_policy(tmp_path):
    from astroflow.server.isolation import database_ports, limits_from_env, sandbox_policy

    defaults, ceiling = limits_from_env({"ASTROFLOW_RUN_MEMORY": "2G",
                                         "ASTROFLOW_RUN_MEMORY_MAX": "8GiB",
                                         "ASTROFLOW_RUN_CPU_TIME": "600",
                                         "ASTROFLOW_RUN_PROCESSES": "none"})
    assert defaults.memory == 2 << 30 and ceiling.memory == 8 << 30
    assert defaults.cpu_time == 600 and ceiling.cpu_time == 600  # no _MAX: the default
    assert defaults.processes is None
    with pytest.raises(ValueError, match="ASTROFLOW_RUN_MEMORY='lots'"):
        limits_from_env({"ASTROFLOW_RUN_MEMORY": "lots"})
    assert database_ports("postgresql://u:p@db.example:6543/jobs") == (6543,)
    assert database_ports("postgresql+psycopg://u@127.0.0.1/test") == (5432,)
    assert database_ports(f"sqlite:///{tmp_path}/astroflow.db") == ()
    assert sandbox_policy("off", defaults, tmp_path, "sqlite://") is None
    strict = sandbox_policy("strict", defaults, tmp_path, "postgresql://h/db")
    assert strict.strict and strict.blocked_ports == (5432,)
    with pytest.raises(ValueError, match="use on, strict or off"):
        sandbox_policy("maybe", defaults, tmp_path, "sqlite://")


def test_health_says_which_layers_runs_get(tmp_path):
    server = ServerProcess(tmp_path / "data", services=[attack_service(tmp_path / "repo")])
    with server.running():
        health = httpx.get(server.url + "/healthz", timeout=10).json()
    assert health["sandbox"]["landlock"] is True and health["sandbox"]["namespaces"] is True
    assert str(tmp_path) not in json.dumps(health)


def test_a_linked_data_folder_stays_readable(notebook, sandboxed, site, tmp_path):
    """Data on another disk, linked into the data folder, is workflow data too."""
    elsewhere = tmp_path / "disk2" / "hess"
    elsewhere.mkdir(parents=True)
    (elsewhere / "runs.txt").write_text("dl3")
    (site / "hess").symlink_to(elsewhere)
    try:
        path = notebook(f"PATH = {str(site / 'hess' / 'runs.txt')!r}",
                        "text = open(PATH).read()", "text  # oda:String", name="linked.ipynb")
        result = run(sandboxed, path, site, "linked")
        assert result.status == "done", result.error
    finally:
        (site / "hess").unlink()


CACHE_USER = r'''
import json, os
cache = os.environ["ASTROFLOW_CACHE_DIR"]
def attempt(action):
    try:
        return f"allowed: {action()}"
    except OSError as exc:
        return f"denied: {type(exc).__name__}"
path = os.path.join(cache, "reduced.txt")
runs = int(open(path).read()) + 1 if os.path.exists(path) else 1
open(path, "w").write(str(runs))
report = json.dumps({"cache": cache, "runs": runs,
                     "read_other": attempt(lambda: open(OTHER).read()),
                     "write_other": attempt(lambda: open(OTHER, "w").write("poison")),
                     "write_root": attempt(lambda: open(os.path.join(ROOT, "x"), "w").write("x"))})
'''


def cache_workflow(folder: Path, other: Path, root: Path) -> Path:
    import nbformat

    folder.mkdir(parents=True, exist_ok=True)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(f"OTHER = {str(other)!r}\nROOT = {str(root)!r}",
                                          metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell(CACHE_USER),
                nbformat.v4.new_code_cell("report  # oda:String",
                                          metadata={"tags": ["outputs"]})]
    path = folder / "reduce.ipynb"
    nbformat.write(nb, path)
    return path


def test_each_workflow_keeps_its_own_cache_between_runs(site, tmp_path):
    """A workflow's runs share a writable cache folder (what a reduction leaves for the next
    request); another workflow can neither read nor poison it, nor write beside it."""
    from astroflow.execution.sandbox.policy import workflow_cache_dir

    root = site / "cache" / "workflows"
    first, second = tmp_path / "hess", tmp_path / "other" / "hess"  # same name, two folders
    theirs = workflow_cache_dir(root, second) / "reduced.txt"
    mine = cache_workflow(first, theirs, root)
    policy = SandboxPolicy(data_dir=site, workflow_cache=root,
                           limits=RunLimits(memory=1 << 30, processes=40, output=20 << 20))
    with LocalExecutor(sandbox=policy, max_parallel=1) as executor:
        one = probes(run(executor, mine, site, "cache-1"))
        two = probes(run(executor, mine, site, "cache-2"))
        assert one["cache"] == two["cache"] == str(workflow_cache_dir(root, first))
        assert (one["runs"], two["runs"]) == (1, 2)
        assert one["write_root"].startswith("denied")
        intruder = cache_workflow(second, workflow_cache_dir(root, first) / "reduced.txt",
                                  root)
        seen = probes(run(executor, intruder, site, "cache-3"))
    assert seen["runs"] == 1 and seen["cache"] != one["cache"]
    assert seen["read_other"].startswith("denied"), seen
    assert seen["write_other"].startswith("denied"), seen
    assert (workflow_cache_dir(root, first) / "reduced.txt").read_text() == "2"
