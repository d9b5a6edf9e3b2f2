"""A Dask scheduler restarted mid-run: the executor submits the lost run again once the
client is back, and `astroflow worker` starts Dask's worker again (Dask workers close when
their scheduler goes away), so the job ends done, not cancelled."""

from __future__ import annotations

import json
import time

import nbformat.v4 as v4
import pytest

pytest.importorskip("distributed")

from dask_cluster import DaskCluster  # noqa: E402

from astroflow.execution import OutputSpec, RunSpec  # noqa: E402
from astroflow.execution.dask.executor import DaskExecutor  # noqa: E402

pytestmark = pytest.mark.timeout(90)


def test_a_scheduler_restart_mid_run_recovers_the_run(tmp_path):
    cluster = DaskCluster(tmp_path / "dask")
    try:
        cluster.start()
        marks = tmp_path / "marks"
        source = (f"import os, time\nopen({str(marks)!r}, 'a').write(f'{{os.getpid()}}\\n')\n"
                  "time.sleep(2)\nx = 5")
        notebook = json.loads(v4.writes(v4.new_notebook(cells=[v4.new_code_cell(source)])))
        with DaskExecutor(cluster.url, reconnect_timeout=60) as executor:
            handle = executor.submit(RunSpec(notebook, [OutputSpec("x", None)], tmp_path / "job"))
            deadline = time.monotonic() + 30
            while handle.pid is None:
                assert time.monotonic() < deadline, "the run did not start"
                time.sleep(0.02)
            cluster.kill_scheduler()
            cluster.start_scheduler()
            result = handle.wait(70)
            assert result.status == "done", result.error
            assert [p.meta["value"] for p in result.products] == [5]
            assert handle.resubmissions == 1
            assert len(marks.read_text().split()) == 2  # the lost run, and the one that ended
            # The executor goes on working with the new scheduler.
            again = executor.run(RunSpec(notebook, [OutputSpec("x", None)], tmp_path / "job2"))
            assert again.status == "done"
    finally:
        cluster.stop()


def test_astroflow_worker_gives_up_when_dask_worker_cannot_start():
    """Restarting is for a scheduler that went away, not for a worker that cannot start."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "astroflow", "worker", "--scheduler",
                           "dask://127.0.0.1:1", "--", "--no-such-option"],
                          capture_output=True, text=True, timeout=50)
    assert done.returncode != 0
    assert done.stderr.count("starting it again") == 4  # five quick ends, then it stops
    assert "Unknown argument" in done.stderr  # dask worker's own complaint, shown
