"""What the served tests share: the sources, and the data the server's runs read."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parents[1]
WORKFLOWS = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(WORKFLOWS.parent / "tests"))

SOURCES = {"TXS 0506+056": (77.358, 5.693), "NGC 1068": (40.669, -0.013)}
T1, T2 = "2008-08-04T00:00:00", "2018-07-10T00:00:00"
FERMI = "source-sed"
# Where data fetched for tests stay (as the Fermi-LAT tests keep theirs).
CACHE_ROOT = Path(os.environ.get("ASTROFLOW_TEST_CACHE", Path.home() / ".cache/astroflow-test"))


def icecube_cache() -> Path:
    """The IceCube 3-year cache: the one in $ASTROFLOW_DATA_DIR (or the default store) when
    there, else fetched once into the test cache as `astroflow data fetch icecube` does
    (the flarestack wheel from PyPI); the tests are skipped without it."""
    sys.path.insert(0, str(WORKFLOWS / "icecube"))
    from icecube_ps import data
    from icecube_ps.errors import AnalysisError

    try:
        if data.cache_path(data.default_dir(), "3year").is_file():
            return data.fetch(data.default_dir(), release="3year", log=lambda m: None)
        return data.fetch(CACHE_ROOT / "icecube", release="3year", timeout=10.0,
                          log=lambda m: None)
    except AnalysisError as exc:
        pytest.skip(f"no IceCube 3-year release: {exc}")


def fermi_catalogue() -> list[Path]:
    """The 4FGL-DR4 file and its cache, fetched once into the test cache ([] when the
    workflow is not there or the catalogue cannot be had: Fermi-LAT then is left out)."""
    if not (WORKFLOWS / "fermi-lat" / "fermi_lat" / "data.py").is_file():
        return []
    sys.path.insert(0, str(WORKFLOWS / "fermi-lat"))
    from fermi_lat import data
    from fermi_lat.errors import AnalysisError

    try:
        path = data.fetch(CACHE_ROOT / "fermi-lat", timeout=10.0, log=lambda m: None)
    except AnalysisError:
        return []
    return [path, data.cache_path(path.parent)]


def place(files: list[Path], folder: Path) -> None:
    """Into the server's data dir (the run sandbox reads there, not the store)."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in files:
        try:
            os.link(path, folder / path.name)
        except OSError:
            shutil.copy(path, folder / path.name)
