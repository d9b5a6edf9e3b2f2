# %% [markdown]
# # GRB / transient detection on a light curve
# Finds bursts in any light curve: an uploaded file (FITS with RATE or COUNTS and TIME, e.g.
# OGIP, Fermi-GBM or Swift-like; ECSV; CSV with a header row), or, when no file is given, the
# INTEGRAL SPI-ACS light curve (50 ms bins) of the T1-T2 range (at most 2 h) from the public
# ISDC service. A polynomial background is fitted to the off-burst bins (iterative multi-scale
# sigma clipping), the light curve is cut into Bayesian blocks (Scargle et al. 2013: Poisson
# "events" fitness for counts, "measures" for rates with errors; p0 the false-positive
# probability of a change point), and the most significant runs of adjacent blocks above the
# background (Poisson tail probability of their counts, in Gaussian sigma) are reported when
# they reach `threshold_sigma`, with T90 from the cumulative excess counts (5 %-95 %) and its
# uncertainty from Poisson resampling. Long light curves are rebinned to at most 3000 bins.

# %% tags=["parameters"]
lc_file = ""  # oda:POSIXPath, oda:optional ; oda:label "Light-curve file" ; oda:description "FITS, ECSV or CSV with a time column and a counts or rate column; empty: INTEGRAL SPI-ACS for T1-T2"
T1 = "2022-10-09T13:16:00"  # oda:StartTimeISOT ; oda:description "Start of the time range (UTC)"
T2 = "2022-10-09T13:26:00"  # oda:EndTimeISOT ; oda:description "End of the time range (UTC)"
threshold_sigma = 4.75  # oda:Float ; oda:lower_limit 3 ; oda:upper_limit 50 ; oda:label "Detection threshold (sigma)" ; oda:description "Significance a burst must reach; 4.75, the calibrated default (README): <= 1 % false alarms per curve, >= 95 % of 6-sigma bursts found; 6: < 0.1 % false alarms, 79 %"
p0 = 0.2  # oda:Float ; oda:lower_limit 0.001 ; oda:upper_limit 0.5 ; oda:label "Bayesian-blocks p0" ; oda:description "False-positive probability of one change point"
background_degree = 1  # oda:Integer ; oda:lower_limit 0 ; oda:upper_limit 4 ; oda:label "Background polynomial degree" ; oda:description "Degree of the polynomial fitted to the background around the burst window"

# %%
import astropy.units as u
import numpy as np
from astropy.time import Time
from grb_detect import spiacs
from grb_detect.detection import detect
from grb_detect.errors import AnalysisError
from grb_detect.products import figure, light_curve_table
from grb_detect.reading import read_light_curve

import astroflow

astroflow.progress(stage="reading", fraction=0.05)
if str(lc_file).strip():
    lc = read_light_curve(lc_file)
    origin = f"uploaded file {lc.source}"
else:
    try:
        t1, t2 = Time(T1, scale="utc"), Time(T2, scale="utc")
    except ValueError as exc:
        raise AnalysisError(f"T1/T2 are not ISO times: {exc}") from exc
    astroflow.progress(stage="fetching SPI-ACS", fraction=0.1,
                       message=spiacs.request_url(t1, t2))
    lc = spiacs.fetch(t1, t2)
    origin = lc.source
print(f"{origin}: {len(lc)} bins of {np.median(lc.dt):.3g} s, "
      f"{'counts' if lc.is_counts else 'rates with errors'}")

# %%
astroflow.progress(stage="background and Bayesian blocks", fraction=0.3)
result = detect(lc, threshold_sigma=float(threshold_sigma), p0=float(p0),
                bkg_degree=int(background_degree))
if result.rebin_factor > 1:
    print(f"rebinned by {result.rebin_factor} to {len(result.lc)} bins")
print(f"{len(result.blocks)} blocks, {len(result.detections)} detection(s) above "
      f"{threshold_sigma:g} sigma")
detections = result.detections
if result.lc.t_ref is not None:
    t_ref = result.lc.t_ref.utc
    starts = np.asarray(detections["t_start"], float)
    detections["t_start_utc"] = np.array([(t_ref + t * u.s).isot for t in starts], dtype="U23")
    detections.meta["t_ref"] = t_ref.isot

# %%
astroflow.progress(stage="products", fraction=0.9)
light_curve = light_curve_table(result)
lc_picture = figure(result)

# %% tags=["outputs"]
detections  # oda:ODAAstropyTable
lc_picture  # oda:ODAPictureProduct
light_curve  # oda:LightCurve
