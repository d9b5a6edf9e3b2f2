"""The real 4FGL-DR4 catalogue, fetched once into ~/.cache/astroflow-test/fermi-lat."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from astroflow.datadir import preparing

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fermi_lat import data  # noqa: E402
from fermi_lat.catalogue import Catalogue  # noqa: E402
from fermi_lat.errors import AnalysisError  # noqa: E402

CACHE_ROOT = Path(os.environ.get("ASTROFLOW_TEST_CACHE", Path.home() / ".cache/astroflow-test"))


@pytest.fixture(scope="session")
def data_root() -> Path:
    """A data folder holding `fermi-lat/gll_psc_v35.fit` (what $ASTROFLOW_DATA_DIR names)."""
    try:
        with preparing(CACHE_ROOT / "fermi-lat"):  # parallel test workers fetch it once
            data.fetch(CACHE_ROOT / "fermi-lat", timeout=10.0, log=lambda _msg: None)
    except AnalysisError as exc:
        pytest.skip(f"the 4FGL-DR4 catalogue could not be fetched (PyPI and FSSC "
                    f"unreachable?): {exc}")
    return CACHE_ROOT


@pytest.fixture(scope="session")
def catalogue(data_root: Path) -> Catalogue:
    return Catalogue.load(data_root / "fermi-lat")


@pytest.fixture(scope="session")
def fits_table(data_root: Path):
    """The source table read independently, with astropy.io.fits."""
    from astropy.io import fits

    with fits.open(data_root / "fermi-lat" / data.CATALOG_NAME) as hdul:
        return hdul["LAT_Point_Source_Catalog"].data.copy()
