"""Workers on other machines than the API: with an fsspec artifact store the worker writes the
job's files into its own cache and uploads them; the API finds them in the store, not in its
own folders. (``local://`` is fsspec's local file system under another name: a "remote"
store both sides reach, with no cloud account.)"""

from __future__ import annotations

import json
import uuid

import nbformat.v4 as v4
import pytest

distributed = pytest.importorskip("distributed")

from astroflow.execution import OutputSpec, RunSpec  # noqa: E402
from astroflow.execution.dask.executor import DaskExecutor  # noqa: E402
from astroflow.jobs.artifacts import ArtifactStore  # noqa: E402

pytestmark = pytest.mark.timeout(60)


def test_a_worker_uploads_the_job_files_to_a_remote_store(tmp_path):
    remote = tmp_path / "bucket"
    url = f"local://{remote}"
    api = ArtifactStore(url, cache=tmp_path / "api-cache")
    worker_home = tmp_path / "worker-home"
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None,
                                  env={"HOME": str(worker_home)}) as cluster, \
            DaskExecutor(cluster.scheduler_address, store=url) as executor:
        job_id = uuid.uuid4().hex
        code = json.loads(v4.writes(v4.new_notebook(cells=[v4.new_code_cell("x = 7")])))
        result = executor.submit(RunSpec(code, [OutputSpec("x", None)],
                                         api.job_dir(job_id))).wait(40)
    assert result.status == "done", result.error
    assert [p.meta["value"] for p in result.products] == [7]
    # Written in the worker's own cache, uploaded to the store; not in the API's folder.
    assert (worker_home / ".cache" / "astroflow" / "artifacts" / "jobs" / job_id
            / "result.json").is_file()
    assert not (api.job_dir(job_id) / "result.json").exists()
    uploaded = remote / "jobs" / job_id / "result.json"
    assert json.loads(uploaded.read_text())["products"][0]["meta"]["value"] == 7
    assert (remote / "jobs" / job_id / "executed.ipynb").is_file()
    # The API reads it through the store (fetched into its cache).
    fetched = api.path(job_id, "result.json")
    assert json.loads(fetched.read_text()) == json.loads(uploaded.read_text())
    assert not (remote / "jobs" / job_id / "work").exists()  # scratch is never uploaded
