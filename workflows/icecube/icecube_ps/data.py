"""Data manager: make a public IceCube release available as a binary cache.

`fetch(dest)` tries, in order:

1. a configured local copy: the `source` argument or env `ICECUBE_PS_SOURCE` (a directory
   in the 10-year layout, the 3-year release as a directory or zip, or a flarestack wheel);
2. the official 10-year release (`OFFICIAL_URLS`, downloaded with urllib);
3. the real 3-year release carried by the `flarestack` wheel on PyPI, fetched with
   `pip download --no-deps flarestack==2.4.10` (never installed) and read from the wheel.

Downloads are verified by sha256 (the wheel and the 3-year zip inside it have known
hashes; for the official zip, which has no published hash we know of, the hash of the first
download is recorded in `manifest.json` and checked on every later use). Each release is
converted once to `<dest>/<release>/icecube_ps_cache.npz`; `load()` reads that cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path

from . import release as rel
from .errors import AnalysisError

OFFICIAL_URLS = (
    "https://icecube.wisc.edu/data-releases/20210126_PS-IC40-IC86_VII.zip",
    "https://dataverse.harvard.edu/api/access/datafile/:persistentId"
    "?persistentId=doi:10.7910/DVN/VKL316",
)
FLARESTACK_REQUIREMENT = "flarestack==2.4.10"
FLARESTACK_WHEEL = "flarestack-2.4.10-py3-none-any.whl"
FLARESTACK_WHEEL_SHA256 = "174955983d941c8f3403496d56a7e9f996789f8e46873ebcc3819a29afd6f381"
THREE_YEAR_ZIP_SHA256 = "c22f92b6d17824bc586261f3c3cae0ab4833bd39decda4c44b1de38545d667ab"
RELEASES = ("10year", "3year", "synthetic")
Log = Callable[[str], None]


def default_dir() -> Path:
    """`icecube/` in astroflow's data folder (`$ASTROFLOW_DATA_DIR`, else
    `~/.local/share/astroflow`)."""
    from astroflow.datadir import default_data_dir

    return default_data_dir() / "icecube"


def sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def cache_path(dest: Path, release: str) -> Path:
    return Path(dest) / release / rel.CACHE_NAME


def _convert(release: rel.Release, dest: Path, name: str, provenance: dict) -> Path:
    out = cache_path(dest, name)
    release.name = name
    release.meta = {**release.meta, "provenance": provenance}
    rel.save_cache(rel.prepare(release), out)
    return out


def _from_local(source: Path, dest: Path) -> Path:
    from . import threeyear  # (scipy: imported only when a release is converted)

    source = Path(source).expanduser()
    if source.is_dir() and (source / "events").is_dir():
        return _convert(rel.read_10year(source), dest, "10year", {"local": str(source)})
    if source.exists():
        return _convert(threeyear.read_3year(source), dest, "3year", {"local": str(source)})
    raise AnalysisError(f"configured IceCube data path {source} does not exist")


def _download_official(dest: Path, timeout: float, log: Log) -> Path:
    target = Path(dest) / "10year"
    target.mkdir(parents=True, exist_ok=True)
    archive = target / "20210126_PS-IC40-IC86_VII.zip"
    errors = []
    for url in OFFICIAL_URLS:
        try:
            log(f"downloading {url}")
            with urllib.request.urlopen(url, timeout=timeout) as r, open(archive, "wb") as f:
                shutil.copyfileobj(r, f)
            break
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            errors.append(f"{url}: {exc}")
    else:
        raise AnalysisError("official release unreachable: " + "; ".join(errors))
    digest = sha256(archive)
    manifest = target / "manifest.json"
    if manifest.is_file():
        known = json.loads(manifest.read_text()).get("sha256")
        if known and known != digest:
            raise AnalysisError(f"{archive}: sha256 {digest} differs from the recorded {known}")
    manifest.write_text(json.dumps({"url": url, "sha256": digest}, indent=1))
    with zipfile.ZipFile(archive) as z:
        z.extractall(target / "raw")
    roots = [p.parent.parent for p in (target / "raw").rglob("events/IC86_I_exp.csv")]
    if not roots:
        raise AnalysisError(f"{archive} does not hold the 10-year layout")
    return _convert(rel.read_10year(roots[0]), dest, "10year", {"url": url, "sha256": digest})


def _download_flarestack(dest: Path, timeout: float, log: Log) -> Path:
    target = Path(dest) / "3year"
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target) as tmp:
        log(f"pip download --no-deps {FLARESTACK_REQUIREMENT}")
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "-q", FLARESTACK_REQUIREMENT, "-d", tmp]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise AnalysisError(f"pip download of {FLARESTACK_REQUIREMENT} failed: {exc}") from exc
        wheel = Path(tmp) / FLARESTACK_WHEEL
        if proc.returncode != 0 or not wheel.is_file():
            raise AnalysisError(f"pip download of {FLARESTACK_REQUIREMENT} failed: "
                                f"{proc.stderr.strip()[-400:]}")
        return _from_wheel(wheel, dest)


def _from_wheel(wheel: Path, dest: Path) -> Path:
    """Verify the wheel, keep only the 3-year zip it carries, convert it."""
    from . import threeyear

    digest = sha256(wheel)
    if digest != FLARESTACK_WHEEL_SHA256:
        raise AnalysisError(f"{wheel.name}: sha256 {digest} is not the expected one")
    target = Path(dest) / "3year"
    target.mkdir(parents=True, exist_ok=True)
    inner = target / "3year-data-release.zip"
    with zipfile.ZipFile(wheel) as z, open(inner, "wb") as f:
        f.write(z.read(threeyear.INNER_ZIP))
    if sha256(inner) != THREE_YEAR_ZIP_SHA256:
        inner.unlink()
        raise AnalysisError("3-year release inside the flarestack wheel: unexpected sha256")
    return _convert(threeyear.read_3year(inner), dest, "3year",
                    {"pypi": FLARESTACK_REQUIREMENT, "wheel_sha256": digest,
                     "zip_sha256": THREE_YEAR_ZIP_SHA256})


def fetch(dest: Path | None = None, source: str | Path | None = None, *,
          release: str = "any", timeout: float = 20.0, log: Log = print) -> Path:
    """Make a release available under `dest` and return the path of its binary cache.

    `release`: "10year", "3year" or "any" (the first that can be had). An existing cache is
    returned at once. Raises `AnalysisError` saying what was tried when nothing works.
    """
    dest = Path(dest) if dest is not None else default_dir()
    wanted = ("10year", "3year") if release == "any" else (release,)
    for name in wanted:
        if cache_path(dest, name).is_file() and rel.cache_is_current(cache_path(dest, name)):
            return cache_path(dest, name)
    source = source or os.environ.get("ICECUBE_PS_SOURCE")
    steps: list[tuple[str, Callable[[], Path]]] = []
    if source:
        steps.append((f"local copy {source}", lambda: _from_local(Path(source), dest)))
    if "10year" in wanted:
        steps.append(("official 10-year release", lambda: _download_official(dest, timeout, log)))
    if "3year" in wanted:
        steps.append((f"3-year release from PyPI {FLARESTACK_REQUIREMENT}",
                      lambda: _download_flarestack(dest, 10 * timeout, log)))
    from astroflow.registry.data import first_available

    path, tried = first_available(
        steps, log, (AnalysisError,),
        accept=lambda p: None if p.parent.name in wanted
        else f"gave the {p.parent.name} release, not {release}")
    if path is not None:
        log(f"IceCube data ready: {path}")
        return path
    raise AnalysisError("no IceCube data could be had. Tried:\n  " + "\n  ".join(tried)
                        + "\nPut a copy of the release on disk and pass its path as `source` "
                        "(or set ICECUBE_PS_SOURCE).")


def load(release: str = "3year", dest: Path | None = None, fetch_missing: bool = True,
         log: Log = print) -> rel.Release:
    """The release from its cache; "synthetic" is generated on first use (full size)."""
    if release not in RELEASES:
        raise AnalysisError(f"unknown data release {release!r}; choose one of {RELEASES}")
    dest = Path(dest) if dest is not None else default_dir()
    path = cache_path(dest, release)
    if not (path.is_file() and rel.cache_is_current(path)):
        if release == "synthetic":
            from . import synthetic

            root = dest / "synthetic"
            log("generating the synthetic 10-year-layout release (about 10 s, once)")
            synthetic.generate(root, scale=1.0, seed=2021)
            rel.save_cache(rel.prepare(rel.read_10year(root, "synthetic")), path)
        elif fetch_missing:
            path = fetch(dest, release=release, log=log)
        else:
            raise AnalysisError(f"no {release} IceCube data under {dest}; run "
                                "`astroflow data fetch icecube` first")
    return rel.load_current(path)
