# %% [markdown]
# # Fermi-LAT 4FGL-DR4 cone search
# The sources of the Fermi-LAT 14-year catalogue (4FGL-DR4, `gll_psc_v35.fit`) within a radius
# of a position, nearest first: class, association, energy flux (100 MeV-100 GeV), photon flux
# (1-100 GeV), spectral model and index, significance, variability index, and a sky picture of
# the cone with each source's 95% error ellipse.

# %% tags=["parameters"]
src_name = "Crab"  # oda:AstrophysicalObject ; oda:description "Name of the source, shown in the products (the position comes from RA and Dec)"
RA = 83.633  # oda:PointOfInterestRA ; oda:description "Right ascension (ICRS) of the position, in degrees"
DEC = 22.0145  # oda:PointOfInterestDEC ; oda:description "Declination (ICRS) of the position, in degrees"
radius = 3.0  # oda:Angle ; oda:unit unit:deg ; oda:lower_limit 0 ; oda:upper_limit 30 ; oda:label "Cone radius" ; oda:description "Radius of the cone around RA, Dec"
min_significance = 0.0  # oda:Float ; oda:lower_limit 0 ; oda:upper_limit 1000 ; oda:label "Minimum significance" ; oda:description "Keep sources with Signif_Avg (sigma) at least this"

# %%
import numpy as np
from fermi_lat.catalogue import Catalogue
from fermi_lat.errors import AnalysisError

import astroflow

catalogue = Catalogue.load()
astroflow.progress(stage="cone search", fraction=0.3)
rows, separations = catalogue.cone(RA, DEC, radius)
keep = ~(catalogue.columns["Signif_Avg"][rows] < min_significance)  # NaN (no value) kept
rows, separations = rows[keep], separations[keep]
if len(rows) == 0:
    above = f" above {min_significance:g} sigma" if min_significance > 0 else ""
    raise AnalysisError(f"no 4FGL source{above} within {radius:g} deg of RA {RA:.4f}, "
                        f"Dec {DEC:.4f} ({src_name or 'the position'}) in the 4FGL-DR4 catalogue")
sources = catalogue.summary(rows, separations)
sources.meta["query"] = {"ra": RA, "dec": DEC, "radius_deg": radius, "object": src_name}
n_sources = len(sources)
print(f"{n_sources} 4FGL-DR4 sources within {radius:g} deg of ({RA:.4f}, {DEC:.4f}); "
      f"nearest {sources['name'][0]} at {sources['separation'][0].value:.3f} deg")

# %%
import matplotlib.pyplot as plt
from matplotlib.patches import Circle, Ellipse

astroflow.progress(stage="sky picture", fraction=0.7)
# Tangent-plane offsets (deg) around the cone's centre: x grows to the east (left on the sky).
ra_r, dec_r = np.radians(sources["ra"].value), np.radians(sources["dec"].value)
ra0, dec0 = np.radians(RA), np.radians(DEC)
cos_c = np.sin(dec0) * np.sin(dec_r) + np.cos(dec0) * np.cos(dec_r) * np.cos(ra_r - ra0)
x = np.degrees(np.cos(dec_r) * np.sin(ra_r - ra0) / cos_c)
y = np.degrees((np.cos(dec0) * np.sin(dec_r) - np.sin(dec0) * np.cos(dec_r) * np.cos(ra_r - ra0))
               / cos_c)
sky_map, ax = plt.subplots(figsize=(6.4, 6.0))
ax.add_patch(Circle((0, 0), radius, fill=False, ls="--", color="grey"))
flux = sources["energy_flux"].value
sizes = 8 + 60 * (np.log10(flux) - np.log10(flux).min()) / max(np.ptp(np.log10(flux)), 1e-9)
points = ax.scatter(x, y, s=sizes, c=np.log10(flux), cmap="viridis", alpha=0.8, zorder=3)
sky_map.colorbar(points, ax=ax, label="log10 energy flux 100 MeV-100 GeV (erg cm$^{-2}$ s$^{-1}$)")
for xi, yi, a, b, pa in zip(x, y, sources["conf95_semimajor"].value,
                            sources["conf95_semiminor"].value, sources["conf95_posang"].value,
                            strict=True):
    if np.isfinite(a) and np.isfinite(b) and np.isfinite(pa):
        # Position angle east of north; with east on +x the ellipse's angle from +x is 90 - PA.
        ax.add_patch(Ellipse((xi, yi), 2 * a, 2 * b, angle=90 - pa, fill=False, color="C3"))
for i in range(min(n_sources, 12)):
    label = sources["association"][i] or sources["name"][i]
    ax.annotate(label, (x[i], y[i]), xytext=(4, 4), textcoords="offset points", fontsize=7)
ax.plot(0, 0, "+", color="k", ms=12)
ax.set_xlim(radius * 1.05, -radius * 1.05)  # east to the left
ax.set_ylim(-radius * 1.05, radius * 1.05)
ax.set_aspect("equal")
ax.set_xlabel("ΔRA cos Dec (deg, east to the left)")
ax.set_ylabel("ΔDec (deg)")
ax.set_title(f"4FGL-DR4 within {radius:g}° of {src_name or ''} ({RA:.3f}, {DEC:.3f})\n"
             "95% error ellipses in red", fontsize=9)

# %% tags=["outputs"]
sources  # oda:ODAAstropyTable
sky_map  # oda:ODAPictureProduct
n_sources  # oda:Integer
