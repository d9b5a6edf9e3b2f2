"""Data step: the public CTAO prod5 IRF files (v0.1, 20 deg, 50 h cuts) for North and South.

Where they come from, in this order:

1. ``source`` (``--source``) or env ``CTA_IRF_SOURCE``: a folder holding the .fits.gz files
   (at any depth), one .fits.gz file, the Zenodo zip (or any zip / tar holding them, also
   nested: the Zenodo zip keeps them in per-site .tar.gz archives), or an http(s)/file URL of
   any of those (downloaded first). Only that source is used: when it lacks a file or a file
   has other bytes, the step fails saying so and installs nothing.
2. with no source: the official Zenodo record 5499840, ``cta-prod5-zenodo-fitsonly-v0.1.zip``
   (downloaded, then only the needed .fits.gz extracted).

Each file is checked against its SHA-256 (pinned below, computed from the released files)
before it lands in ``<dest>/`` (``$ASTROFLOW_DATA_DIR/cta``), where the service finds it.
``release`` picks the site: ``North``, ``South`` or ``all``; by default, the sites the given
source holds (both from Zenodo).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from .errors import AnalysisError
from .irfs import PROD5_FILES, PROD5_LABELS

SHA256 = {
    PROD5_FILES["North"]: "0cc7f502cf8deed7588aeeaf27e2e229efd240ce3ce8a18337b07ec5cadd4584",
    PROD5_FILES["South"]: "c979ebf576c6b275237279525d741fc2f8ece79ad7263a81ec820c321faa7361",
}
ZENODO_URL = ("https://zenodo.org/records/5499840/files/"
              "cta-prod5-zenodo-fitsonly-v0.1.zip")
ENV_SOURCE = "CTA_IRF_SOURCE"
RELEASES = ("all", "North", "South")
ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz")
Log = Callable[[str], object]


def sha256_bytes(stream: IO[bytes]) -> str:
    return hashlib.file_digest(stream, "sha256").hexdigest()


def _wanted(release: str | None) -> list[str]:
    release = release or "all"
    if release not in RELEASES:
        raise AnalysisError(f"release {release!r} is not one of {', '.join(RELEASES)}")
    sites = ("North", "South") if release == "all" else (release,)
    return [PROD5_FILES[s] for s in sites]


def _is_archive(name: str) -> bool:
    return name.lower().endswith(ARCHIVE_SUFFIXES)


def _members(path: Path | None, data: bytes | None, label: str,
             depth: int = 0) -> Iterator[tuple[str, Callable[[], bytes]]]:
    """(base name, reader) of every file in an archive, nested archives opened (two levels)."""
    source = io.BytesIO(data) if data is not None else path
    if zipfile.is_zipfile(source):
        with zipfile.ZipFile(source) as z:
            for info in z.infolist():
                if info.is_dir():
                    continue
                name = Path(info.filename).name
                yield name, (lambda info=info, z=z: z.read(info))
                if depth < 2 and _is_archive(name):
                    yield from _members(None, z.read(info), f"{label}:{info.filename}",
                                        depth + 1)
        return
    try:
        tar = _open_tar(path, data)
    except tarfile.TarError:
        raise AnalysisError(f"{label} is neither a zip nor a tar archive") from None
    with tar:
        for member in tar.getmembers():
            if not member.isfile():
                continue
            name = Path(member.name).name

            def read(member=member) -> bytes:
                stream = tar.extractfile(member)
                return stream.read() if stream is not None else b""
            yield name, read
            if depth < 2 and _is_archive(name):
                yield from _members(None, read(), f"{label}:{member.name}", depth + 1)


def _open_tar(path: Path | None, data: bytes | None) -> tarfile.TarFile:
    if data is not None:
        return tarfile.open(fileobj=io.BytesIO(data))
    return tarfile.open(path)


def _collect(source: Path, wanted: list[str], workdir: Path) -> dict[str, Path]:
    """Copy the wanted files found in `source` (folder, file or archive) into `workdir`."""
    found: dict[str, Path] = {}
    if source.is_dir():
        for name in wanted:
            hits = sorted(source.rglob(name))
            if hits:
                found[name] = hits[0]
        archives = [p for p in sorted(source.rglob("*")) if p.is_file() and _is_archive(p.name)]
        for archive in archives:
            if len(found) == len(wanted):
                break
            found.update({k: v for k, v in _collect(archive, wanted, workdir).items()
                          if k not in found})
        return found
    if not source.is_file():
        raise AnalysisError(f"source {source} does not exist")
    if source.name in wanted:
        return {source.name: source}
    if not _is_archive(source.name) and not zipfile.is_zipfile(source) \
            and not tarfile.is_tarfile(source):
        raise AnalysisError(f"source {source} is not a prod5 IRF file ({', '.join(wanted)}) "
                            "nor an archive holding one")
    for name, read in _members(source, None, str(source)):
        if name in wanted and name not in found:
            out = workdir / name
            out.write_bytes(read())
            found[name] = out
    return found


def _download(url: str, folder: Path, timeout: float, log: Log) -> Path:
    name = Path(urllib.parse.urlparse(url).path).name or "download"
    out = folder / name
    log(f"downloading {url}")
    request = urllib.request.Request(url, headers={"User-Agent": "astroflow"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r, open(out, "wb") as f:
            shutil.copyfileobj(r, f)
    except (urllib.error.URLError, OSError, TimeoutError, ValueError) as exc:
        raise AnalysisError(f"{url} could not be downloaded ({exc})") from exc
    return out


def _verify(files: dict[str, Path], wanted: list[str], origin: str) -> None:
    missing = [n for n in wanted if n not in files]
    if missing:
        raise AnalysisError(f"{origin} holds no {', '.join(missing)}"
                            + (f" (it has {', '.join(sorted(files))})" if files else "")
                            + "; pass --release North or South for one site, or a source "
                            "holding both")
    for name in wanted:
        with open(files[name], "rb") as f:
            digest = sha256_bytes(f)
        if digest != SHA256[name]:
            raise AnalysisError(f"{origin}: {name} has sha256 {digest}, not the released "
                                f"file's {SHA256[name]}: nothing installed")


def _install(files: dict[str, Path], wanted: list[str], dest: Path, origin: str) -> None:
    for name in wanted:
        partial = dest / (name + ".partial")
        shutil.copyfile(files[name], partial)
        os.replace(partial, dest / name)
    provenance = dest / "provenance.json"
    record = json.loads(provenance.read_text()) if provenance.is_file() else {}
    for name in wanted:
        record[name] = {"sha256": SHA256[name], "from": origin}
    provenance.write_text(json.dumps(record, indent=1))


def _present(dest: Path, wanted: list[str]) -> bool:
    for name in wanted:
        path = dest / name
        if not path.is_file():
            return False
        with open(path, "rb") as f:
            if sha256_bytes(f) != SHA256[name]:
                return False
    return True


def fetch(dest: Path | None = None, source: str | Path | None = None,
          release: str | None = None, timeout: float = 20.0, log: Log = print) -> Path:
    """CTAO prod5 v0.1 IRFs (North 4LSTs09MSTs, South 14MSTs37SSTs; 20 deg, 180000 s).

    --source PATH|URL (or env CTA_IRF_SOURCE): a folder with the .fits.gz files, one
    .fits.gz, the Zenodo zip cta-prod5-zenodo-fitsonly-v0.1.zip (or any zip/tar holding
    them, nested archives included), or an http(s)/file URL of one. Only that source is
    used. Without a source the Zenodo record 5499840 zip is downloaded and the two files
    extracted. --release North|South|all (default: the sites the source holds; both from
    Zenodo). Every file is checked against its
    pinned SHA-256; a mismatch installs nothing. Without these files the service uses its
    parametrised IRFs (and says so).
    """
    from .irfs import data_dir

    dest = Path(dest) if dest is not None else data_dir()
    wanted = _wanted(release)
    dest.mkdir(parents=True, exist_ok=True)
    if _present(dest, wanted):
        log(f"prod5 IRFs already present in {dest}")
        return dest
    source = source or os.environ.get(ENV_SOURCE)
    with tempfile.TemporaryDirectory(dir=dest, prefix=".fetch-") as tmp:
        work = Path(tmp)
        if source:
            text = str(source)
            scheme = urllib.parse.urlparse(text).scheme
            origin = text
            local = (_download(text, work, timeout, log) if scheme in ("http", "https", "file")
                     else Path(text).expanduser())
        else:
            origin = ZENODO_URL
            local = _download(ZENODO_URL, work, max(timeout, 600.0), log)
        files = _collect(local, wanted, work)
        if source and release is None and any(n in files for n in wanted):
            absent = [n for n in wanted if n not in files]
            if absent:
                log(f"{origin} holds no {', '.join(absent)}: installing the other site only "
                    "(--release all asks for both)")
            wanted = [n for n in wanted if n in files]
        _verify(files, wanted, origin)
        _install(files, wanted, dest, origin)
    for name in wanted:
        site = next(s for s, f in PROD5_FILES.items() if f == name)
        log(f"{PROD5_LABELS[site]}: {dest / name}")
    return dest
