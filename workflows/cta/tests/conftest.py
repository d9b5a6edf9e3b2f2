"""The cta repository's package on sys.path; the real prod5 files when /work/shared has them."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cta_plan.irfs import PROD5_FILES  # noqa: E402

SHARED_PROD5 = Path(os.environ.get("CTA_PROD5_SHARED", "/work/shared/data/cta-prod5-irf"))


@pytest.fixture(scope="session")
def prod5_dir() -> Path:
    """The folder holding the two released prod5 files (skips when absent)."""
    if not all((SHARED_PROD5 / name).is_file() for name in PROD5_FILES.values()):
        pytest.skip(f"the CTAO prod5 IRF files are absent from {SHARED_PROD5}")
    return SHARED_PROD5


@pytest.fixture
def empty_data_root(tmp_path, monkeypatch) -> Path:
    """An $ASTROFLOW_DATA_DIR with no IRF files: the service uses its parametrisation."""
    root = tmp_path / "data"
    (root / "cta").mkdir(parents=True)
    monkeypatch.setenv("ASTROFLOW_DATA_DIR", str(root))
    return root


@pytest.fixture
def prod5_data_root(tmp_path, monkeypatch, prod5_dir) -> Path:
    """An $ASTROFLOW_DATA_DIR holding the prod5 files under cta/."""
    root = tmp_path / "data"
    (root / "cta").mkdir(parents=True)
    for name in PROD5_FILES.values():
        shutil.copyfile(prod5_dir / name, root / "cta" / name)
    monkeypatch.setenv("ASTROFLOW_DATA_DIR", str(root))
    return root


CACHE_ROOT = Path(os.environ.get("ASTROFLOW_TEST_CACHE", Path.home() / ".cache/astroflow-test"))


@pytest.fixture
def catalogue_data_root(tmp_path, monkeypatch) -> Path:
    """An $ASTROFLOW_DATA_DIR with the real 4FGL-DR4 catalogue under fermi-lat/ (the copy the
    fermi-lat tests fetch into the test cache; skips when it is not there) and no IRFs."""
    catalogue = CACHE_ROOT / "fermi-lat" / "gll_psc_v35.fit"
    if not catalogue.is_file():
        pytest.skip(f"the 4FGL-DR4 catalogue is absent from {catalogue.parent} (run the "
                    "fermi-lat tests or `astroflow data fetch fermi-lat` into it)")
    root = tmp_path / "data"
    (root / "cta").mkdir(parents=True)
    (root / "fermi-lat").mkdir()
    (root / "fermi-lat" / catalogue.name).symlink_to(catalogue)
    monkeypatch.setenv("ASTROFLOW_DATA_DIR", str(root))
    return root
