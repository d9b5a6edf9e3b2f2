"""The README's SLURM recipe as far as it goes without SLURM: dask-jobqueue's `SLURMCluster`
with astroflow's preload writes a batch script; that script, run by bash as SLURM would run
it, starts a worker that joins the cluster's scheduler and runs an astroflow job."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import nbformat.v4 as v4
import pytest

pytest.importorskip("dask_jobqueue")

from dask_jobqueue import SLURMCluster  # noqa: E402

from astroflow.execution import OutputSpec, RunSpec  # noqa: E402
from astroflow.execution.dask.executor import DaskExecutor  # noqa: E402

pytestmark = pytest.mark.timeout(60)


def test_a_slurm_job_script_starts_an_astroflow_worker(tmp_path):
    with SLURMCluster(cores=1, processes=1, memory="2GB", walltime="00:10:00",
                      python=sys.executable,
                      worker_extra_args=["--preload", "astroflow.execution.dask.preload"],
                      scheduler_options={"host": "127.0.0.1", "dashboard_address": None}
                      ) as cluster:
        script = cluster.job_script()
        assert "#SBATCH --mem=2G" in script
        assert "--preload astroflow.execution.dask.preload" in script
        log = open(tmp_path / "slurm-job.log", "wb")  # noqa: SIM115 - closed below
        job = subprocess.Popen(["bash", "-c", script], stdout=log, stderr=log,
                               start_new_session=True)
        try:
            with DaskExecutor(cluster.scheduler_address) as executor:
                executor.client.wait_for_workers(1, timeout=40)
                code = json.loads(v4.writes(v4.new_notebook(cells=[v4.new_code_cell("x = 2 ** 10")])))
                handle = executor.submit(RunSpec(code, [OutputSpec("x", None)], tmp_path / "job"))
                result = handle.wait(40)
                assert result.status == "done", result.error
                assert [p.meta["value"] for p in result.products] == [1024]
                # The run went through the worker's astroflow plugin, once.
                assert sum(executor.started().values()) == 1
        finally:
            os.killpg(job.pid, signal.SIGTERM)
            job.wait(15)
            log.close()
