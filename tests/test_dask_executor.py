"""The Dask executor on a real LocalCluster of two worker processes (under nannies) on
127.0.0.1: runs happen once, products and progress arrive, cancel and time limits kill the
remote process, a worker killed mid-run (SIGKILL) makes the run go again once, then fail."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import nbformat.v4 as v4
import pytest

distributed = pytest.importorskip("distributed")

from test_execution import gone  # noqa: E402
from test_execution import wait_until as until  # noqa: E402

from astroflow.execution import OutputSpec, RunSpec  # noqa: E402
from astroflow.execution.dask.executor import DaskExecutor, scheduler_address  # noqa: E402

pytestmark = pytest.mark.timeout(60)


def notebook(*sources: str) -> dict:
    return json.loads(v4.writes(v4.new_notebook(cells=[v4.new_code_cell(s) for s in sources])))


def marking(marks: Path, *rest: str) -> dict:
    """A notebook that appends its pid to ``marks`` (one line per run) first."""
    return notebook(f"import os\nwith open({str(marks)!r}, 'a') as f:\n"
                    "    f.write(f'{os.getpid()}\\n')", *rest)


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def executor(cluster):
    with DaskExecutor(cluster.scheduler_address.replace("tcp://", "dask://")) as executor:
        yield executor


def test_a_run_happens_once_and_its_product_arrives(executor, tmp_path):
    marks = tmp_path / "marks"
    spec = RunSpec(marking(marks, "x = 6 * 7"), [OutputSpec("x", None)], tmp_path / "job")
    result = executor.submit(spec).wait(30)
    assert result.status == "done", result.error
    assert [p.meta["value"] for p in result.products] == [42]
    manifest = json.loads((tmp_path / "job" / "result.json").read_text())  # the run's record
    assert [p["meta"]["value"] for p in manifest["products"]] == [42]  # in the shared folder
    assert len(marks.read_text().split()) == 1
    # It ran in a process of its own on a worker, not in the worker process.
    worker_pids = set(executor.client.run(os.getpid).values())
    assert int(marks.read_text()) not in worker_pids


def test_progress_arrives_from_the_remote_run(executor, tmp_path):
    seen = []
    code = ("import astroflow, time\n"
            "for i in range(3):\n"
            "    astroflow.progress(stage='step', fraction=i / 3, message=f'step {i}')\n"
            "    time.sleep(0.2)\n")
    handle = executor.submit(RunSpec(notebook(code), [], tmp_path / "job"), on_progress=seen.append)
    assert handle.wait(30).status == "done"
    assert [p.message for p in seen] == ["step 0", "step 1", "step 2"]
    assert seen[1].fraction == pytest.approx(1 / 3)


@pytest.mark.parametrize("stop", ["cancel", "time_limit"])
def test_cancel_and_time_limit_kill_the_remote_process(executor, tmp_path, stop):
    marks = tmp_path / "marks"
    limit = 1.5 if stop == "time_limit" else None
    handle = executor.submit(RunSpec(marking(marks, "import time\ntime.sleep(60)"), [],
                                     tmp_path / "job", time_limit=limit))
    assert until(lambda: marks.exists() and handle.pid is not None), "the run did not start"
    pid = int(marks.read_text())
    assert pid == handle.pid and not gone(pid)
    if stop == "cancel":
        handle.cancel()
    result = handle.wait(20)
    assert until(lambda: gone(pid), 5), "the remote run process outlived its stop"
    if stop == "cancel":
        assert result.status == "cancelled"
    else:
        assert result.status == "failed" and result.error.kind == "time_limit"
        assert "time limit exceeded (1.5 s)" in result.error.evalue


def _kill_worker_of(executor: DaskExecutor, address: str) -> None:
    pid = executor.client.run(os.getpid, workers=[address])[address]
    os.kill(pid, signal.SIGKILL)


def test_a_worker_killed_mid_run_reruns_it_once_elsewhere(executor, tmp_path):
    marks = tmp_path / "marks"
    handle = executor.submit(RunSpec(marking(marks, "import time\ntime.sleep(2)\nx = 1"),
                                     [OutputSpec("x", None)], tmp_path / "job"))
    assert until(lambda: marks.exists() and handle.worker is not None), "the run did not start"
    first, first_worker = int(marks.read_text()), handle.worker
    _kill_worker_of(executor, first_worker)
    result = handle.wait(40)
    assert result.status == "done", result.error
    pids = [int(p) for p in marks.read_text().split()]
    assert len(pids) == 2 and pids[0] == first
    assert handle.attempt == 2
    assert until(lambda: gone(first), 5), "the lost worker's run process outlived it"


def test_a_run_whose_workers_die_twice_fails_as_worker_lost(executor, tmp_path):
    marks = tmp_path / "marks"
    handle = executor.submit(RunSpec(marking(marks, "import time\ntime.sleep(30)"), [],
                                     tmp_path / "job"))
    for attempt in (1, 2):
        assert until(lambda a=attempt: marks.exists()
                     and len(marks.read_text().split()) == a and handle.attempt == a, 30), \
            f"attempt {attempt} did not start"
        _kill_worker_of(executor, handle.worker)
    result = handle.wait(40)
    assert result.status == "failed"
    assert "worker lost" in result.error.evalue
    assert len(marks.read_text().split()) == 2  # never a third run


def test_bad_executor_address_is_a_clear_error():
    with pytest.raises(ValueError, match="use local or dask://HOST:PORT"):
        scheduler_address("dask://")
    assert scheduler_address("dask://10.0.0.1:8786") == "tcp://10.0.0.1:8786"
