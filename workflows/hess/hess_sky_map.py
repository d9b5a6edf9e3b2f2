# %% [markdown]
# # H.E.S.S. sky map: counts, excess and significance
# Counts, excess and Li & Ma significance maps around a position from the H.E.S.S. DL3
# release in the data folder (the public DR1, or a synthetic release in its layout). Each
# observation pointed within `max_offset` of the position and overlapping T1-T2 is reduced
# with gammapy (counts, background template normalised to the counts outside known sources,
# events within 2.5 deg of the pointing), the observations are stacked, and the background
# under each pixel is either a ring around it (`ring`) or the normalised template (`fov`).
# Excess and significance are counted in a circle of `correlation_radius` around each pixel.
# The `significance_map` FITS file holds the significance with counts, background, excess
# and sqrt_ts extensions; `hotspots` lists the peaks above 5 sigma.

# %% tags=["parameters"]
src_name = "Crab Nebula"  # oda:AstrophysicalObject ; oda:description "Name of the source, shown in the products (the position comes from RA and Dec)"
RA = 83.633  # oda:PointOfInterestRA ; oda:description "Right ascension (ICRS) of the position, in degrees"
DEC = 22.0145  # oda:PointOfInterestDEC ; oda:description "Declination (ICRS) of the position, in degrees"
T1 = "2004-01-01T00:00:00"  # oda:StartTimeISOT ; oda:description "Start of the time range (UTC)"
T2 = "2026-12-31T00:00:00"  # oda:EndTimeISOT ; oda:description "End of the time range (UTC)"
map_width = 2.0  # oda:Angle ; oda:unit unit:deg ; oda:lower_limit 0.1 ; oda:upper_limit 6 ; oda:label "Map width" ; oda:description "Side of the square map"
pixel_size = 0.02  # oda:Angle ; oda:unit unit:deg ; oda:lower_limit 0.005 ; oda:upper_limit 0.2 ; oda:label "Pixel size" ; oda:description "At most 500 x 500 pixels per map"
E_min = 1.0  # oda:Energy ; oda:unit unit:TeV ; oda:lower_limit 0.05 ; oda:upper_limit 200 ; oda:label "E_min" ; oda:description "Lower bound of reconstructed energy"
E_max = 10.0  # oda:Energy ; oda:unit unit:TeV ; oda:lower_limit 0.05 ; oda:upper_limit 200 ; oda:label "E_max" ; oda:description "Upper bound of reconstructed energy"
background = "ring"  # oda:String ; oda:allowed_value "ring", "fov" ; oda:label "Background method" ; oda:description "ring: OFF counts in a ring around each pixel; fov: the background template normalised per observation outside known sources"
correlation_radius = 0.1  # oda:Angle ; oda:unit unit:deg ; oda:lower_limit 0.005 ; oda:upper_limit 1 ; oda:label "Correlation radius" ; oda:description "Radius of the circle counted around each pixel (the on-region)"
ring_inner_radius = 0.5  # oda:Angle ; oda:unit unit:deg ; oda:lower_limit 0.1 ; oda:upper_limit 1.9 ; oda:label "Ring inner radius" ; oda:description "Inner radius of the ring the background is estimated in"
ring_width = 0.3  # oda:Angle ; oda:unit unit:deg ; oda:lower_limit 0.02 ; oda:upper_limit 1 ; oda:label "Ring width" ; oda:description "Width of that background ring"
max_offset = 2.0  # oda:Angle ; oda:unit unit:deg ; oda:lower_limit 0.1 ; oda:upper_limit 3 ; oda:label "Max pointing offset" ; oda:description "Observations pointed farther than this from RA, Dec are not used"
max_observations = 50  # oda:Integer ; oda:lower_limit 1 ; oda:upper_limit 500 ; oda:label "Max observations" ; oda:description "The ones pointed closest to RA, Dec are kept"

# %%
import sys
from pathlib import Path

try:
    import hess_dl3  # noqa: F401
except ImportError:  # run from elsewhere than the workflow folder
    for candidate in (Path.cwd(), Path.cwd() / "workflows" / "hess"):
        if (candidate / "hess_dl3").is_dir():
            sys.path.insert(0, str(candidate))
            break

import astropy.units as u
from astropy.coordinates import SkyCoord
from hess_dl3.data import release_dir, release_info
from hess_dl3.errors import AnalysisError
from hess_dl3.selection import select_observations, time_range
from hess_dl3.skymap import MapSettings, sky_maps

try:
    from astroflow import progress
except ImportError:
    progress = lambda **k: None  # noqa: E731

t_start, t_stop = time_range(T1, T2)
if int(max_observations) < 1:
    raise AnalysisError(f"max_observations ({max_observations}) must be at least 1")
position = SkyCoord(float(RA) * u.deg, float(DEC) * u.deg, frame="icrs")
settings = MapSettings(position, width=float(map_width), binsz=float(pixel_size),
                       energy_min=float(E_min), energy_max=float(E_max),
                       background=str(background), correlation_radius=float(correlation_radius),
                       ring_inner_radius=float(ring_inner_radius), ring_width=float(ring_width))
settings.check()

release = release_dir()
info = release_info()
attribution = str(info.get("attribution") or "")
progress(stage="selecting observations", fraction=0.05)
selection = select_observations(release, position, max_offset=float(max_offset) * u.deg,
                                t1=t_start, t2=t_stop, max_observations=int(max_observations))
print(f"{len(selection.obs_ids)} observations, {selection.livetime.to_value(u.h):.2f} h: "
      f"{selection.obs_ids}")

maps = sky_maps(selection, settings,
                progress=lambda f: progress(stage="reducing observations",
                                            fraction=0.1 + 0.7 * f))
print(maps.observations)
print("timings (s):", {k: round(v, 3) for k, v in maps.timings.items()})

# %%
progress(stage="maps", fraction=0.85)
significance_hdul = maps.to_hdulist(object_name=str(src_name), attribution=attribution,
                                    release_title=str(info.get("title") or ""))
max_significance = maps.max_significance
hotspot_table = maps.hotspots(threshold=5.0)
hotspot_table.meta["attribution"] = attribution
print(f"max significance {max_significance:.2f}; {len(hotspot_table)} peak(s) above 5 sigma")
print(hotspot_table)

# %%
import matplotlib.pyplot as plt
import numpy as np
from astropy.coordinates import SkyCoord
from astropy.visualization.wcsaxes import SphericalCircle
from hess_dl3.exclusion import known_sources

sig = maps.significance
fig = plt.figure(figsize=(7.5, 6.6))
ax = fig.add_axes([0.12, 0.14, 0.72, 0.78], projection=sig.geom.wcs)
limit = max(5.0, float(np.nanmax(np.abs(sig.data))) if np.isfinite(sig.data).any() else 5.0)
image = ax.imshow(sig.data, origin="lower", cmap="RdBu_r", vmin=-limit, vmax=limit,
                  interpolation="nearest")
levels = [lv for lv in (3, 5, 10, 20, 40) if lv < limit]
if levels:
    ax.contour(np.nan_to_num(sig.data, nan=0.0), levels=levels, colors="k", linewidths=0.8)
cbar = fig.colorbar(image, ax=ax, fraction=0.046, pad=0.03)
cbar.set_label("Li & Ma significance (σ)" + (f"; contours {levels}" if levels else ""))
world = ax.get_transform("icrs")
ax.add_patch(SphericalCircle((position.ra, position.dec), settings.correlation_radius * u.deg,
                             transform=world, fill=False, edgecolor="lime", lw=1.5,
                             label=f"on-region r={settings.correlation_radius:g}°"))
known = known_sources()
known_positions = SkyCoord(known["ra"].quantity, known["dec"].quantity, frame="icrs")
inside = np.flatnonzero(sig.geom.contains(known_positions))
for number, index in enumerate(inside):
    ra, dec = known_positions[index].ra.deg, known_positions[index].dec.deg
    ax.plot(ra, dec, "x", color="orange", ms=9, mew=2, transform=world,
            label="known source" if number == 0 else None)
    ax.text(ra, dec, " " + str(known["name"][index]), color="orange", fontsize=8,
            transform=world)
for number, region in enumerate(maps.regions):
    ax.add_patch(SphericalCircle((region.center.ra, region.center.dec), region.radius,
                                 transform=world, fill=False, edgecolor="grey", ls="--",
                                 lw=0.8,
                                 label="excluded from background" if number == 0 else None))
for number, row in enumerate(hotspot_table):
    ax.plot(row["ra"], row["dec"], "+", color="magenta", ms=11, mew=1.5, transform=world,
            label="peak > 5σ" if number == 0 else None)
ax.set_xlim(-0.5, sig.data.shape[1] - 0.5)
ax.set_ylim(-0.5, sig.data.shape[0] - 0.5)
ax.set_xlabel("RA (ICRS)")
ax.set_ylabel("Dec (ICRS)")
method = ("ring " f"{settings.ring_inner_radius:g}-"
          f"{settings.ring_inner_radius + settings.ring_width:g}°"
          if settings.background == "ring" else "FoV template")
ax.set_title(f"{src_name}: {settings.energy_min:g}-{settings.energy_max:g} TeV, "
             f"{len(selection.obs_ids)} obs, {selection.livetime.to_value(u.h):.1f} h, "
             f"{method}", fontsize=9)
ax.legend(loc="upper right", fontsize=7, framealpha=0.7)
fig.text(0.01, 0.01, "Data: " + (attribution or str(info.get("title", ""))), fontsize=6,
         wrap=True, va="bottom")

# %% tags=["outputs"]
significance_map = significance_hdul  # oda:Image
sky_plot = fig  # oda:ODAPictureProduct
max_significance = max_significance  # oda:Float
hotspots = hotspot_table  # oda:ODAAstropyTable
