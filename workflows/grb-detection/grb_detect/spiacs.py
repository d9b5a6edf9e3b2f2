"""INTEGRAL SPI-ACS light curves (50 ms bins) from the public ISDC service (UNIGE).

The service is the ``integralhk`` ``genlc`` endpoint that MMODA's SPI-ACS plugin calls
(oda-hub/dispatcher-plugin-integral-all-sky, ``data_server_conf.yml``)::

    GET {base}/genlc/ACS/{t0_isot}/{half_span_s}
    base = https://www.astro.unige.ch/cdci/astrooda/dispatch-data/gw/integralhk/api/v1.0

It returns the bins within ``half_span_s`` seconds on either side of ``t0`` as text, one bin
per line, four columns separated by spaces: IJD (INTEGRAL Julian Date, TT: MJD - 51544),
seconds from ``t0``, counts in the 50 ms bin, seconds since midnight; ``#`` starts a comment.
Through the MMODA gateway the text arrives JSON-encoded (a quoted string with ``\\n``), both
forms are read. Errors come back as HTTP 400 (or 200) with a message: ``NoData``,
``ZeroData``, ``Over revolution``, "requests to this service are limited ...".

``SPIACS_BASE_URL`` overrides the base URL (tests use a replay server on 127.0.0.1).
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request

import numpy as np
from astropy import units as u
from astropy.time import Time

from grb_detect.errors import AnalysisError
from grb_detect.lightcurve import LightCurve

DEFAULT_BASE_URL = ("https://www.astro.unige.ch/cdci/astrooda/dispatch-data/gw/integralhk/"
                    "api/v1.0")
IJD_MJD_OFFSET = 51544.0   # IJD = MJD - 51544 (TT)
BIN_S = 0.05
MAX_SPAN_S = 7200.0
ERROR_WORDS = ("NoData", "ZeroData", "Over revolution", "this service are limited",
               "No Data", "is in the future", "before the mission start", "bad time format")


def base_url() -> str:
    return os.environ.get("SPIACS_BASE_URL", "").strip().rstrip("/") or DEFAULT_BASE_URL


def request_url(t1: Time, t2: Time, base: str | None = None) -> str:
    t0 = t1 + (t2 - t1) / 2
    half = (t2 - t1).to_value(u.s) / 2
    return f"{(base or base_url()).rstrip('/')}/genlc/ACS/{t0.utc.isot}/{half:.3f}"


def check_span(t1: Time, t2: Time, max_span_s: float = MAX_SPAN_S) -> None:
    span = (t2 - t1).to_value(u.s)
    if span <= 0:
        raise AnalysisError(f"T2 ({t2.isot}) must be after T1 ({t1.isot})")
    if span > max_span_s:
        raise AnalysisError(f"T2 - T1 = {span:.0f} s: the SPI-ACS archive serves at most "
                            f"{max_span_s:.0f} s ({max_span_s / 3600:g} h) per request; "
                            "shorten the T1-T2 range")


def fetch(t1: Time, t2: Time, base: str | None = None, timeout: float = 30.0) -> LightCurve:
    """The SPI-ACS light curve between ``t1`` and ``t2`` (counts per 50 ms bin)."""
    check_span(t1, t2)
    url = request_url(t1, t2, base)
    request = urllib.request.Request(url, headers={"User-Agent": "astroflow-grb-detection"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            text = reply.read().decode("utf-8", errors="replace")
    except urllib.error.HTTPError as exc:
        body = exc.read().decode("utf-8", errors="replace")[:500]
        raise AnalysisError(f"the SPI-ACS archive refused {url}: HTTP {exc.code}: "
                            f"{_unquote(body).strip() or exc.reason}") from exc
    except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise AnalysisError(f"the SPI-ACS archive is unreachable ({url}: {reason}); try "
                            "again later, or upload a light-curve file (lc_file: FITS, ECSV "
                            "or CSV)") from exc
    return parse(text, source=f"INTEGRAL SPI-ACS {t1.utc.isot} - {t2.utc.isot}", t1=t1, t2=t2)


def _unquote(text: str) -> str:
    text = text.strip()
    if text.startswith('"'):
        try:
            decoded = json.loads(text)
            if isinstance(decoded, str):
                return decoded
        except ValueError:
            pass
        return text.strip('"').replace("\\n", "\n")
    return text


def parse(text: str, source: str = "INTEGRAL SPI-ACS", t1: Time | None = None,
          t2: Time | None = None) -> LightCurve:
    """The light curve in a ``genlc`` reply (plain or JSON-encoded text)."""
    text = _unquote(text)
    if len(text) < 8000:
        for word in ERROR_WORDS:
            if word.lower() in text.lower():
                raise AnalysisError(f"the SPI-ACS archive has no usable data for this range: "
                                    f"{text.strip()[:300]}")
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        try:
            rows.append([float(p) for p in parts[:4]])
        except ValueError:
            continue
    rows = [r for r in rows if len(r) >= 3]
    if len(rows) < 10:
        raise AnalysisError(f"the SPI-ACS reply holds {len(rows)} bins; nothing to analyse "
                            f"(reply starts: {text.strip()[:200]!r})")
    data = np.array([r[:3] for r in rows])
    ijd, counts = data[:, 0], data[:, 2]
    steps = np.round(np.diff(ijd) * 86400.0, 3)
    values, n = np.unique(steps[steps > 0], return_counts=True)
    dt = float(values[np.argmax(n)]) if len(values) else BIN_S
    t_ref = Time(ijd[0] + IJD_MJD_OFFSET, format="mjd", scale="tt")
    time = (ijd - ijd[0]) * 86400.0
    lc = LightCurve.from_counts(time, dt, counts, t_ref=t_ref.utc, source=source,
                                meta={"instrument": "INTEGRAL SPI-ACS", "bin_s": dt})
    if t1 is not None and t2 is not None:   # the service pads to whole bins: keep T1-T2
        a = (t1 - t_ref).to_value(u.s)
        b = (t2 - t_ref).to_value(u.s)
        lc = lc.slice_time(a, b) if ((lc.time >= a) & (lc.time < b)).sum() >= 10 else lc
    return lc
