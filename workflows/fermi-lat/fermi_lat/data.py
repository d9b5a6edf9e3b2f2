"""Data manager: the real 4FGL-DR4 catalogue (``gll_psc_v35.fit``) and its fast cache.

`fetch(dest)` tries, in order:

1. a configured local copy: the `source` argument or env ``FERMI_LAT_CATALOG`` (the
   ``gll_psc_v35.fit`` file itself, or a ``fermipy-1.4.3.tar.gz`` sdist that carries it);
2. the official file at the Fermi Science Support Center (`OFFICIAL_URL`, urllib, timeout);
3. the copy carried by the ``fermipy`` 1.4.3 sdist on PyPI, fetched with
   ``pip download --no-deps --no-binary :all: fermipy==1.4.3`` (never installed, never built)
   and read with tarfile (only that member is extracted).

Every copy is checked against the SHA-256 pinned below (computed once from the real file), so
all three routes give the same bytes. The file lands at ``<dest>/gll_psc_v35.fit`` (``dest`` is
``$ASTROFLOW_DATA_DIR/fermi-lat``; the resolver reads it there too) beside
``gll_psc_v35.npz``, every column of the source table as plain numpy arrays: the services load
that in milliseconds instead of parsing FITS.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .errors import AnalysisError

CATALOG_NAME = "gll_psc_v35.fit"
CATALOG_SHA256 = "e3b3ea278412b7bda4c259ab558f00b76605be59eb84e44086a862a179ffc3e6"
CATALOG_RELEASE = "4FGL-DR4 (gll_psc_v35, 14 years, 2008-08-04 to 2022-08-02)"
OFFICIAL_URL = "https://fermi.gsfc.nasa.gov/ssc/data/access/lat/14yr_catalog/gll_psc_v35.fit"
FERMIPY_REQUIREMENT = "fermipy==1.4.3"
FERMIPY_SDIST = "fermipy-1.4.3.tar.gz"
FERMIPY_MEMBER = "fermipy-1.4.3/fermipy/data/catalogs/gll_psc_v35.fit"
CACHE_NAME = "gll_psc_v35.npz"
CACHE_VERSION = 1
ENV_SOURCE = "FERMI_LAT_CATALOG"
# The eight bands of Flux_Band / nuFnu_Band in 4FGL-DR3 and DR4 (MeV).
BAND_EDGES_MEV = (50, 100, 300, 1000, 3000, 10000, 30000, 100000, 1000000)
Log = Callable[[str], None]


def default_dir() -> Path:
    """`fermi-lat/` in astroflow's data folder (`$ASTROFLOW_DATA_DIR`, else
    `~/.local/share/astroflow`), where the resolver looks for the catalogue too."""
    from astroflow.datadir import default_data_dir

    return default_data_dir() / "fermi-lat"


def catalog_path(dest: Path | None = None) -> Path:
    return (Path(dest) if dest is not None else default_dir()) / CATALOG_NAME


def cache_path(dest: Path | None = None) -> Path:
    return (Path(dest) if dest is not None else default_dir()) / CACHE_NAME


def sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _install(candidate: Path, dest: Path, origin: str) -> Path:
    """Verify `candidate` and move (or copy) it to `dest/gll_psc_v35.fit`; build the cache."""
    digest = sha256(candidate)
    if digest != CATALOG_SHA256:
        raise AnalysisError(f"{origin}: sha256 {digest} is not that of {CATALOG_NAME} "
                            f"({CATALOG_SHA256})")
    dest.mkdir(parents=True, exist_ok=True)
    target = catalog_path(dest)
    partial = target.with_suffix(".fit.partial")
    shutil.copyfile(candidate, partial)
    os.replace(partial, target)
    (dest / "provenance.json").write_text(json.dumps(
        {"file": CATALOG_NAME, "sha256": digest, "from": origin, "release": CATALOG_RELEASE},
        indent=1))
    build_cache(target, cache_path(dest))
    return target


def _from_local(source: Path, dest: Path) -> Path:
    source = Path(source).expanduser()
    if not source.is_file():
        raise AnalysisError(f"configured catalogue path {source} does not exist")
    if tarfile.is_tarfile(source):
        with tempfile.TemporaryDirectory(dir=dest) as tmp:
            return _install(_extract_member(source, Path(tmp)), dest, f"local sdist {source}")
    return _install(source, dest, f"local copy {source}")


def _download_official(dest: Path, timeout: float, log: Log) -> Path:
    with tempfile.TemporaryDirectory(dir=dest) as tmp:
        part = Path(tmp) / CATALOG_NAME
        log(f"downloading {OFFICIAL_URL}")
        request = urllib.request.Request(OFFICIAL_URL, headers={"User-Agent": "astroflow"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as r, open(part, "wb") as f:
                shutil.copyfileobj(r, f)
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            raise AnalysisError(f"{OFFICIAL_URL} unreachable ({exc})") from exc
        return _install(part, dest, OFFICIAL_URL)


def _extract_member(sdist: Path, folder: Path) -> Path:
    with tarfile.open(sdist, "r:gz") as tar:
        try:
            member = tar.getmember(FERMIPY_MEMBER)
        except KeyError:
            raise AnalysisError(f"{sdist.name} holds no {FERMIPY_MEMBER}") from None
        stream = tar.extractfile(member)
        if stream is None:
            raise AnalysisError(f"{FERMIPY_MEMBER} in {sdist.name} is not a file")
        out = folder / CATALOG_NAME
        with stream, open(out, "wb") as f:
            shutil.copyfileobj(stream, f)
    return out


def _download_fermipy(dest: Path, timeout: float, log: Log) -> Path:
    with tempfile.TemporaryDirectory(dir=dest) as tmp:
        log(f"pip download --no-deps --no-binary :all: {FERMIPY_REQUIREMENT} (82 MB)")
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
               "--disable-pip-version-check", "-q",
               FERMIPY_REQUIREMENT, "-d", tmp]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise AnalysisError(f"pip download of {FERMIPY_REQUIREMENT} failed: {exc}") from exc
        sdist = Path(tmp) / FERMIPY_SDIST
        if not sdist.is_file():
            raise AnalysisError(f"pip download of {FERMIPY_REQUIREMENT} failed: "
                                f"{(proc.stderr or proc.stdout).strip()[-400:]}")
        return _install(_extract_member(sdist, Path(tmp)), dest, f"PyPI {FERMIPY_REQUIREMENT}")


def fetch(dest: Path | None = None, source: str | Path | None = None, *,
          timeout: float = 20.0, log: Log = print) -> Path:
    """Make `<dest>/gll_psc_v35.fit` (and its cache) available and return its path.

    A verified copy already there is kept. Raises `AnalysisError` saying what was tried when
    nothing works.
    """
    dest = Path(dest) if dest is not None else default_dir()
    dest.mkdir(parents=True, exist_ok=True)
    target = catalog_path(dest)
    if target.is_file() and sha256(target) == CATALOG_SHA256:
        if not cache_is_current(cache_path(dest)):
            build_cache(target, cache_path(dest))
        return target
    source = source or os.environ.get(ENV_SOURCE)
    steps: list[tuple[str, Callable[[], Path]]] = []
    if source:
        steps.append((f"local copy {source}", lambda: _from_local(Path(source), dest)))
    steps.append(("official FSSC file", lambda: _download_official(dest, timeout, log)))
    steps.append((f"PyPI sdist {FERMIPY_REQUIREMENT}",
                  lambda: _download_fermipy(dest, max(300.0, 10 * timeout), log)))
    from astroflow.registry.data import first_available

    path, tried = first_available(steps, log, (AnalysisError,))
    if path is not None:
        log(f"4FGL-DR4 catalogue ready: {path}")
        return path
    raise AnalysisError("the 4FGL-DR4 catalogue could not be had. Tried:\n  " + "\n  ".join(tried)
                        + f"\nPut {CATALOG_NAME} on disk and pass its path as `source` "
                        f"(or set {ENV_SOURCE}).")


# -- the cache ---------------------------------------------------------------------------------

def build_cache(fits_path: Path, out: Path) -> Path:
    """Every column of the source table as numpy arrays (strings stripped), units and the
    yearly light-curve bin edges, in one uncompressed .npz."""
    from astropy.io import fits

    arrays: dict[str, Any] = {}
    units: dict[str, str] = {}
    with fits.open(fits_path, memmap=False) as hdul:
        table = hdul["LAT_Point_Source_Catalog"]
        for i, col in enumerate(table.columns, start=1):
            values = np.asarray(table.data[col.name])
            if values.dtype.kind in "SU":
                values = np.char.strip(values.astype(str))
            elif values.dtype.byteorder not in "=|":
                values = values.astype(values.dtype.newbyteorder("="))
            arrays["col_" + col.name] = values
            unit = table.header.get(f"TUNIT{i}")
            if unit:
                units[col.name] = unit
        arrays["hist_start_met"] = np.asarray(hdul["Hist_Start"].data["Hist_Start"], float)
        primary = hdul[0].header
        meta = {k: primary.get(k) for k in ("DATE-OBS", "DATE-END", "VERSION", "MJDREFI",
                                            "TSTART", "TSTOP")}
        meta["MJDREFF"] = float(str(primary.get("MJDREFF", "0")).replace("D", "E"))
        meta["ERRUPLIM"] = float(table.header.get("ERRUPLIM", 2.0))
    arrays["band_edges_mev"] = np.array(BAND_EDGES_MEV, float)
    header = {"version": CACHE_VERSION, "sha256": CATALOG_SHA256, "units": units, "meta": meta}
    arrays["header"] = np.array(json.dumps(header))
    partial = out.with_suffix(".partial.npz")
    np.savez(partial, **arrays)
    os.replace(partial, out)
    return out


def cache_is_current(path: Path) -> bool:
    if not path.is_file():
        return False
    try:
        with np.load(path) as z:
            header = json.loads(str(z["header"]))
    except (OSError, ValueError, KeyError):
        return False
    return header.get("version") == CACHE_VERSION and header.get("sha256") == CATALOG_SHA256


def load_arrays(dest: Path | None = None) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """(columns, header) from the cache under `dest`; the cache is rebuilt from the FITS file
    when it is stale. Missing data: `AnalysisError` naming the command that fetches them."""
    dest = Path(dest) if dest is not None else default_dir()
    path = cache_path(dest)
    if not cache_is_current(path):
        fits_file = catalog_path(dest)
        if not fits_file.is_file():
            raise AnalysisError(f"the 4FGL-DR4 catalogue is not under {dest}: run "
                                "`astroflow data fetch fermi-lat` first")
        build_cache(fits_file, path)
    with np.load(path) as z:
        header = json.loads(str(z["header"]))
        columns = {k[4:]: z[k] for k in z.files if k.startswith("col_")}
        header["hist_start_met"] = z["hist_start_met"]
        header["band_edges_mev"] = z["band_edges_mev"]
    return columns, header
