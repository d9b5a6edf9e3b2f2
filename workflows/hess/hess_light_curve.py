# %% [markdown]
# # H.E.S.S. light curve (reflected regions)
# The integral gamma-ray flux above a threshold energy of a point-like source, per
# observation run or per night, from the H.E.S.S. DL3 release in the data folder (the public
# DR1, or a synthetic release in its layout). Each observation pointed within `max_offset` of
# the position and overlapping T1-T2 is reduced with gammapy (on-region counts, reflected-
# region background with known VHE sources excluded, safe energy range); in each time bin the
# normalisation of a power law of fixed index (`index_from` "fit": fitted to all selected
# data first; "fixed": `index`) is fitted with WStat and integrated from the threshold to
# 100 TeV. Bins with TS < 4 carry a 2-sigma upper limit (`is_ul`). Nights run from noon to
# noon in local solar time at the H.E.S.S. site. Times are MJD (TT).

# %% tags=["parameters"]
src_name = "PKS 2155-304"  # oda:AstrophysicalObject ; oda:description "Name of the source, shown in the products (the position comes from RA and Dec)"
RA = 329.71694  # oda:PointOfInterestRA ; oda:description "Right ascension (ICRS) of the position, in degrees"
DEC = -30.2256  # oda:PointOfInterestDEC ; oda:description "Declination (ICRS) of the position, in degrees"
T1 = "2004-01-01T00:00:00"  # oda:StartTimeISOT ; oda:description "Start of the time range (UTC)"
T2 = "2026-12-31T00:00:00"  # oda:EndTimeISOT ; oda:description "End of the time range (UTC)"
radius = 0.11  # oda:Angle ; oda:unit unit:deg ; oda:lower_limit 0.02 ; oda:upper_limit 0.5 ; oda:label "On-region radius" ; oda:description "Radius of the ON region around RA, Dec"
max_offset = 2.0  # oda:Angle ; oda:unit unit:deg ; oda:lower_limit 0.1 ; oda:upper_limit 2.5 ; oda:label "Max pointing offset" ; oda:description "Observations pointed farther than this from RA, Dec are not used"
max_observations = 50  # oda:Integer ; oda:lower_limit 1 ; oda:upper_limit 500 ; oda:label "Max observations" ; oda:description "The ones pointed closest to RA, Dec are kept"
binning = "run"  # oda:String ; oda:allowed_value "run", "night" ; oda:label "Time bins" ; oda:description "One flux per observation run, or per night (noon to noon, local time)"
E_threshold = 1.0  # oda:Energy ; oda:unit unit:TeV ; oda:lower_limit 0.1 ; oda:upper_limit 50 ; oda:label "Threshold energy" ; oda:description "The flux is integrated from here to 100 TeV"
index_from = "fit"  # oda:String ; oda:allowed_value "fit", "fixed" ; oda:label "Spectral index" ; oda:description "fit: a power law fitted to all selected data above the threshold; fixed: the value of index"
index = 2.5  # oda:Float ; oda:lower_limit 1 ; oda:upper_limit 5 ; oda:label "Fixed index" ; oda:description "Spectral index assumed to turn excess counts into the integral flux"

# %%
import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord
from hess_dl3 import spectrum
from hess_dl3.data import release_dir, release_info
from hess_dl3.errors import AnalysisError
from hess_dl3.lightcurve import light_curve as estimate_light_curve
from hess_dl3.lightcurve import time_bins
from hess_dl3.reduction import ENERGY_AXIS, on_region, reduce_observations
from hess_dl3.selection import select_observations, time_range

import astroflow

t_start, t_stop = time_range(T1, T2)
if index_from not in ("fit", "fixed"):
    raise AnalysisError(f"index_from {index_from!r} is not known; choose fit or fixed")
threshold = E_threshold * u.TeV
e_max = ENERGY_AXIS.edges[-1]
spectrum.check_energy_range(threshold, e_max)
release = release_dir()
attribution = release_info().get("attribution", "")
source = src_name.strip() or "source"

selection = select_observations(release, SkyCoord(RA, DEC, unit="deg"),
                                max_offset=max_offset * u.deg, t1=t_start, t2=t_stop,
                                max_observations=int(max_observations))
bins = time_bins(selection.table, binning)
astroflow.progress(stage="reduction", fraction=0.1,
                   message=f"{len(selection.obs_ids)} observations, {len(bins)} bins")
reduction = reduce_observations(
    selection, release, on_region(RA, DEC, radius),
    progress=lambda done, total: astroflow.progress(stage="reduction",
                                                    fraction=0.1 + 0.4 * done / total))
for obs_id, reason in reduction.dropped.items():
    print(f"observation {obs_id} dropped: {reason}")

# %%
astroflow.progress(stage="spectral shape", fraction=0.5)
overall = spectrum.counts(spectrum.restrict_energy(reduction.datasets, threshold, e_max))
if index_from == "fit" and overall.significance < 3:
    # no shape to fit where there is no signal: the given index, and say so
    used_index = float(index)
    index_note = (f"fixed at {used_index:g} (all data above {threshold:g} give "
                  f"{overall.significance:.1f} sigma, too little to fit an index)")
elif index_from == "fit":
    stacked = spectrum.stack(spectrum.restrict_energy(reduction.datasets, threshold, e_max))
    shape_fit = spectrum.fit(stacked, "power_law", source)
    used_index = float(shape_fit.model.spectral_model.index.value)
    index_note = (f"fitted to all data above {threshold:g}: "
                  f"{used_index:.3f} ± {shape_fit.model.spectral_model.index.error:.3f}")
else:
    used_index = float(index)
    index_note = f"fixed at {used_index:g}"
print(f"power-law index {index_note}")

astroflow.progress(stage="light curve", fraction=0.6)
light_curve = estimate_light_curve(reduction.datasets, bins, used_index, source, threshold,
                                   e_max)
light_curve.meta.update({"source": source, "binning": binning, "threshold_TeV": E_threshold,
                         "index": used_index, "index_from": index_note, "ra": RA, "dec": DEC,
                         "attribution": attribution})

# %%
import matplotlib.pyplot as plt

astroflow.progress(stage="plot", fraction=0.9)
lc_plot, ax = plt.subplots(figsize=(9, 4.5))
mid = np.asarray(light_curve["time"], float)
half = [mid - np.asarray(light_curve["time_min"], float),
        np.asarray(light_curve["time_max"], float) - mid]
ul = np.asarray(light_curve["is_ul"], bool)
flux = np.asarray(light_curve["flux"], float)
err = np.asarray(light_curve["flux_err"], float)
if (~ul).any():
    ax.errorbar(mid[~ul], flux[~ul], xerr=[h[~ul] for h in half], yerr=err[~ul], fmt="o",
                color="k", label="flux, 1σ")
if ul.any():
    limits = np.asarray(light_curve["flux_ul"], float)[ul]
    ax.errorbar(mid[ul], limits, xerr=[h[ul] for h in half], yerr=0.2 * limits,
                uplims=True, fmt="none", color="C3", label="2σ upper limit (TS < 4)")
ax.set_xlabel("Time (MJD)")
ax.set_ylabel(f"Flux above {E_threshold:g} TeV (cm⁻² s⁻¹)")
ax.set_title(f"{source}: H.E.S.S., per {binning}, index {index_note}", fontsize=10)
ax.legend(fontsize=8)
ax.grid(alpha=0.3)
lc_plot.text(0.01, 0.01, attribution, fontsize=7, color="0.4")
lc_plot.tight_layout(rect=(0, 0.04, 1, 1))

# %% tags=["outputs"]
light_curve  # oda:LightCurve
lc_plot  # oda:ODAPictureProduct
