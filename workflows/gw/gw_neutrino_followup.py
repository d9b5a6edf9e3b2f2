# %% [markdown]
# # Neutrino follow-up of a gravitational-wave event
# Did IceCube see anything from this merger? The event's sky map gives the smallest region
# holding `credible_level` of its probability, as HEALPix pixels at `nside`; the IceCube
# point-source analysis runs at every pixel, in `chunks` sub-jobs of the `icecube-region`
# service (listed in `status`, each visible and cancellable; an identical request joins
# the cached ones). `time_window` > 0: events within ±time_window s of the merger, with the
# transient likelihood (against the expected background), and per pixel the limit on the
# neutrino energy fluence turned into an isotropic-equivalent energy with the sky map's
# distance; 0: the whole IceCube release, time-integrated flux limits. The summary gives the
# sky-map-weighted limits and the most significant pixel (its local p-value before trials).

# %% tags=["parameters"]
# oda:coordinator true
# oda:time_limit 900
event = "GW120618_120000"  # oda:String ; oda:label "Event" ; oda:description "GWTC event name (e.g. GW170817) or the synthetic GW120618_120000"
credible_level = 0.9  # oda:Float ; oda:lower_limit 0.1 ; oda:upper_limit 0.99 ; oda:label "Credible level" ; oda:description "The region searched: the smallest part of the sky map holding this probability"
time_window = 500.0  # oda:TimeIntervalSeconds ; oda:lower_limit 0 ; oda:upper_limit 8640000 ; oda:label "Time window (± s)" ; oda:description "Half-width around the merger; 0: the whole IceCube release"
index = 2.0  # oda:Float ; oda:lower_limit 1.0 ; oda:upper_limit 4.0 ; oda:label "Neutrino spectral index" ; oda:description "Index gamma of the neutrino power law, dN/dE proportional to E^-gamma"
nside = 64  # oda:Integer ; oda:lower_limit 8 ; oda:upper_limit 256 ; oda:label "HEALPix nside" ; oda:description "Pixel size of the scan (64: 0.84 deg2)"
chunks = 4  # oda:Integer ; oda:lower_limit 1 ; oda:upper_limit 64 ; oda:label "Sub-jobs" ; oda:description "Number of icecube-region sub-jobs the region is cut into (they run in parallel)"
data_release = "auto"  # oda:String ; oda:allowed_value "auto", "10year", "3year", "synthetic" ; oda:label "IceCube release" ; oda:description "IceCube release analysed; auto: the best one installed"

# %%
import os
import sys
from pathlib import Path

try:
    import gw_open  # noqa: F401
except ImportError:  # run from elsewhere than the workflow folder
    for candidate in (Path.cwd(), Path.cwd() / "workflows" / "gw"):
        if (candidate / "gw_open").is_dir():
            sys.path.insert(0, str(candidate))
            break

from gw_open import neutrino_followup as followup
from gw_open.skymap import sky_map_for

import astroflow
from astroflow.client import Client

api_url = os.environ.get("ASTROFLOW_API_URL")
if not api_url:
    raise astroflow.AnalysisError("this service submits IceCube sub-jobs: it runs on an "
                                  "astroflow server (ASTROFLOW_API_URL is not set)")
nside = int(nside)
if nside & (nside - 1):
    raise astroflow.AnalysisError(f"nside {nside} is not a power of 2")
astroflow.progress(stage="sky map", fraction=0.02, message=f"{event}: reading the sky map")
sky = sky_map_for(event.strip())
region = sky.credible_pixels(credible_level, nside)
T1, T2, likelihood = followup.time_window(sky.gps, float(time_window))
astroflow.progress(stage="sky map", fraction=0.08,
                   message=f"{len(region)} pixels, {region.meta['area_deg2']:.0f} deg2")
common = {"T1": T1, "T2": T2, "index": float(index), "confidence_level": 0.9,
          "likelihood": likelihood, "data_release": data_release}
with Client(api_url, token=os.environ.get("ASTROFLOW_TOKEN", "")) as client:
    subs = followup.submit(client, nside, followup.chunks(region["ipix"], int(chunks)), common)
    followup.wait(subs, timeout=840, progress=astroflow.progress)
status_table = followup.status_table(subs, api_url)
limits_table = followup.combine(region, subs)
summary_table = followup.summary(limits_table, sky.event, credible_level, T1, T2)
quantity = "e_iso_ul" if "e_iso_ul" in limits_table.colnames else "flux_ul"
fig = followup.figure(limits_table, followup.contour_grid(sky, region),
                      sky.event, quantity)
astroflow.progress(stage="done", fraction=1.0, message=f"{len(limits_table)} pixels")
summary_table

# %% tags=["outputs"]
summary = summary_table  # oda:ODAAstropyTable
pixel_limits = limits_table  # oda:ODAAstropyTable
followup_plot = fig  # oda:ODAPictureProduct
status = status_table  # oda:ODAAstropyTable
