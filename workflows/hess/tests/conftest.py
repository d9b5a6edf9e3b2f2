"""Shared fixtures of the hess tests: synthetic releases generated once and cached on disk.

A release is cached under ``~/.cache/astroflow-test/hess/`` (or ``$ASTROFLOW_TEST_CACHE``)
in a folder named by the generator version and the parameters, so a new generator version
never reuses an old release and a second test session reuses the first one's.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from astroflow.datadir import preparing

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hess_dl3 import synthetic  # noqa: E402

CACHE_ROOT = Path(os.environ.get("ASTROFLOW_TEST_CACHE", Path.home() / ".cache/astroflow-test"))
REAL_DR1 = Path("/work/shared/data/hess-dl3-dr1")


def cached_release(seed: int, **kwargs) -> Path:
    """A synthetic release for (seed, kwargs), generated once per generator version."""
    key = json.dumps({"seed": seed, **{k: kwargs[k] if not hasattr(kwargs[k], "unit")
                                       else str(kwargs[k]) for k in sorted(kwargs)}},
                     sort_keys=True, default=str)
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    folder = CACHE_ROOT / "hess" / f"synthetic-v{synthetic.GENERATOR_VERSION}-seed{seed}-{digest}"
    with preparing(folder):  # parallel test workers build it once
        if synthetic.existing_parameters(folder) is None:
            synthetic.generate_release(folder, seed=seed, **kwargs)
    return folder


@pytest.fixture(scope="session")
def make_release() -> Callable[..., Path]:
    """Factory: ``make_release(seed, sources=..., n_obs=..., livetime=...)`` → release folder."""
    return cached_release


@pytest.fixture(scope="session")
def synthetic_release() -> Path:
    """The default release (every source, 18 half-hour runs, seed 0: what `make serve`
    prepares offline), shared by the whole session."""
    return cached_release(0)


@pytest.fixture(scope="session")
def data_root(tmp_path_factory, synthetic_release: Path) -> Path:
    """An ASTROFLOW_DATA_DIR whose ``hess/current.json`` points at the synthetic release."""
    from hess_dl3.data import write_current

    root = tmp_path_factory.mktemp("astroflow-data")
    hess = root / "hess"
    hess.mkdir()
    (hess / "synthetic").symlink_to(synthetic_release, target_is_directory=True)
    write_current(hess, "synthetic")
    return root


@pytest.fixture(scope="session")
def real_dr1() -> Path:
    """The real H.E.S.S. DL3 DR1 (read-only copy on this machine), or skip."""
    if not (REAL_DR1 / "obs-index.fits.gz").is_file():
        pytest.skip(f"real H.E.S.S. DL3 DR1 absent ({REAL_DR1})")
    return REAL_DR1
