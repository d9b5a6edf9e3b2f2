"""A sandboxed run on a Dask worker and the cluster's ports. Fan-out on (the default): the
run finds the scheduler in ASTROFLOW_SCHEDULER and `astroflow.parallel.map` runs on the
cluster. Off (``ASTROFLOW_DASK_FANOUT=0``, ``astroflow worker --no-fanout``): the run may not
connect to the scheduler, its worker or the nanny (Landlock TCP rules), and `map` forks
local processes."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat.v4 as v4
import pytest

distributed = pytest.importorskip("distributed")

from astroflow.execution import RunSpec  # noqa: E402
from astroflow.execution.dask.executor import DaskExecutor  # noqa: E402
from astroflow.execution.sandbox.landlock import abi_version  # noqa: E402
from astroflow.execution.sandbox.policy import SandboxPolicy  # noqa: E402

pytestmark = pytest.mark.timeout(60)

PROBE = """
import json, os, socket
from astroflow import parallel
reached = []
for address in targets:
    host, port = address.split("://")[-1].rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
        reached.append(True)
    except OSError:
        reached.append(False)
report = {"scheduler": os.environ.get("ASTROFLOW_SCHEDULER", ""), "reached": reached,
          "on_cluster": parallel.cluster_client() is not None,
          "values": parallel.map(abs, [-1, -2, -3], workers=2)}
with open(out, "w") as f:
    json.dump(report, f)
"""


@pytest.mark.skipif(abi_version() < 4, reason="no Landlock TCP rules (ABI < 4) here")
@pytest.mark.parametrize("fanout", ["1", "0"])
def test_fanout_reaches_the_cluster_only_when_allowed(tmp_path: Path, fanout: str):
    job = tmp_path / "data" / "jobs" / "j"
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None,
                                  env={"ASTROFLOW_DASK_FANOUT": fanout}) as cluster, \
            DaskExecutor(cluster.scheduler_address,
                         sandbox=SandboxPolicy(data_dir=tmp_path / "data")) as executor:
        [(address, info)] = executor.client.scheduler_info()["workers"].items()
        targets = [cluster.scheduler_address, address, info["nanny"]]
        code = f"targets = {targets!r}\nout = {str(job / 'probe.json')!r}\n" + PROBE
        notebook = json.loads(v4.writes(v4.new_notebook(cells=[v4.new_code_cell(code)])))
        result = executor.run(RunSpec(notebook, [], job))
    assert result.status == "done", result.error
    report = json.loads((job / "probe.json").read_text())
    assert report["values"] == [1, 2, 3]
    if fanout == "1":
        assert report["scheduler"] == cluster.scheduler_address
        assert report["on_cluster"] is True
        assert report["reached"][0] is True
    else:
        assert report["scheduler"] == ""
        assert report["on_cluster"] is False
        assert report["reached"] == [False, False, False]
