"""Shared fixtures of the grb-detection tests: the package and the repository's test helpers
on the import path, and a replay server speaking the SPI-ACS ``genlc`` protocol."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parents[2] / "tests"))

from spiacs_replay import start_replay  # noqa: E402


@pytest.fixture(scope="session")
def spiacs_server():
    url, server = start_replay()
    yield url
    server.shutdown()
    server.server_close()
