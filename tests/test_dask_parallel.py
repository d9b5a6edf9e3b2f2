"""`astroflow.parallel.map` and the IceCube TS map and background scans on a real Dask
LocalCluster: the same numbers, bit for bit, as the serial loop with the same seeds."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")

from astroflow import parallel  # noqa: E402

pytestmark = pytest.mark.timeout(120)
ICECUBE = Path(__file__).resolve().parents[1] / "workflows" / "icecube"


def pid_and_square(x: int) -> tuple[int, int]:
    return os.getpid(), x * x


def scaled(factor: np.ndarray, x: int) -> float:
    return float(factor.sum() * x)


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster:
        yield cluster


@pytest.fixture
def on_cluster(cluster, monkeypatch):
    """As in a job the dask executor runs: the scheduler's address in the environment."""
    monkeypatch.setenv(parallel.SCHEDULER_VARIABLE, cluster.scheduler_address)
    yield cluster
    if parallel._client is not None:
        parallel._client.close()
        parallel._client = None


def test_map_runs_on_the_cluster_with_the_local_results(on_cluster):
    client = parallel.cluster_client()
    worker_pids = set(client.run(os.getpid).values())
    remote = parallel.map(pid_and_square, range(20))
    assert [r[1] for r in remote] == [x * x for x in range(20)]
    assert {r[0] for r in remote} <= worker_pids and len({r[0] for r in remote}) == 2
    factor = np.arange(1000.0)
    seen = []
    assert parallel.map(scaled, range(5), shared=factor, done=lambda k, n: seen.append(k)) == \
        [scaled(factor, x) for x in range(5)]
    assert sorted(seen) == [1, 2, 3, 4, 5]


def test_map_without_a_cluster_forks_local_processes(monkeypatch):
    monkeypatch.delenv(parallel.SCHEDULER_VARIABLE, raising=False)
    assert parallel.cluster_client() is None
    local = parallel.map(pid_and_square, range(8), workers=2)
    assert [r[1] for r in local] == [x * x for x in range(8)]
    assert os.getpid() not in {r[0] for r in local}
    assert parallel.map(pid_and_square, [3], workers=2) == [(os.getpid(), 9)]


@pytest.fixture(scope="module")
def icecube(tmp_path_factory):
    sys.path.insert(0, str(ICECUBE))
    from icecube_ps import allsky, release, synthetic
    from icecube_ps.likelihood import PointSourceAnalysis

    source = synthetic.Source(ra=150.0, dec=20.0, n_events=60, gamma=2.0)
    folder = synthetic.generate(tmp_path_factory.mktemp("synthetic"), scale=0.02,
                                sources=(source,), seed=7, irf_samples=3000)
    small = release.open_release(folder, "synthetic")
    return allsky, small, PointSourceAnalysis(small)


def test_icecube_ts_map_on_the_cluster_is_bit_identical(icecube, on_cluster):
    allsky, _, analysis = icecube
    with allsky.Pool(analysis) as pool:
        assert pool.workers == 2 and isinstance(pool.executor, distributed.Client)
        remote = allsky.scan_sky(nside=4, pool=pool)
    serial = allsky.scan_sky(analysis, nside=4, workers=1)
    for a, b in ((serial.ts, remote.ts), (serial.ns, remote.ns), (serial.gamma, remote.gamma)):
        assert np.array_equal(a, b, equal_nan=True)


def test_icecube_background_scans_on_the_cluster_are_bit_identical(icecube, on_cluster):
    allsky, small, _ = icecube
    search = allsky.HotspotSearch(max_per_band=1)
    fractions = []
    remote = allsky.background_scans(small, None, 2, 4, search, seed=3,
                                     progress=fractions.append)
    serial = allsky.background_scans(small, None, 2, 4, search, workers=1, seed=3)
    assert remote.hottest.keys() == serial.hottest.keys()
    for band in serial.hottest:
        assert np.array_equal(remote.hottest[band], serial.hottest[band])
    assert fractions[-1] == 1.0 and len(remote.scan_seconds) == 2
