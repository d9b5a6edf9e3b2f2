# %% [markdown]
# # Multi-messenger SED
# The spectral energy distribution of one source from several messengers at once: the
# Fermi-LAT flux points (gamma rays) and the IceCube upper limit or flux (neutrinos), each
# computed by its own service as a sub-job of this one (visible and cancellable by the id in
# the `status` table), combined in the SED convention astroflow-sed/1. Any service whose
# outputs include an SED table joins when listed in `services`.

# %% tags=["parameters"]
# oda:coordinator true
# oda:time_limit 900
src_name = "TXS 0506+056"  # oda:AstrophysicalObject ; oda:description "Name of the source, shown in the products (the position comes from RA and Dec)"
RA = 77.358  # oda:PointOfInterestRA ; oda:description "Right ascension (ICRS) of the position, in degrees"
DEC = 5.693  # oda:PointOfInterestDEC ; oda:description "Declination (ICRS) of the position, in degrees"
T1 = "2008-08-04T00:00:00"  # oda:StartTimeISOT ; oda:description "Start of the time range (UTC)"
T2 = "2018-07-10T00:00:00"  # oda:EndTimeISOT ; oda:description "End of the time range (UTC)"
icecube_index = 2.0  # oda:Float ; oda:lower_limit 1.5 ; oda:upper_limit 4.0 ; oda:label "IceCube spectral index" ; oda:description "Power-law index of the neutrino spectrum for the IceCube limit"
services = "source-sed, icecube"  # oda:String ; oda:label "Services" ; oda:description "Services whose SED tables are combined, comma-separated"

# %%
import os
import sys
from pathlib import Path

try:
    import mm_sed
except ImportError:  # run from elsewhere than the workflow folder
    for candidate in (Path.cwd(), Path.cwd() / "workflows" / "multi-messenger"):
        if (candidate / "mm_sed.py").is_file():
            sys.path.insert(0, str(candidate))
            break
    import mm_sed

import astroflow
from astroflow.client import Client

api_url = os.environ.get("ASTROFLOW_API_URL")
if not api_url:
    raise astroflow.AnalysisError("this service submits sub-jobs: it runs on an astroflow "
                                  "server (ASTROFLOW_API_URL is not set)")
names = mm_sed.service_list(services)
if not names:
    raise astroflow.AnalysisError("no services listed")
common = {"src_name": src_name, "RA": RA, "DEC": DEC, "T1": T1, "T2": T2,
          "icecube_index": icecube_index}
with Client(api_url, token=os.environ.get("ASTROFLOW_TOKEN", "")) as client:
    combined, status_table, sub_jobs = mm_sed.run(client, names, common, timeout=840,
                                                  progress=astroflow.progress, api_url=api_url)
fig = mm_sed.sed_figure(combined, f"{src_name}: multi-messenger SED")
astroflow.progress(stage="done", fraction=1.0, message=f"{len(combined)} SED rows")
status_table

# %% tags=["outputs"]
sed = combined  # oda:Spectrum
status = status_table  # oda:ODAAstropyTable
sed_plot = fig  # oda:ODAPictureProduct
