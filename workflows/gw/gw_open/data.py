"""Data step of the gw repository: the offline GWOSC mirror, and which archive the services use."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

from .archive import ATTRIBUTION, CURRENT, DEFAULT_HOST, ENV_HOST, Archive
from .errors import AnalysisError

RELEASES = ("gwosc", "mirror", "auto")
Log = Callable[[str], object]


def write_current(dest: Path, info: dict) -> dict:
    """``dest/current.json``, written atomically."""
    partial = dest / (CURRENT + ".partial")
    partial.write_text(json.dumps(info, indent=1) + "\n")
    partial.replace(dest / CURRENT)
    return info


def fetch(dest: Path, source: str | None = None, release: str | None = None,
          timeout: float = 5.0, log: Log = print) -> Path:
    """Gravitational-wave open data (GWOSC) for the gw services, in DIR/gw.

    Always builds DIR/gw/mirror: an offline copy of GWOSC's API v2 (event list, catalogues,
    published parameters of confident GWTC events such as GW150914, GW170817 and
    GW200129_065458, strain files when the strain module is installed) plus the synthetic
    event GW120618_120000 with its 3-D multi-order sky map (quick, deterministic, skipped
    when up to date). Real sky maps are not in the mirror.
    --release gwosc: the services query GWOSC at --source (an http(s) URL), else
    $GWOSC_SERVER_URL, else https://gwosc.org; an error if it does not answer.
    --release mirror: the services read the mirror (offline).
    --release auto (default): GWOSC if it answers within --timeout seconds, else the mirror
    (it says so).
    DIR/gw/current.json names the archive the services use and GWOSC's acknowledgement.
    """
    from .mirror import build

    dest = Path(dest)
    release = (release or "auto").lower()
    if release not in RELEASES:
        raise AnalysisError(f"release {release!r} is not one of {', '.join(RELEASES)}")
    dest.mkdir(parents=True, exist_ok=True)
    build(dest / "mirror", log=log)
    mirror_info = {"mode": "mirror", "path": "mirror", "attribution": ATTRIBUTION,
                   "title": "Offline GWOSC API v2 mirror (published GWTC parameters and the "
                            "synthetic event GW120618_120000)"}
    if release == "mirror":
        write_current(dest, mirror_info)
        log(f"gw: the services read the offline mirror {dest / 'mirror'}")
        return dest
    host = (source or os.environ.get(ENV_HOST) or DEFAULT_HOST).rstrip("/")
    if not host.startswith(("http://", "https://")):
        raise AnalysisError(f"source {host!r} is not an http(s) URL of a GWOSC server")
    try:
        Archive("host", host, timeout=float(timeout)).probe()
    except AnalysisError as exc:
        if release == "gwosc":
            raise AnalysisError(f"{exc}. Use --release mirror to work offline") from None
        reason = str(exc).split(" (", 1)[-1].split(":", 1)[0]   # e.g. "ConnectionError"
        log(f"gw: GWOSC at {host} did not answer within {timeout:g} s ({reason}); the "
            f"services read the offline mirror {dest / 'mirror'} (fetch again when online)")
        write_current(dest, mirror_info)
        return dest
    write_current(dest, {"mode": "host", "host": host, "attribution": ATTRIBUTION,
                         "title": f"GWOSC API v2 at {host}"})
    log(f"gw: the services query GWOSC at {host}")
    return dest
