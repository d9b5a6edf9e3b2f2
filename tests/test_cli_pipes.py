"""Issue 18 as a user of the CLI and the API meets it: pipes, progress, cache, scalars.

One real server (module fixture) serves two small services written here and the bundled
sky-position example; the CLI runs as real subprocesses, in real shell pipelines. Each test
fails on 311d7db, as its docstring says.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest
from server_process import ServerProcess

REPO = Path(__file__).resolve().parents[1]
API = "/api/v1"
VELA = {"src_name": "Vela", "RA": 128.836, "DEC": -45.176, "n_bins": 6}  # one job, two tests

BACKWARDS = '''\
# %% [markdown]
# # Backwards
# Reports a fraction that goes back (as IceCube's TS map did), then a scalar with a unit.

# %% tags=["parameters"]
T1 = "2008-04-06T00:00:00"  # oda:StartTimeISOT
pause = 0.3  # oda:Float ; oda:lower_limit 0 ; oda:upper_limit 5
tag = "a"  # oda:String

# %%
import time

import astropy.units as u

import astroflow

for stage, fraction in (("trials", 0.22), ("ts map", 0.02), ("ts map", 0.5),
                        ("light curve", 0.4), ("light curve", 0.6)):
    astroflow.progress(stage=stage, fraction=fraction, message=f"{stage} {fraction}")
    time.sleep(pause)
answer = 42.5 * u.m

# %% tags=["outputs"]
answer  # oda:Float
'''

STOPS = '''\
# %% [markdown]
# # Stops
# Fails at 40%, in its fit.

# %% tags=["parameters"]
tag = "a"  # oda:String

# %%
import time

import astroflow

astroflow.progress(stage="fit", fraction=0.4, message="fitting")
time.sleep(0.3)
raise astroflow.AnalysisError("no convergence")
'''

# Long enough that a pipe's buffer (64 KiB) cannot hold the output: the write fails.
BIG = '# %% [markdown]\n# # Big: parameters, then a long description\n' + "".join(f"# line {i} {'x' * 70}\n" for i in range(3000)) + '''
# %% tags=["parameters"]
x = 1.0  # oda:Float
'''


@pytest.fixture(scope="module")
def services(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("issue18")
    (folder / "backwards.py").write_text(BACKWARDS)
    (folder / "stops.py").write_text(STOPS)
    (folder / "big.py").write_text(BIG)
    return folder


@pytest.fixture(scope="module")
def server(tmp_path_factory, services):
    data = tmp_path_factory.mktemp("server")
    # Only the 3-year IceCube release is installed here (its presence is all that counts).
    (data / "icecube" / "3year").mkdir(parents=True)
    (data / "icecube" / "3year" / "icecube_ps_cache.npz").write_bytes(b"")
    process = ServerProcess(data, services=[services, REPO / "workflows" / "sky-position",
                                            REPO / "workflows" / "icecube"]).start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def http(server):
    with httpx.Client(base_url=server.url, timeout=60) as client:
        yield client


def shell(command: str, server: ServerProcess | None = None) -> subprocess.CompletedProcess:
    """``command`` in bash (a real pipeline), ``astroflow`` being this interpreter's; the
    exit status of the pipeline's first command is printed last."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASTROFLOW_")}
    if server is not None:
        env["ASTROFLOW_URL"] = server.url
    script = f'astroflow() {{ "{sys.executable}" -m astroflow "$@"; }}\n{command}\n' \
             'printf "\\nstatus %s\\n" "${PIPESTATUS[0]}"'
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=120,
                          env=env)


def submit(http: httpx.Client, service: str, **parameters) -> dict:
    reply = http.post(f"{API}/services/{service}/jobs", json={"parameters": parameters})
    assert reply.status_code in (200, 201), reply.text
    return reply.json()


def wait(http: httpx.Client, job_id: str) -> dict:
    record = http.get(f"{API}/jobs/{job_id}", params={"wait": 30}).json()
    assert record["state"] in ("done", "failed", "cancelled"), record
    return record


def test_a_closed_pipe_ends_every_command_quietly(server, services):
    """Issue 18, 13: ``astroflow … --json | head`` printed BrokenPipeError tracebacks. Now
    the command ends as Unix tools do (status 141, nothing on stderr): a local command
    (inspect) and a client command (describe), each writing more than a pipe holds."""
    big = services / "big.py"
    for command in (f"astroflow inspect {big} --json | head -1",
                    "astroflow describe big --json | head -1"):
        out = shell(command, server)
        assert "Traceback" not in out.stderr and "Broken" not in out.stderr, (command, out.stderr)
        assert out.stderr == "", (command, out.stderr)
        lines = [line for line in out.stdout.splitlines() if line]
        assert lines[-1] in ("status 0", "status 141"), (command, out.stdout)
        assert len(lines) == 2, out.stdout


def test_progress_never_goes_back_and_a_done_job_is_done(server, http):
    """Issue 18, 7 and 14: a service whose stages count their own 0-1 went from 22% back to
    2%, and a done job kept reporting ``light curve, 60%``. Now what the API reports only
    moves forward, and the done job is at stage "done", 100%, in the record, its events and
    the CLI."""
    job = submit(http, "backwards", tag=f"progress-{os.getpid()}")
    seen: list[float] = []
    record = job
    while record["state"] not in ("done", "failed", "cancelled"):
        time.sleep(0.05)
        record = http.get(f"{API}/jobs/{job['id']}").json()
        if record["state"] == "running" and record["progress"]["fraction"] is not None:
            seen.append(record["progress"]["fraction"])
    assert record["state"] == "done", record
    assert 0.22 in seen and seen == sorted(seen), seen
    done = {"stage": "done", "fraction": 1.0, "message": "done", "substage": None,
            "subfraction": None, "ended": "done"}
    assert record["progress"] == done
    with http.stream("GET", f"{API}/jobs/{job['id']}/events", timeout=60) as stream:
        event = next(json.loads(line[6:]) for line in stream.iter_lines()
                     if line.startswith("data: "))
    assert event["state"] == "done" and event["progress"] == done
    out = shell(f"astroflow job {job['id']}", server)
    assert "light curve" not in out.stdout and "60%" not in out.stdout, out.stdout


def test_a_failed_job_keeps_where_it_stopped_marked_as_ended(server, http):
    """Issue 18, 14: a failed (or cancelled) job keeps its last progress, marked as such,
    so that it does not read as still running; the CLI says where it stopped."""
    job = wait(http, submit(http, "stops", tag=f"stops-{os.getpid()}")["id"])
    assert job["state"] == "failed"
    assert job["progress"]["stage"] == "fit" and job["progress"]["fraction"] == 0.4
    assert job["progress"]["ended"] == "failed"
    out = shell(f"astroflow job {job['id']}", server)
    assert "stopped  at fit, 40%" in out.stdout, out.stdout


def test_the_defaults_and_the_portals_spelling_join_one_job(server, http):
    """Issue 18, 6: T1 left at its default ``…T00:00:00`` (CLI) and sent as the portal's
    ``…T00:00:00.000`` ran twice. Now they join one job, which injects the value as the
    first request wrote it."""
    tag = f"cache-{os.getpid()}"
    first = submit(http, "backwards", tag=tag, pause=0)
    second = submit(http, "backwards", tag=tag, pause=0.0, T1="2008-04-06T00:00:00.000")
    third = submit(http, "backwards", tag=tag, pause="0", T1=54562)
    assert first["id"] == second["id"] == third["id"]
    assert wait(http, first["id"])["parameters"]["T1"] == "2008-04-06T00:00:00"


def test_job_and_submit_wait_print_a_scalars_value_and_unit(server, http):
    """Issue 18, 16: ``astroflow submit … --wait`` and ``astroflow job ID`` listed a scalar
    product without its value. Now its row carries the value and the unit (also for the
    sky-position example, whose scalar had no unit)."""
    out = shell(f"astroflow submit backwards -p tag=scalar-{os.getpid()} -p pause=0 --wait",
                server)
    assert out.stdout.rstrip().splitlines()[-1] == "status 0", out.stdout + out.stderr
    row = next(line for line in out.stdout.splitlines() if line.strip().startswith("answer"))
    assert row.split()[:4] == ["answer", "scalar", "42.5", "m"], row
    job = submit(http, "sky-position", **VELA)
    out = shell(f"astroflow job {job['id']} --wait", server)
    row = next(line for line in out.stdout.splitlines() if line.strip().startswith("mean_rate"))
    assert float(row.split()[2]) > 0 and " 1 / h " in row, row


def test_sky_position_table_light_curve_and_scalar(server, http, tmp_path):
    """Issue 18, 9: the constellation promised in the description was only in the table's
    meta; the light curve's MJD times were "time [d]" and its FITS had no TIMESYS/MJDREF (now
    an "mjd" column, its header saying UTC, MJDREF 0, days);
    the scalar's unit was null."""
    from astropy.io import fits
    from astropy.table import Table

    job = wait(http, submit(http, "sky-position", **VELA)["id"])
    assert job["state"] == "done", job
    products = {p["name"]: p for p in job["products"]}
    base = f"{API}/jobs/{job['id']}/products"
    (tmp_path / "positions.ecsv").write_bytes(
        http.get(f"{base}/positions", params={"format": "ecsv"}).content)
    positions = Table.read(tmp_path / "positions.ecsv")
    assert list(positions["constellation"]) == ["Vela"] * 3
    (tmp_path / "lc.fits").write_bytes(
        http.get(f"{base}/light_curve", params={"format": "fits"}).content)
    header = fits.getheader(tmp_path / "lc.fits", 1)
    assert (header["TIMESYS"], header["MJDREF"], header["TIMEUNIT"]) == ("UTC", 0, "d")
    curve = Table.read(tmp_path / "lc.fits")
    assert "time" not in curve.colnames and 60310 < curve["mjd"][0] < 60318
    assert products["mean_rate"]["unit"] == "1 / h"


def test_icecube_offers_the_releases_installed_and_refuses_the_others(http):
    """Issue 18, 5: ``10year`` was offered though not installed, and choosing it showed a
    raw download error and operator advice. Now the form offers what this server has, and
    the other value is refused by validation, naming the field."""
    for service in ("icecube", "allsky", "icecube-region"):
        described = http.get(f"{API}/services/{service}").json()
        release = next(p for p in described["parameters"] if p["name"] == "data_release")
        assert release["enum"] == ["auto", "3year", "synthetic"], (service, release)
    reply = http.post(f"{API}/services/icecube/jobs",
                      json={"parameters": {"data_release": "10year"}})
    assert reply.status_code in (400, 422), reply.text
    assert "data_release" in reply.text and "'3year'" in reply.text, reply.text


def test_help_lines_of_the_bundled_workflows():
    """The IceCube and sky-position forms have a one-line help for every field; the others'
    missing ones are listed (the report of this work names them)."""
    from astroflow.workflow import Workflow

    missing = {}
    for path in sorted((REPO / "workflows").glob("*/*")):
        if path.suffix not in (".ipynb", ".py") or path.name.startswith(("make_", "_")):
            continue
        try:
            wf = Workflow.from_path(path)
        except Exception:  # noqa: BLE001 - a module, not a notebook
            continue
        names = [n for n, p in wf.parameters.items() if not (p.description or "").strip()]
        if names:
            missing[str(path.relative_to(REPO))] = names
    print(textwrap.indent(json.dumps(missing, indent=1), "  "))
    assert not [p for p in missing if p.startswith(("workflows/icecube/",
                                                     "workflows/sky-position/"))], missing
