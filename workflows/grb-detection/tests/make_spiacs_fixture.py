"""Write the recorded SPI-ACS ``genlc`` reply the replay server serves (run once; committed).

The reply has the layout of the real service (integralhk ``genlc``, as read by MMODA's SPI-ACS
plugin and by integral-client): ``#`` comment lines, then one 50 ms bin per line with IJD (TT),
seconds from the requested centre, counts in the bin and seconds since midnight, the whole
text JSON-encoded as the MMODA gateway returns it. The counts are synthetic: a background of
~90 000 counts/s (about 4 500 per 50 ms bin, the level of real SPI-ACS light curves) with a
slow drift, plus a FRED burst (T90 = 4 s, 40 sigma) 30 s after the centre.
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

import numpy as np
from astropy.time import Time

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from grb_detect import synthetic  # noqa: E402

T0 = "2021-06-15T10:00:00.000"
HALF_SPAN = 150.0
BIN = 0.05
RATE = 90000.0
BURST = {"t90": 4.0, "significance": 40.0, "t05_from_t0": 30.0, "tau_ratio": 3.0}
FIXTURE = Path(__file__).resolve().parent / "data" / "spiacs_genlc_2021-06-15T10-00-00_150.json.gz"


def reply_text(seed: int = 7) -> str:
    rng = np.random.default_rng(seed)
    t0 = Time(T0, scale="utc")
    rel = np.arange(-HALF_SPAN, HALF_SPAN, BIN) + BIN / 2
    expected = RATE * BIN * (1 + 0.01 * rel / HALF_SPAN)
    burst = synthetic.make_burst(BURST["t90"], BURST["significance"], RATE,
                                 BURST["t05_from_t0"] + HALF_SPAN, BURST["tau_ratio"])
    edges = np.concatenate([rel - BIN / 2, rel[-1:] + BIN / 2]) + HALF_SPAN
    expected = expected + np.diff(burst.cumulative(edges))
    counts = rng.poisson(expected)
    ijd = (t0.tt.mjd - 51544.0) + rel / 86400.0
    midnight = (t0.utc.mjd % 1) * 86400.0 + rel
    lines = [f"# SPI-ACS light curve, target ACS, {2 * HALF_SPAN:g} s around {T0} UTC",
             "# time system: IJD (TT) = MJD - 51544",
             f"# bin size: {BIN} s",
             "# columns: IJD, seconds from the requested time, counts in bin, "
             "seconds since midnight UTC",
             "#"]
    lines += [f"{i:.10f} {r:10.3f} {c:d} {m:12.3f}" for i, r, c, m in
              zip(ijd, rel, counts, midnight, strict=True)]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(FIXTURE, "wt") as out:
        out.write(json.dumps(reply_text()))
    print(FIXTURE, FIXTURE.stat().st_size)
