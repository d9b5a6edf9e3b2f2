# %% [markdown]
# # IceCube limits over a sky region
# The `icecube` point-source analysis at every pixel of a HEALPix region (NESTED indices at
# `nside`, given as ranges "12-40, 52"): per pixel the TS and n_s at the assumed index, the
# profile-likelihood upper limit on n_s and on the flux normalisation at 1 TeV (the same
# numbers as an `icecube` request at the pixel centre with `upper_limit_method = "profile"`),
# and the energy fluence of that limit over the 90% signal energy range during the livetime.
# For short windows (a transient), `likelihood = "transient"` compares with the expected
# background rather than the few events observed (icecube_ps/transient.py).
# The GW neutrino follow-up sends a credible region here in chunks, as sub-jobs.

# %% tags=["parameters"]
nside = 64  # oda:Integer ; oda:lower_limit 1 ; oda:upper_limit 1024 ; oda:label "HEALPix nside" ; oda:description "Resolution of the pixel indices (NESTED ordering)"
pixels = "24000-24010"  # oda:String ; oda:label "Pixels" ; oda:description "NESTED pixel indices and inclusive ranges, comma-separated"
T1 = "2012-06-18T11:51:40"  # oda:StartTimeISOT ; oda:description "Start (UTC) of the time window; the analysis uses its overlap with the release's data"
T2 = "2012-06-18T12:08:20"  # oda:EndTimeISOT ; oda:description "End (UTC) of the time window"
index = 2.0  # oda:Float ; oda:lower_limit 1.0 ; oda:upper_limit 4.0 ; oda:label "Spectral index" ; oda:description "Index gamma of the assumed power law, dN/dE proportional to E^-gamma"
confidence_level = 0.9  # oda:Float ; oda:lower_limit 0.5 ; oda:upper_limit 0.9999 ; oda:label "Confidence level" ; oda:description "Confidence level of the upper limits (0.9 is 90%)"
likelihood = "time-integrated"  # oda:String ; oda:allowed_value "time-integrated", "transient" ; oda:label "Likelihood" ; oda:description "transient: against the expected background, for windows of minutes to days"
data_release = "auto"  # oda:String ; oda:allowed_value "auto", "10year", "3year", "synthetic" ; oda:label "Data release" ; oda:description "auto: the 10-year release if installed here, else the 3-year one; a release not installed is refused, naming those that are"

# %%
import sys
from pathlib import Path

try:
    import icecube_ps  # noqa: F401
except ImportError:  # run from elsewhere than the workflow folder
    for candidate in (Path.cwd(), Path.cwd() / "workflows" / "icecube"):
        if (candidate / "icecube_ps").is_dir():
            sys.path.insert(0, str(candidate))
            break

from icecube_ps import data, region

import astroflow

ipix = region.parse_pixels(pixels, int(nside))
astroflow.progress(stage="data", fraction=0.0, message=f"loading the {data_release} release")
release = data.load(data_release, fetch_missing=False,
                    log=lambda m: astroflow.progress(stage="data", fraction=0.0, message=m))
table = region.pixel_limits(release, int(nside), ipix, T1, T2, index=index,
                            confidence_level=confidence_level, likelihood=likelihood,
                            progress=astroflow.progress)
astroflow.progress(stage="done", fraction=1.0, message=f"{len(table)} pixels")
table

# %% tags=["outputs"]
pixel_limits = table  # oda:ODAAstropyTable
