"""Data manager: make a public IceCube release available as a binary cache.

`fetch(dest, source)` with a source (the `source` argument, `astroflow data fetch icecube
--source`, or env `ICECUBE_PS_SOURCE`) uses that source and nothing else. It may be a path or
an http/https/file URL (downloaded with urllib into `<dest>/downloads/` first) of:

* the 10-year release: the official zip `20210126_PS-IC40-IC86_VII.zip`, the folder holding
  `icecube_10year_ps/` (what SkyLLH takes), or that folder itself (any folder that has
  `events/IC*_exp.csv`, found at most `MAX_DEPTH` folders below the source);
* the 3-year release as its folder or zip, or the flarestack wheel that carries it.

The release found, and its seasons, are logged. A source that holds no release, or not the
one asked for (`release`), is an `AnalysisError` naming the path, what was looked for and
what is there: never another release in its place. Without a source `fetch` tries, in order:

1. the official 10-year release (`OFFICIAL_URLS`, downloaded with urllib);
2. the real 3-year release carried by the `flarestack` wheel on PyPI, fetched with
   `pip download --no-deps flarestack==2.4.10` (never installed) and read from the wheel.

Downloads are verified by sha256 (the wheel and the 3-year zip inside it have known
hashes; for the official zip, which has no published hash we know of, the hash of the first
download is recorded in `manifest.json` and checked on every later use). Each release is
converted once to `<dest>/<release>/icecube_ps_cache.npz`; `load()` reads that cache.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from . import layout
from . import release as rel
from .errors import AnalysisError

_log = logging.getLogger(__name__)

OFFICIAL_URLS = (
    "https://icecube.wisc.edu/data-releases/20210126_PS-IC40-IC86_VII.zip",
    "https://dataverse.harvard.edu/api/access/datafile/:persistentId"
    "?persistentId=doi:10.7910/DVN/VKL316",
)
OFFICIAL_ZIP = "20210126_PS-IC40-IC86_VII.zip"
FLARESTACK_REQUIREMENT = "flarestack==2.4.10"
FLARESTACK_WHEEL = "flarestack-2.4.10-py3-none-any.whl"
FLARESTACK_WHEEL_SHA256 = "174955983d941c8f3403496d56a7e9f996789f8e46873ebcc3819a29afd6f381"
THREE_YEAR_ZIP_SHA256 = "c22f92b6d17824bc586261f3c3cae0ab4833bd39decda4c44b1de38545d667ab"
RELEASES = ("10year", "3year", "synthetic")
FETCHABLE = ("10year", "3year")      # what `fetch` can give; "any": the first of these
ENV_SOURCE = "ICECUBE_PS_SOURCE"
URL_SCHEMES = ("http", "https", "file")
MAX_DEPTH = 3                        # folders below a source searched for a release
MAX_FOLDERS = 5000                   # ... and at most this many folders looked into
TITLES = {"10year": "10-year release", "3year": "3-year release"}
LOOKED_FOR = {
    "10year": "events/IC*_exp.csv (the 10-year layout: IC40 ... IC86_VII)",
    "3year": "<season>-events.txt of the 3-year release "
             f"({', '.join(layout.THREE_YEAR_SEASONS)}) or the flarestack wheel",
}
HOW_TO_FETCH = {
    "10year": "astroflow data fetch icecube --release 10year --source PATH|URL (PATH: the "
              f"official {OFFICIAL_ZIP}, or the folder holding icecube_10year_ps/)",
    "3year": "astroflow data fetch icecube --release 3year (the 3-year release from PyPI's "
             "flarestack wheel; or --source PATH|URL of a copy)",
    "auto": "astroflow data fetch icecube --source PATH|URL (or without --source: the "
            "official 10-year archive, else the 3-year release from PyPI)",
    "any": "astroflow data fetch icecube --source PATH|URL (PATH: the official "
           f"{OFFICIAL_ZIP}, the folder holding icecube_10year_ps/, or the 3-year release)",
}
_EVENTS_MEMBER = re.compile(rf"^((?:[^/]+/){{0,{MAX_DEPTH}}})events/(IC[^/]*)_exp\.csv$")
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


def available(dest: Path | None = None) -> list[str]:
    """The releases whose current cache is under `dest` (in `RELEASES` order)."""
    dest = Path(dest) if dest is not None else default_dir()
    return [r for r in RELEASES
            if cache_path(dest, r).is_file() and rel.cache_is_current(cache_path(dest, r))]


def _provenance(cache: Path) -> dict:
    """The provenance recorded in a cache's header ({} if it cannot be read)."""
    try:
        import numpy as np

        with np.load(cache) as z:
            return json.loads(bytes(z["header"]).decode()).get("meta", {}).get("provenance", {})
    except (OSError, ValueError, KeyError):
        return {}


def _convert(release: rel.Release, dest: Path, name: str, provenance: dict) -> Path:
    out = cache_path(dest, name)
    release.name = name
    release.meta = {**release.meta, "provenance": provenance}
    rel.save_cache(rel.prepare(release), out)
    return out


# -- finding a release in a source ---------------------------------------------------------------

@dataclass
class Found:
    """A release found in a source: which, where (a folder, or a zip and the folder in it)."""

    release: str                # "10year" or "3year"
    source: Path                # the file or folder given
    root: Path                  # the folder holding it (a folder source), else the zip itself
    member: str = ""            # a 10-year zip: the folder inside it ("icecube_10year_ps/")
    seasons: tuple[str, ...] = ()

    @property
    def where(self) -> str:
        return f"{self.root} ({self.member or 'top level'})" if self.root.is_file() \
            else str(self.root)


def is_url(source: str | Path) -> bool:
    return isinstance(source, str) and urllib.parse.urlsplit(source).scheme in URL_SCHEMES


def _folders(top: Path) -> Iterator[tuple[Path, int]]:
    """`top` and the folders below it, breadth first, at most `MAX_DEPTH` deep (symbolic
    links followed: the depth bounds any loop), hidden and `__MACOSX` folders skipped."""
    queue, seen = deque([(top, 0)]), 0
    while queue:
        folder, depth = queue.popleft()
        yield folder, depth
        if depth >= MAX_DEPTH or seen > MAX_FOLDERS:
            continue
        try:
            children = sorted(p for p in folder.iterdir() if p.is_dir()
                              and not p.name.startswith(".") and p.name != "__MACOSX")
        except OSError:
            continue
        seen += len(children)
        queue.extend((c, depth + 1) for c in children)


def _seasons_10year(names: set[str]) -> tuple[str, ...]:
    return tuple(s for s in layout.SEASONS_10YEAR if s in names)


def _locate_folder(top: Path) -> list[Found]:
    found: dict[str, Found] = {}
    for folder, _ in _folders(top):
        events = folder / "events"
        if "10year" not in found and folder.name != "events" and events.is_dir():
            names = {p.name[:-len("_exp.csv")] for p in events.glob("IC*_exp.csv")}
            if names:
                found["10year"] = Found("10year", top, folder, seasons=_seasons_10year(names))
        if "3year" not in found:
            seasons = tuple(s for s in layout.THREE_YEAR_SEASONS
                            if (folder / f"{s}-events.txt").is_file())
            if seasons:
                found["3year"] = Found("3year", top, folder, seasons=seasons)
        if len(found) == 2:
            break
    return list(found.values())


def _locate_zip(path: Path) -> list[Found]:
    from . import threeyear

    with zipfile.ZipFile(path) as z:
        names = [n for n in z.namelist() if "__MACOSX" not in n]
    if threeyear.INNER_ZIP in names:
        return [Found("3year", path, path, threeyear.INNER_ZIP.rpartition("/")[2],
                      layout.THREE_YEAR_SEASONS)]
    found: list[Found] = []
    prefixes: dict[str, set[str]] = {}
    for name in names:
        m = _EVENTS_MEMBER.match(name)
        if m:
            prefixes.setdefault(m.group(1), set()).add(m.group(2))
    if prefixes:  # the shallowest folder holding events/ (then the one with most seasons)
        member = min(prefixes, key=lambda p: (p.count("/"), -len(prefixes[p]), p))
        found.append(Found("10year", path, path, member, _seasons_10year(prefixes[member])))
    events = {n.rsplit("/", 1)[-1]: n for n in names if n.count("/") <= MAX_DEPTH}
    hits = [events[f"{s}-events.txt"] for s in layout.THREE_YEAR_SEASONS
            if f"{s}-events.txt" in events]
    if hits:
        seasons = tuple(s for s in layout.THREE_YEAR_SEASONS if f"{s}-events.txt" in events)
        found.append(Found("3year", path, path, hits[0].rpartition("/")[0] + "/"
                           if "/" in hits[0] else "", seasons))
    return found


def locate(source: Path) -> list[Found]:
    """The releases in `source` (a folder or a zip), the 10-year one first."""
    source = Path(source)
    if source.is_dir():
        found = _locate_folder(source)
    elif zipfile.is_zipfile(source):
        try:
            found = _locate_zip(source)
        except (zipfile.BadZipFile, OSError) as exc:
            raise AnalysisError(f"{source}: cannot read the zip ({exc})") from exc
    else:
        found = []
    return sorted(found, key=lambda f: FETCHABLE.index(f.release))


def describe(source: Path, limit: int = 8) -> str:
    """What is at `source`, in a few words, for error messages."""
    source = Path(source)
    if source.is_dir():
        try:
            entries = sorted(source.iterdir())
        except OSError as exc:
            return f"a folder that cannot be read ({exc})"
        if not entries:
            return "an empty folder"
        shown = [p.name + ("/" if p.is_dir() else "") for p in entries[:limit]]
        more = f", ... ({len(entries)} entries)" if len(entries) > limit else ""
        hint = ("; an archive in it is read when given itself as the source"
                if any(p.suffix in (".zip", ".whl") for p in entries) else "")
        return f"a folder holding {', '.join(shown)}{more}{hint}"
    if zipfile.is_zipfile(source):
        with zipfile.ZipFile(source) as z:
            names = [n for n in z.namelist() if "__MACOSX" not in n]
        shown = ", ".join(names[:limit]) + (", ..." if len(names) > limit else "")
        return f"a zip of {len(names)} entries ({shown})" if names else "an empty zip"
    return f"a file of {source.stat().st_size} bytes that is neither a folder nor a zip"


def _choose(source: Path, release: str, label: str) -> Found:
    """The release `release` ("any": the first) in `source`, else a clear `AnalysisError`."""
    if not source.exists():
        raise AnalysisError(f"the IceCube data source {label} does not exist")
    found = locate(source)
    wanted = FETCHABLE if release == "any" else (release,)
    for f in found:
        if f.release in wanted:
            return f
    if release == "any":
        looked = f"{LOOKED_FOR['10year']} and the {LOOKED_FOR['3year']}"
    else:
        looked = LOOKED_FOR[release]
    looked += (f", in the zip at most {MAX_DEPTH} folders deep" if source.is_file()
               else f", in it and up to {MAX_DEPTH} folders below")
    if found:  # another release than the one asked for
        other = found[0]
        raise AnalysisError(
            f"{label} holds the {TITLES[other.release]} (seasons {', '.join(other.seasons)}; "
            f"in {other.where}), not the {TITLES[release]} asked for (looked for {looked}). "
            f"Ask for --release {other.release} (or any) to use it, or give a source of the "
            f"{TITLES[release]}: {HOW_TO_FETCH[release]}")
    what = "release" if release == "any" else TITLES[release]
    raise AnalysisError(f"{label} holds no IceCube {what}: looked for {looked}; "
                        f"found {describe(source)}")


def _fingerprint(found: Found) -> str:
    """Names, sizes and times of the files a release is read from: a changed copy is
    converted again, an unchanged one is not."""
    if found.root.is_file():
        files = [found.root]
    elif found.release == "10year":
        files = sorted(p for sub in ("events", "uptime", "irfs")
                       for p in (found.root / sub).glob("*") if p.is_file())
    else:
        files = sorted(found.root.rglob("*.txt"))
    h = hashlib.sha256()
    for p in files:
        st = p.stat()
        h.update(f"{p.name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:20]


def _read(found: Found, workdir: Path) -> rel.Release:
    """Read the release found; a 10-year zip is unpacked into a temporary folder first."""
    from . import threeyear  # (scipy: imported only when a release is converted)

    if found.release == "3year":
        return threeyear.read_3year(found.root)
    if found.root.is_dir():
        return rel.read_10year(found.root)
    workdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=workdir, prefix=".unpack-") as tmp, \
            zipfile.ZipFile(found.root) as z:
        wanted = tuple(found.member + sub for sub in ("events/", "uptime/", "irfs/"))
        for name in z.namelist():
            if name.startswith(wanted) and not name.endswith("/"):
                z.extract(name, tmp)
        try:
            return rel.read_10year(Path(tmp) / found.member)
        except AnalysisError as exc:  # name the file in the zip, not the unpacked copy
            raise AnalysisError(str(exc).replace(tmp + "/", f"{found.root}: ")) from exc


def _convert_found(found: Found, dest: Path, provenance: dict, log: Log) -> Path:
    release = _read(found, Path(dest) / found.release)
    names = [s.name for s in release.seasons]
    log(f"found the {TITLES[found.release]} ({', '.join(names)}: {len(names)} seasons, "
        f"{release.n_events} events) in {found.where}; converting it")
    return _convert(release, dest, found.release, provenance)


def _download_source(url: str, dest: Path, timeout: float, log: Log) -> Path:
    """`url` downloaded (urllib) into `<dest>/downloads/`, under the name it has there."""
    folder = Path(dest) / "downloads"
    folder.mkdir(parents=True, exist_ok=True)
    name = Path(urllib.parse.unquote(urllib.parse.urlsplit(url).path)).name
    target = folder / (re.sub(r"[^A-Za-z0-9._+-]", "_", name).lstrip(".") or "source")
    part = target.with_name(target.name + ".part")
    log(f"downloading {url}")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r, open(part, "wb") as f:
            shutil.copyfileobj(r, f)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        part.unlink(missing_ok=True)
        raise AnalysisError(f"cannot download the IceCube data source {url}: {exc}") from exc
    part.replace(target)
    return target


def _fetch_source(source: str | Path, dest: Path, release: str, timeout: float, log: Log,
                  origin: str) -> Path:
    """The cache of the release in `source` (a path or a URL), and of no other."""
    wanted = FETCHABLE if release == "any" else (release,)
    if is_url(source):
        url = str(source)
        for name in wanted:
            cached = cache_path(dest, name)
            if rel.cache_is_current(cached) and _provenance(cached).get("url") == url:
                log(f"{url} was converted already: {cached} (remove it to fetch again)")
                return cached
        path = _download_source(url, dest, timeout, log)
        label = f"{url} (downloaded to {path})"
        provenance: dict | None = {"url": url, "sha256": sha256(path)}
    else:
        path = Path(source).expanduser().absolute()
        label, provenance = str(path), None
    if origin != "source":
        label += f" ({origin})"
    found = _choose(path, release, label)
    if provenance is None:
        provenance = {"local": str(path), "root": found.where, "files": _fingerprint(found)}
    cached = cache_path(dest, found.release)
    same = ("url", "sha256") if "url" in provenance else ("root", "files")
    recorded = _provenance(cached) if rel.cache_is_current(cached) else {}
    if recorded and all(recorded.get(k) == provenance[k] for k in same):
        log(f"the {TITLES[found.release]} in {found.where} is converted already: {cached}")
        return cached
    out = _convert_found(found, dest, provenance, log)
    log(f"IceCube data ready: {out}")
    return out


def _download_official(dest: Path, timeout: float, log: Log) -> Path:
    target = Path(dest) / "10year"
    target.mkdir(parents=True, exist_ok=True)
    archive = target / OFFICIAL_ZIP
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
    found = _choose(archive, "10year", f"{archive} (from {url})")
    return _convert_found(found, dest, {"url": url, "sha256": digest}, log)


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
    """Make an IceCube release available (as a binary cache) and return the cache's path.

    --source PATH|URL (default: $ICECUBE_PS_SOURCE): the 10-year release as the official
    zip (20210126_PS-IC40-IC86_VII.zip), the folder holding icecube_10year_ps/ or that
    folder itself; the 3-year release as its folder or zip, or the flarestack wheel. URLs
    (http, https, file) are downloaded into the data folder first. Only that source is
    used: if it holds no release, or not the one asked for, the error says what it holds.
    --release 10year|3year|any (default any: the 10-year release before the 3-year one).
    Without a source: a converted release already there, else the official 10-year archive,
    else the real 3-year release from PyPI (the flarestack 2.4.10 wheel, never installed).
    """
    if release not in (*FETCHABLE, "any"):
        raise AnalysisError(f"unknown release {release!r} to fetch: choose 10year, 3year or any")
    dest = Path(dest) if dest is not None else default_dir()
    wanted = FETCHABLE if release == "any" else (release,)
    origin = "source"
    if not source and os.environ.get(ENV_SOURCE):
        source, origin = os.environ[ENV_SOURCE], ENV_SOURCE
    if source:
        return _fetch_source(source, dest, release, timeout, log, origin)
    for name in wanted:
        if cache_path(dest, name).is_file() and rel.cache_is_current(cache_path(dest, name)):
            return cache_path(dest, name)
    steps: list[tuple[str, Callable[[], Path]]] = []
    if "10year" in wanted:
        steps.append(("official 10-year release", lambda: _download_official(dest, timeout, log)))
    if "3year" in wanted:
        steps.append((f"3-year release from PyPI {FLARESTACK_REQUIREMENT}",
                      lambda: _download_flarestack(dest, 10 * timeout, log)))
    from astroflow.registry.data import first_available

    path, tried = first_available(steps, log, (AnalysisError,))
    if path is not None:
        log(f"IceCube data ready: {path}")
        return path
    raise AnalysisError("no IceCube data could be had. Tried:\n  " + "\n  ".join(tried)
                        + "\nPut a copy of the release on disk (or on a web server) and "
                        f"give it (or set {ENV_SOURCE}): {HOW_TO_FETCH[release]}")


def load(release: str = "auto", dest: Path | None = None, fetch_missing: bool = True,
         log: Log = print) -> rel.Release:
    """The release from its cache. "auto": the 10-year release if present, else the 3-year
    one; "synthetic" is generated on first use (full size). A release that is not present
    is fetched (that release only) when `fetch_missing`, else an `AnalysisError` says which
    are present and how to fetch it."""
    if release not in ("auto", *RELEASES):
        raise AnalysisError(f"unknown data release {release!r}; choose one of "
                            f"{('auto', *RELEASES)}")
    dest = Path(dest) if dest is not None else default_dir()
    if release == "auto":
        present = [r for r in available(dest) if r in FETCHABLE]
        if present:
            return rel.load_current(cache_path(dest, present[0]))
        if not fetch_missing:
            raise _absent("auto", dest)
        return rel.load_current(fetch(dest, release="any", log=log))
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
            raise _absent(release, dest)
    return rel.load_current(path)


def _absent(release: str, dest: Path) -> AnalysisError:
    """What a user of the server reads when the release asked for is not installed: what to
    choose instead. How to install it is the operator's business: it goes to the log (the
    run's stderr, the server's log), and `fetch` / `astroflow data fetch` say it too."""
    present = available(dest)
    _log.warning("IceCube %s release not present under %s (present: %s); an operator installs "
                 "it with `%s`", release, dest, ", ".join(present) or "none",
                 HOW_TO_FETCH[release])
    if release == "auto":
        return AnalysisError("no IceCube release is installed on this server "
                             "(its operator can install one)")
    title = TITLES.get(release, f"{release} release")
    if not present:
        return AnalysisError(f"data_release: the {title} is not installed on this server, "
                             "nor any other IceCube release (its operator can install one)")
    return AnalysisError(f"data_release: the {title} is not installed on this server; "
                         f"choose {' or '.join(present)} (installed: {', '.join(present)})")
