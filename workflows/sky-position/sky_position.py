# %% [markdown]
# # Sky position
# Where a source sits on the sky (equatorial, galactic, ecliptic coordinates and
# constellation), and a simulated photon-counting light curve over the requested time range
# for a source of the given mean rate. A small, fast workflow to try astroflow with.

# %% tags=["parameters"]
src_name = "Crab"  # oda:AstrophysicalObject ; oda:description "Name of the source, shown in the products (its position comes from RA and Dec)"
RA = 83.633  # oda:PointOfInterestRA ; oda:description "Right ascension (ICRS) of the source, in degrees"
DEC = 22.0145  # oda:PointOfInterestDEC ; oda:description "Declination (ICRS) of the source, in degrees"
T1 = "2024-01-01T00:00:00.000"  # oda:StartTimeISOT ; oda:description "Start of the simulated light curve (UTC)"
T2 = "2024-01-08T00:00:00.000"  # oda:EndTimeISOT ; oda:description "End of the simulated light curve (UTC), after the start"
rate = 2.5  # oda:Float ; oda:lower_limit 0 ; oda:upper_limit 1000 ; oda:label "Mean rate" ; oda:description "Mean count rate in counts per hour"
n_bins = 24  # oda:Integer ; oda:lower_limit 2 ; oda:upper_limit 1000 ; oda:label "Time bins" ; oda:description "Number of equal time bins between the start and the end"
seed = 1  # oda:Integer ; oda:description "Random seed of the simulated light curve"

# %%
import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.table import Table
from astropy.time import Time

import astroflow

coord = SkyCoord(RA, DEC, unit="deg", frame="icrs")
start, stop = Time(T1), Time(T2)
if stop <= start:
    raise astroflow.AnalysisError(f"the end time {T2} is not after the start time {T1}")
astroflow.progress(stage="coordinates", fraction=0.3)

galactic = coord.galactic
ecliptic = coord.barycentrictrueecliptic
constellation = coord.get_constellation()
positions = Table(
    {
        "frame": ["icrs", "galactic", "ecliptic"],
        "lon": np.array([coord.ra.deg, galactic.l.deg, ecliptic.lon.deg]),
        "lat": np.array([coord.dec.deg, galactic.b.deg, ecliptic.lat.deg]),
        "constellation": [constellation] * 3,  # the same position, whichever the frame
    },
    meta={"object": src_name, "constellation": constellation},
)
positions["lon"].unit = "deg"
positions["lat"].unit = "deg"

# %%
astroflow.progress(stage="light curve", fraction=0.6)
rng = np.random.default_rng(seed)
edges = np.linspace(start.mjd, stop.mjd, n_bins + 1)
hours = np.diff(edges) * 24.0
counts = rng.poisson(rate * hours)
# Bin centres in MJD (UTC), and the FITS header says so (TIMESYS, MJDREF, TIMEUNIT).
light_curve = Table(
    {
        "mjd": 0.5 * (edges[:-1] + edges[1:]),
        "rate": counts / hours,
        "rate_err": np.sqrt(np.maximum(counts, 1)) / hours,
    },
    meta={"TIMESYS": "UTC", "MJDREF": 0.0, "TIMEUNIT": "d"},
)
light_curve["mjd"].unit = "d"
light_curve["mjd"].description = "bin centre, MJD (UTC)"
light_curve["rate"].unit = "1/h"
light_curve["rate_err"].unit = "1/h"
mean_rate = float(counts.sum() / hours.sum()) * u.Unit("1/h")
print(f"{src_name}: {coord.to_string('hmsdms')} in {constellation}, "
      f"mean rate {mean_rate.value:.3f} counts/h")

# %%
import matplotlib.pyplot as plt

figure, ax = plt.subplots(figsize=(6, 3))
ax.errorbar(light_curve["mjd"], light_curve["rate"], yerr=light_curve["rate_err"], fmt="o")
ax.set_xlabel("time [MJD, UTC]")
ax.set_ylabel("rate (counts / h)")
ax.set_title(src_name)

# %% tags=["outputs"]
positions  # oda:ODAAstropyTable
light_curve  # oda:LightCurve
figure  # oda:ODAPictureProduct
mean_rate  # oda:Float
