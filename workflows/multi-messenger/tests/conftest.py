"""A real `astroflow serve` with IceCube (its 3-year release), this service and, when it is
there, Fermi-LAT (the 4FGL-DR4 catalogue), shared by the tests of this folder."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mm_server import WORKFLOWS, fermi_catalogue, icecube_cache, place  # noqa: E402
from server_process import ServerProcess  # noqa: E402

from astroflow.client import Client  # noqa: E402


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    cache = icecube_cache()
    root = tmp_path_factory.mktemp("mm")
    data_dir = root / "data"
    place([cache], data_dir / "icecube" / "3year")
    fermi = fermi_catalogue()
    place(fermi, data_dir / "fermi-lat")
    services = root / "services"
    services.mkdir()
    for name in ("icecube", "multi-messenger") + (("fermi-lat",) if fermi else ()):
        (services / name).symlink_to(WORKFLOWS / name)
    with ServerProcess(data_dir, services=[services], workers=2).running() as proc:
        yield proc


@pytest.fixture(scope="session")
def client(server):
    with Client(server.url, token="") as c:
        yield c


