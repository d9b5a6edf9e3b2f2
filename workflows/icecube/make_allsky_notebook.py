"""Build `allsky.ipynb` (run: python make_allsky_notebook.py). The notebook is committed too.

A second service of this repository: the platform serves every notebook at the repository's
root that has a ``parameters`` cell, named after its file (`allsky.ipynb` -> ``allsky``).
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from make_notebook import service_notebook, setup_cell

INTRO = """\
# IceCube all-sky scan: the hottest spots of the neutrino sky

The classic IceCube all-sky search on a public muon-track release (the real 3-year
release, the 10-year release when available locally, or a synthetic release in the 10-year
layout): the point-source likelihood with n_s and the spectral index free at the centre
of every HEALPix pixel (nside 32, 64 or 128, ICRS, RING ordering) over the time window, the
local maxima of that map north and south of the selection boundary (delta = -5 deg),
each refined on a 4x finer grid and a local climb, with its local p-value and its post-trial
p-value from RA-scrambled full-sky scans of the same release (effective-trials method,
the plain fraction of scans beside it). Products: the HEALPix FITS map (TS, n_s, gamma),
the hotspot table and a Mollweide picture. Method: `README.md` ("Full-sky scan") and
`icecube_ps/allsky.py`. Each scrambled scan costs about as much as the map."""

PARAMETERS = """\
# oda:time_limit 7200
# oda:cpu_time_limit 14400
# oda:memory_limit "4G"
T1 = "2010-06-01T00:00:00"  # oda:StartTimeISOT ; oda:description "Start (UTC). The scan uses the overlap with the release's data (3-year release: 2010-06-01 to 2013-05-02)"
T2 = "2013-05-03T00:00:00"  # oda:EndTimeISOT ; oda:description "End (UTC) of the time window scanned"
data_release = "auto"  # oda:String ; oda:allowed_value "auto", "10year", "3year", "synthetic" ; oda:label "Data release" ; oda:description "auto: the 10-year release if installed here, else the 3-year one; a release not installed is refused, naming those that are"
nside = 64  # oda:Integer ; oda:allowed_value 32, 64, 128 ; oda:label "HEALPix nside" ; oda:description "Map resolution: 12 nside^2 pixels (64: 49,152 pixels 0.92 deg apart; 128 costs 4x more)"
post_trials = 4  # oda:Integer ; oda:lower_limit 0 ; oda:upper_limit 200 ; oda:label "Scrambled full-sky scans" ; oda:description "RA-scrambled full-sky scans for the post-trial p-values (0: none); each costs about as much as the map\""""

SETUP = setup_cell("allsky, data, service")

RUN = """\
progress(stage="data", fraction=0.0, message=f"loading the {data_release} release")
release = data.load(data_release, fetch_missing=False, log=lambda m: progress(
    stage="data", fraction=0.0, message=m))
result = allsky.run(release, service.mjd_window(T1, T2), nside=nside,
                    post_trials=post_trials, progress=progress)
hotspot_table = result.hotspots
map_file = "allsky_ts_map.fits"
allsky.healpix_hdulist(result.sky, result.meta).writeto(map_file, overwrite=True)
fig = allsky.sky_figure(result.sky, hotspot_table, title=(
    f"IceCube {data_release}, {T1[:10]} to {T2[:10]}: TS, nside {nside}"))
print(", ".join(f"{k} {v:.1f} s" for k, v in result.timings.items()),
      f"| peak memory {result.peak_rss_mb['parent']:.0f} MB (+ workers "
      f"{result.peak_rss_mb['worker']:.0f} MB each, shared pages counted)")
hotspot_table"""

OUTPUTS = """\
ts_map = map_file  # oda:File
hotspots = hotspot_table  # oda:ODAAstropyTable
sky_plot = fig  # oda:ODAPictureProduct"""


def build() -> nbformat.NotebookNode:
    return service_notebook(INTRO, PARAMETERS, SETUP, RUN, OUTPUTS, "allsky")


if __name__ == "__main__":
    out = Path(__file__).with_name("allsky.ipynb")
    nbformat.write(build(), out)
    print(f"wrote {out}")
