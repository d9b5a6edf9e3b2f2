"""Data step of the hess repository: the real H.E.S.S. DL3 DR1, or a synthetic release.

``$ASTROFLOW_DATA_DIR/hess/`` holds ``dr1/`` (the real release, every file checked against
the SHA-256 in ``dr1_manifest.json``), ``synthetic/`` (generated, deterministic from a
seed) and ``current.json``, which names the one the services use and the attribution they
show with their products.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path

from .errors import AnalysisError

ENV_SOURCE = "HESS_DL3_SOURCE"
ENV_BASE_URL = "HESS_DL3_BASE_URL"
MANIFEST = Path(__file__).with_name("dr1_manifest.json")
RELEASES = ("dr1", "synthetic", "auto")
SYNTHETIC_SEED = 0
#: Seconds to wait for the archive in "auto" mode before generating the synthetic release.
PROBE_TIMEOUT = 5.0
DR1_TITLE = "H.E.S.S. DL3 public test data release 1 (DR1, 2018)"
DR1_ATTRIBUTION = ("This work made use of data from the H.E.S.S. DL3 public test data "
                   "release 1 (HESS DL3 DR1, H.E.S.S. collaboration, 2018).")
CURRENT = "current.json"
PROVENANCE = "provenance.json"
Log = Callable[[str], object]


class Unreachable(AnalysisError):
    """The archive could not be contacted at all (as opposed to serving wrong bytes)."""


# -- where the release is ----------------------------------------------------------------------

def default_dir() -> Path:
    """``hess/`` in astroflow's data folder (``$ASTROFLOW_DATA_DIR``)."""
    from astroflow.datadir import default_data_dir

    return default_data_dir() / "hess"


def release_info(dest: Path | None = None) -> dict:
    """The content of ``current.json``: which release the services use and its attribution."""
    dest = Path(dest) if dest is not None else default_dir()
    try:
        return json.loads((dest / CURRENT).read_text())
    except FileNotFoundError:
        raise AnalysisError(f"no H.E.S.S. release in {dest} (no {CURRENT}); "
                            "run `astroflow data fetch hess`") from None
    except (OSError, ValueError) as exc:
        raise AnalysisError(f"{dest / CURRENT} is unreadable ({exc}); "
                            "run `astroflow data fetch hess`") from exc


def release_dir(dest: Path | None = None) -> Path:
    """The folder of the current release (holding obs-index.fits.gz)."""
    dest = Path(dest) if dest is not None else default_dir()
    folder = dest / release_info(dest)["path"]
    if not (folder / "obs-index.fits.gz").is_file():
        raise AnalysisError(f"the current H.E.S.S. release {folder} holds no obs-index.fits.gz;"
                            " run `astroflow data fetch hess`")
    return folder


def write_current(dest: Path, release: str, seed: int | None = None) -> dict:
    """Point ``current.json`` at ``dest/<release>`` (written atomically)."""
    if release == "dr1":
        info = {"release": "dr1", "path": "dr1", "title": DR1_TITLE,
                "attribution": DR1_ATTRIBUTION, "seed": None}
    else:
        from .synthetic import GENERATOR_VERSION, existing_parameters

        params = existing_parameters(dest / "synthetic") or {}
        seed = params.get("seed", seed)
        version = params.get("generator_version", GENERATOR_VERSION)
        info = {"release": "synthetic", "path": "synthetic",
                "title": "Synthetic H.E.S.S.-like DL3 release (simulated, not real data)",
                "attribution": (f"Synthetic data: simulated with astroflow's hess_dl3.synthetic "
                                f"generator version {version}, seed {seed} (gammapy IRFs and "
                                "event sampler); not H.E.S.S. observations."),
                "seed": seed}
    partial = dest / (CURRENT + ".partial")
    partial.write_text(json.dumps(info, indent=1) + "\n")
    partial.replace(dest / CURRENT)
    return info


# -- the manifest ------------------------------------------------------------------------------

def load_manifest(path: Path | None = None) -> dict:
    """DR1's manifest: ``{"files": {relative path: {"sha256", "size"}}, "base_url": ...}``."""
    path = Path(path) if path is not None else MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise AnalysisError(f"manifest {path} is unreadable ({exc})") from exc
    if not manifest.get("files"):
        raise AnalysisError(f"manifest {path} lists no files")
    return manifest


def sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def check_file(path: Path, name: str, entry: dict, origin: str) -> None:
    """Raise AnalysisError naming the file when its size or SHA-256 is not DR1's."""
    size = path.stat().st_size
    if size != entry["size"]:
        raise AnalysisError(f"{name} from {origin} has {size} bytes, DR1's has {entry['size']}"
                            " (truncated or not the DR1 file); nothing was installed")
    digest = sha256(path)
    if digest != entry["sha256"]:
        raise AnalysisError(f"{name} from {origin}: checksum mismatch (sha256 {digest}, DR1's "
                            f"is {entry['sha256']}); nothing was installed")


def _installed(folder: Path, manifest: dict) -> bool:
    """Whether `folder` holds a complete copy installed from this manifest (sizes checked)."""
    try:
        provenance = json.loads((folder / PROVENANCE).read_text())
    except (OSError, ValueError):
        return False
    if provenance.get("files") != sorted(manifest["files"]):
        return False
    return all((folder / name).is_file() and (folder / name).stat().st_size == entry["size"]
               for name, entry in manifest["files"].items())


# -- installing DR1 ----------------------------------------------------------------------------

def _install(staging: Path, dest: Path, manifest: dict, origin: str) -> Path:
    """Move a verified staging folder to ``dest/dr1`` (replacing an older copy)."""
    (staging / PROVENANCE).write_text(json.dumps(
        {"release": "dr1", "from": origin, "files": sorted(manifest["files"])}, indent=1))
    target = dest / "dr1"
    if target.exists():
        old = Path(tempfile.mkdtemp(dir=dest, prefix=".dr1.old."))
        target.rename(old / "dr1")
        staging.rename(target)
        shutil.rmtree(old)
    else:
        staging.rename(target)
    return target


def find_release_folder(root: Path, manifest: dict) -> Path:
    """The folder under `root` (itself, or up to three levels down) that holds DR1's
    obs-index: `root` may be the release folder or e.g. a gammapy-data checkout."""
    names = sorted(manifest["files"])
    index = "obs-index.fits.gz" if "obs-index.fits.gz" in names else names[0]
    candidates = [root] + sorted(p for depth in ("*", "*/*", "*/*/*")
                                 for p in root.glob(depth) if p.is_dir())
    for folder in candidates:
        if (folder / index).is_file():
            return folder
    held = ", ".join(sorted(p.name for p in root.iterdir())[:8]) if root.is_dir() else ""
    raise AnalysisError(f"source {root} holds no H.E.S.S. DL3 DR1 ({index} not found in it "
                        f"or in its sub-folders; it holds: {held or 'nothing'})")


def _copy_verified(folder: Path, dest: Path, manifest: dict, origin: str) -> Path:
    """Copy every manifest file from `folder` into a staging folder, checking each."""
    missing = [n for n in manifest["files"] if not (folder / n).is_file()]
    if missing:
        raise AnalysisError(f"source {origin} lacks {len(missing)} of DR1's "
                            f"{len(manifest['files'])} files (e.g. {missing[0]}); "
                            "nothing was installed")
    staging = Path(tempfile.mkdtemp(dir=dest, prefix=".dr1.partial."))
    try:
        for name, entry in manifest["files"].items():
            check_file(folder / name, name, entry, origin)
            (staging / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(folder / name, staging / name)
        return _install(staging, dest, manifest, origin)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _extract(archive: Path, into: Path) -> None:
    """Unpack a .tar.gz/.tgz/.tar or .zip, refusing members that leave the folder."""
    into = into.resolve()
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as z:
            for name in z.namelist():
                if not (into / name).resolve().is_relative_to(into):
                    raise AnalysisError(f"{archive.name}: member {name} leaves the archive")
            z.extractall(into)
    elif tarfile.is_tarfile(archive):
        with tarfile.open(archive) as t:
            t.extractall(into, filter="data")
    else:
        raise AnalysisError(f"source {archive} is neither a folder nor a .tar.gz/.zip archive")


def _from_local(source: Path, dest: Path, manifest: dict) -> Path:
    source = source.expanduser()
    if not source.exists():
        raise AnalysisError(f"source {source} does not exist")
    if source.is_dir():
        return _copy_verified(find_release_folder(source, manifest), dest, manifest,
                              str(source))
    with tempfile.TemporaryDirectory(dir=dest, prefix=".dr1.unpack.") as tmp:
        _extract(source, Path(tmp))
        return _copy_verified(find_release_folder(Path(tmp), manifest), dest, manifest,
                              str(source))


def _download(url: str, path: Path, timeout: float) -> None:
    """`url` to `path` through ``path.partial`` (renamed only once complete)."""
    partial = path.with_name(path.name + ".partial")
    request = urllib.request.Request(url, headers={"User-Agent": "astroflow"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r, open(partial, "wb") as f:
            shutil.copyfileobj(r, f)
    except urllib.error.HTTPError as exc:
        partial.unlink(missing_ok=True)
        raise AnalysisError(f"{url}: HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        partial.unlink(missing_ok=True)
        raise Unreachable(f"{url} unreachable ({getattr(exc, 'reason', exc)})") from exc
    partial.replace(path)


def _from_base_url(base_url: str, dest: Path, manifest: dict, timeout: float,
                   log: Log) -> Path:
    """DR1 file by file from `base_url`, each checked; installed only when all are."""
    base_url = base_url.rstrip("/") + "/"
    total = sum(e["size"] for e in manifest["files"].values())
    staging = Path(tempfile.mkdtemp(dir=dest, prefix=".dr1.partial."))
    try:
        for i, (name, entry) in enumerate(manifest["files"].items()):
            target = staging / name
            target.parent.mkdir(parents=True, exist_ok=True)
            url = urllib.parse.urljoin(base_url, urllib.parse.quote(name))
            try:
                _download(url, target, timeout)
            except Unreachable:
                raise
            except AnalysisError as exc:
                if i == 0:  # a proxy's refusal or a moved archive: not DR1 from here
                    raise Unreachable(str(exc)) from exc
                raise
            check_file(target, name, entry, url)
            if i == 0:  # said once the archive answers
                log(f"downloading H.E.S.S. DL3 DR1 ({len(manifest['files'])} files, "
                    f"{total / 1e6:.0f} MB) from {base_url}")
        return _install(staging, dest, manifest, base_url)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _from_url(url: str, dest: Path, manifest: dict, timeout: float, log: Log) -> Path:
    path = urllib.parse.urlparse(url).path
    if not path.endswith((".tar.gz", ".tgz", ".tar", ".zip")):
        return _from_base_url(url, dest, manifest, timeout, log)
    with tempfile.TemporaryDirectory(dir=dest, prefix=".dr1.download.") as tmp:
        archive = Path(tmp) / Path(path).name
        log(f"downloading {url}")
        _download(url, archive, timeout)
        return _from_local(archive, dest, manifest)


def fetch_dr1(dest: Path, source: str | None = None, *, timeout: float = 20.0,
              log: Log = print, manifest: Path | None = None) -> Path:
    """Install DR1 into ``dest/dr1`` from `source` (folder, archive or URL) or the archive."""
    dest.mkdir(parents=True, exist_ok=True)
    files = load_manifest(manifest)
    if source:
        text = str(source)
        if urllib.parse.urlparse(text).scheme in ("http", "https", "file"):
            return _from_url(text, dest, files, timeout, log)
        return _from_local(Path(text), dest, files)
    if _installed(dest / "dr1", files):
        return dest / "dr1"
    base_url = os.environ.get(ENV_BASE_URL) or files["base_url"]
    return _from_base_url(base_url, dest, files, timeout, log)


# -- the synthetic release ---------------------------------------------------------------------

def fetch_synthetic(dest: Path, seed: int = SYNTHETIC_SEED, log: Log = print) -> Path:
    """``dest/synthetic`` from the generator (kept when the same version and seed made it)."""
    from . import synthetic

    folder = dest / "synthetic"
    wanted = synthetic.release_parameters(seed, synthetic.ALL_SOURCES,
                                          synthetic.DEFAULT_RUNS, synthetic.DEFAULT_LIVETIME)
    if synthetic.existing_parameters(folder) == wanted:
        return folder
    log(f"generating the synthetic H.E.S.S. release (seed {seed}) in {folder}")
    return synthetic.generate_release(folder, seed=seed)


# -- the data step -----------------------------------------------------------------------------

def fetch(dest: Path, source: str | None = None, release: str | None = None,
          timeout: float = 20.0, log: Log = print, manifest: Path | None = None) -> Path:
    """H.E.S.S. DL3 data for the hess services, in DIR/hess.

    --release dr1: the real H.E.S.S. DL3 DR1 (public test release, 2018; 105 runs, 62 MB)
    from --source (or $HESS_DL3_SOURCE): a folder holding obs-index.fits.gz or any parent of
    it (e.g. a gammapy-data checkout), a .tar.gz/.zip of it, or an http(s)/file URL; without
    a source, downloaded file by file from the gammapy-data copy on GitHub ($HESS_DL3_BASE_URL
    overrides the address). Every file is checked against the SHA-256 of DR1's manifest.
    --release synthetic: a simulated H.E.S.S.-like release in DR1's layout (Crab-like,
    PKS 2155-304-like flaring, extended source, empty fields; seed 0), made offline.
    --release auto (default): with a source, DR1 from it (never a fallback); without one,
    DR1 if the archive answers, else the synthetic release (it says so).
    DIR/hess/current.json names the release the services use and its attribution.
    """
    dest = Path(dest)
    release = (release or "auto").lower()
    if release not in RELEASES:
        raise AnalysisError(f"release {release!r} is not one of {', '.join(RELEASES)}")
    dest.mkdir(parents=True, exist_ok=True)
    source = source or os.environ.get(ENV_SOURCE) or None
    if release == "synthetic":
        if source:
            raise AnalysisError(f"source {source} is for the real DR1; the synthetic release is "
                                "generated (drop --source, or use --release dr1)")
        folder = fetch_synthetic(dest, log=log)
        write_current(dest, "synthetic")
    elif release == "dr1" or source:
        try:
            folder = fetch_dr1(dest, source, timeout=timeout, log=log, manifest=manifest)
        except Unreachable as exc:
            raise AnalysisError(f"{exc}. Put DR1 on disk and pass it as --source (or set "
                                f"{ENV_SOURCE}), or use --release synthetic") from exc
        write_current(dest, "dr1")
    else:
        try:
            folder = fetch_dr1(dest, None, timeout=min(timeout, PROBE_TIMEOUT), log=log,
                               manifest=manifest)
            write_current(dest, "dr1")
        except Unreachable as exc:
            log(f"H.E.S.S. DL3 DR1 unreachable ({exc}); using the synthetic release instead")
            folder = fetch_synthetic(dest, log=log)
            write_current(dest, "synthetic")
    log(f"{release_info(dest)['title']}: {folder}")
    return folder
