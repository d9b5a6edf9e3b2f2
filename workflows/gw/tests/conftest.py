"""Shared fixtures of the gw tests: the offline GWOSC mirror built once (cached on disk by its
fingerprint), a replay server over it, and a data folder pointing at it."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from astroflow.datadir import preparing

HERE = Path(__file__).resolve().parent
WORKFLOW = HERE.parent
sys.path.insert(0, str(WORKFLOW))
sys.path.insert(0, str(WORKFLOW.parents[1] / "tests"))

from gw_open import mirror  # noqa: E402
from gw_open.replay import ReplayServer  # noqa: E402

CACHE_ROOT = Path(os.environ.get("ASTROFLOW_TEST_CACHE", Path.home() / ".cache/astroflow-test"))


def extra_routes() -> list:
    """The strain module's lookup routes, when it is installed."""
    try:
        from gw_open.strain_mirror import routes
    except ImportError:
        return []
    return list(routes())


@pytest.fixture(scope="session")
def gw_mirror() -> Path:
    """The mirror `astroflow data fetch gw` builds, made once per mirror fingerprint."""
    key = hashlib.sha256(json.dumps(mirror._fingerprint(), sort_keys=True).encode()).hexdigest()
    folder = CACHE_ROOT / "gw" / f"mirror-{key[:12]}"
    with preparing(folder):  # parallel test workers build it once
        if not mirror.is_current(folder):
            mirror.build(folder, log=lambda message: None)
    return folder


@pytest.fixture(scope="session")
def replay(gw_mirror: Path):
    """``(url, server)`` of a GWOSC API v2 replay of the mirror on 127.0.0.1."""
    server = ReplayServer(gw_mirror, extra_routes=extra_routes())
    url = server.start()
    yield url, server
    server.stop()


@pytest.fixture(scope="session")
def data_root(tmp_path_factory, gw_mirror: Path) -> Path:
    """An ASTROFLOW_DATA_DIR whose ``gw/current.json`` points at a copy of the mirror (runs
    read only their own data folder)."""
    from gw_open.data import fetch

    root = tmp_path_factory.mktemp("astroflow-data")
    shutil.copytree(gw_mirror, root / "gw" / "mirror", symlinks=True)
    fetch(root / "gw", release="mirror", log=lambda message: None)
    return root


@pytest.fixture(autouse=True)
def _no_real_gracedb(monkeypatch, request):
    """Tests stay on 127.0.0.1: the GraceDB fallback is off except where a test serves its
    own GraceDB (test_gracedb)."""
    if request.module.__name__ != "test_gracedb":
        monkeypatch.setenv("GRACEDB_SERVICE_URL", "off")
