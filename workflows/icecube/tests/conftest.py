"""A small synthetic release, generated once per test session."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from icecube_ps import release, synthetic  # noqa: E402
from icecube_ps.likelihood import PointSourceAnalysis  # noqa: E402

SOURCE = synthetic.Source(ra=150.0, dec=20.0, n_events=60, gamma=2.0)


@pytest.fixture(scope="session")
def source() -> synthetic.Source:
    """The source injected into the small release."""
    return SOURCE


@pytest.fixture(scope="session")
def small_release_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("synthetic10y")
    return synthetic.generate(root, scale=0.05, sources=(SOURCE,), seed=7, irf_samples=10000)


@pytest.fixture(scope="session")
def small_release(small_release_dir: Path) -> release.Release:
    return release.open_release(small_release_dir, "synthetic")


@pytest.fixture(scope="session")
def analysis(small_release: release.Release) -> PointSourceAnalysis:
    return PointSourceAnalysis(small_release)
