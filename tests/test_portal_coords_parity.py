"""The portal parses coordinates and times as astropy does (Angle, Time), in chromium.

Strings are generated systematically — signs (ASCII and U+2212 minus), sexagesimal with
h/m/s, d/m/s, °′″, colons and spaces, degrees with units, decimals, out-of-range values and
garbage; ISOT/ISO dates with and without a time, a fraction and ``Z``, and MJD numbers — and
each is read by `coords.js` (imported as an ES module in a page of a real server) and by
astropy. Both must accept or refuse it alike, and agree on the value within 1e-9 deg or 1 µs.

The reference rules are the portal's documented ones on top of astropy: a plain number is in
degrees; sexagesimal without a unit is hours for RA and degrees for Dec (as SkyCoord with
``unit=(hourangle, deg)``); a Dec written in hours (``05h34m31.94s``) is refused, since an
hour angle is not a declination; RA lies in [0, 360], Dec in [−90, 90].

On main before this change the browser refused ``−00°30′00.0″`` (its own `formatDec`), took
``05h34m31.94s`` as a Dec of 5.5755°, and disagreed on ``5h``, ``1e3``, ``22:60:00`` …
"""

from __future__ import annotations

import itertools
import re
import warnings

import astropy.units as u
import portal_browser
import pytest
from astropy.coordinates import Angle
from astropy.time import Time
from portal_browser import browser  # noqa: F401 - module fixture
from server_process import TEST_SERVICES, ServerProcess

pytestmark = portal_browser.needs_chromium

SIGNS = ("", "+", "-", "\u2212")
FIELDS = ((5, 34, 31.94), (0, 30, 0), (22, 0, 52.2), (12, 30, None), (83, 37, 59),
          (23, 59, 59.999))
SEPARATORS = (("h", "m", "s"), ("d", "m", "s"), ("°", "′", "″"), ("°", "'", '"'),
              (":", ":", ""), (" ", " ", ""))
DECIMALS = ("83.633", "83.6°", "83.6 deg", "83.6d", "5.5h", "5 h", ".5", "5.", "1.5e1", "0",
            "45", "-45.5", "\u221245.5", "- 5", "12h30", "12d30", "5h", "05h 34m", "22° 30′ 10″",
            "22deg30m10s", "22:30:10.", "22 30 10.5", "12:30.5", "00h00m00s")
OUT_OF_RANGE = ("400", "360.0000001", "-0.1", "91", "-90.0001", "90", "-90", "360",
                "24h00m01s", "10:61:00", "10:00:61", "10:60:00", "10:00:60", "10:00:60.5",
                "05h34m60s", "\u221291:00:00")
GARBAGE = ("", "abc", "12:", ":12", "1:2:3:4", "5h-3m", "22.5d30m", "0x10", "nan", "inf", "1,5",
           "22dd", "d22", "22D00M52S", "05H34M", "5 -3", "+-5", "--5", "12h30m10s5", "1e3",
           "5.5:30", "5:30.5:10", "05h34.5m10s", "22º00'", "°22")

DATES = ("2024-01-01", "2024-02-29", "2023-02-29", "2024-13-01", "2024-1-5", "1999-12-31",
         "2024-04-31")
TIMES = ("", "T00:00", "T12:34:56", " 12:34:56", "T23:59:60", "T24:00:00", "T12:60:00",
         "T1:2:3")
FRACTIONS = ("", ".5", ".123456")
ZONES = ("", "Z")
MJDS = ("60310", "60310.5", "60310.123456789", "-1.5", "6.03105e4", "51544.0")
# The browser is stricter on purpose: astropy takes a bare point after the seconds with
# two-digit fields and no zone (its fast parser) and refuses it otherwise (its slow one).
STRICTER = ("2024-01-01T12:34:56.", "2024-01-01 00:00:00.")
BAD_TIMES = ("2024-01-01T12", "2024/01/01", "2024-01-01t00:00:00", "2024-01-01T00:00:00z",
             "yesterday", "60310,5", "2024-01-01T00:00:00 Z", "2024-01-01T", "T12:00:00")


def angle_strings() -> list[str]:
    found = []
    for sign, fields, (h, m, s) in itertools.product(SIGNS, FIELDS, SEPARATORS):
        a, b, c = fields
        text = f"{a:02d}{h}{b:02d}{m}" + ("" if c is None else f"{c:05.2f}{s}")
        found.append(sign + text.strip())
    return found + list(DECIMALS + OUT_OF_RANGE + GARBAGE)


def time_strings() -> list[str]:
    found = [d + t + (f if t.count(":") == 2 else "") + z
             for d, t, f, z in itertools.product(DATES, TIMES, FRACTIONS, ZONES)
             if f == "" or t.count(":") == 2]
    return sorted(set(found)) + list(MJDS + BAD_TIMES)


_SEXAGESIMAL = re.compile(r"\d[\s:]+[\d.]")


def astropy_angle(text: str, kind: str) -> float | None:
    """Degrees by astropy and the portal's rules, or None where either refuses."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            angle = Angle(text)  # the text names its unit
        except u.UnitsError:  # it does not: the rules above say which
            body = re.sub(r"^[+\-\u2212]?\s*", "", text.strip())
            hours = kind == "ra" and _SEXAGESIMAL.search(body) is not None
            try:
                angle = Angle(text, unit=u.hourangle if hours else u.deg)
            except Exception:  # noqa: BLE001 - any refusal
                return None
        except Exception:  # noqa: BLE001 - any refusal
            return None
    if angle.unit == u.hourangle and kind == "dec":
        return None
    value = float(angle.degree)
    low, high = (0, 360) if kind == "ra" else (-90, 90)
    return value if low <= value <= high else None


def astropy_time(text: str) -> tuple[float, float] | None:
    """(Unix seconds, MJD) by astropy, or None where it refuses."""
    if re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", text):
        t = Time(float(text), format="mjd", scale="utc")
        return float(t.unix), float(t.mjd)
    for fmt in ("isot", "iso"):
        try:
            t = Time(text, format=fmt, scale="utc")
            return float(t.unix), float(t.mjd)
        except ValueError:
            continue
    return None


@pytest.fixture(scope="module")
def page(browser, tmp_path_factory):  # noqa: F811 - the module fixture above
    process = ServerProcess(tmp_path_factory.mktemp("coords"), services=[TEST_SERVICES / "basics"])
    with process.running(), portal_browser.visitor(browser) as page:
        page.goto(f"{process.url}/")
        page.wait_for_selector("html[data-ready='true']")
        yield page


_BROWSER = """async ({angles, times, STRICTER}) => {
    const c = await import('./static/js/coords.js');
    const read = (fn, s) => { try { return fn(s); } catch (e) { return null; } };
    return {
        ra: angles.map((s) => read(c.parseRA, s)),
        dec: angles.map((s) => read(c.parseDec, s)),
        mjd: times.map((s) => read(c.parseTime, s)),
        ms: times.map((s) => { const v = c.parseIsot(s); return Number.isFinite(v) ? v : null; }),
        stricter: STRICTER.map((s) => read(c.parseTime, s)),
        formatted: [-0.5, -89.99, 0, 45.25].map((d) => read(c.parseDec, c.formatDec(d))),
    };
}"""


def test_browser_parses_angles_and_times_as_astropy(page):
    angles, times = angle_strings(), time_strings()
    assert len(angles) * 2 + len(times) >= 200
    got = page.evaluate(_BROWSER, {"angles": angles, "times": times, "STRICTER": STRICTER})
    problems = []
    for kind in ("ra", "dec"):
        for text, value in zip(angles, got[kind], strict=True):
            expected = astropy_angle(text, kind)
            if (expected is None) != (value is None) or (
                    expected is not None and abs(expected - value) > 1e-9):
                problems.append(f"{kind} {text!r}: browser {value}, astropy {expected}")
    for text, mjd, ms in zip(times, got["mjd"], got["ms"], strict=True):
        expected = astropy_time(text)
        if (expected is None) != (mjd is None):
            problems.append(f"time {text!r}: browser {mjd}, astropy {expected}")
        elif expected is not None:
            unix, expected_mjd = expected
            if ms is not None and abs(ms / 1000 - unix) > 1e-6:
                problems.append(f"time {text!r}: browser {ms / 1000} s, astropy {unix} s")
            if abs(mjd - expected_mjd) > 2e-11:  # 2 µs: a double's MJD resolution is ~1 µs
                problems.append(f"time {text!r}: browser MJD {mjd}, astropy {expected_mjd}")
    assert not problems, f"{len(problems)} disagreements:\n" + "\n".join(problems)
    assert got["stricter"] == [None] * len(STRICTER)
    assert all(astropy_time(text) is not None for text in STRICTER)
    # What the portal writes it reads back (formatDec's U+2212 minus included).
    assert got["formatted"] == pytest.approx([-0.5, -89.99, 0, 45.25], abs=1e-4)
