# %% [markdown]
# # Gravitational-wave sky map
# The localisation of a gravitational-wave event (its HEALPix multi-order sky map, read with
# ligo.skymap) and what it says about a sky position: the 50% and 90% credible areas, the
# probability density at RA, DEC and its searched probability (the smallest credible level
# containing it), the distance posterior from the map's header. Products: a summary table, a
# Mollweide picture with the position and the 50/90% contours, the probability density as an
# all-sky Plate-Carree FITS image with a celestial WCS, and the original multi-order FITS.

# %% tags=["parameters"]
event = "GW120618_120000"  # oda:String ; oda:label "Event" ; oda:description "GWOSC event name, e.g. GW170817 (the offline mirror has a sky map for the synthetic GW120618_120000 only)"
RA = 165.0  # oda:PointOfInterestRA ; oda:description "Right ascension (ICRS) of the position whose probability is read from the map, in degrees"
DEC = 30.0  # oda:PointOfInterestDEC ; oda:description "Declination (ICRS) of the position whose probability is read from the map, in degrees"

# %%
import sys
from pathlib import Path

try:
    import gw_open  # noqa: F401
except ImportError:  # run from elsewhere than the workflow folder
    for candidate in (Path.cwd(), Path.cwd() / "workflows" / "gw"):
        if (candidate / "gw_open").is_dir():
            sys.path.insert(0, str(candidate))
            break

import shutil

from astropy.io import fits
from astropy.table import Table
from gw_open.archive import current_archive
from gw_open.skymap import mollweide_figure, sky_map_for, wcs_image

try:
    from astroflow import progress
except ImportError:
    progress = lambda **k: None  # noqa: E731

archive = current_archive()
progress(stage="sky map", fraction=0.1, message=f"{event} from {archive.source}")
sky = sky_map_for(str(event).strip(), archive)
density, searched = sky.probability_at(float(RA), float(DEC))
distance = sky.distance
summary_table = Table(rows=[(sky.event, sky.gps, sky.credible_area(0.5), sky.credible_area(0.9),
                             float(RA), float(DEC), density, searched,
                             distance[0] if distance else float("nan"),
                             distance[1] if distance else float("nan"))],
                      names=("event", "gps", "area_50", "area_90", "ra", "dec",
                             "prob_density", "searched_prob", "distance_mean", "distance_std"))
for name, unit in (("gps", "s"), ("area_50", "deg2"), ("area_90", "deg2"), ("ra", "deg"),
                   ("dec", "deg"), ("prob_density", "deg-2"), ("distance_mean", "Mpc"),
                   ("distance_std", "Mpc")):
    summary_table[name].unit = unit
summary_table["searched_prob"].description = "smallest credible level containing RA, DEC"
summary_table.meta.update({"source": archive.source, "attribution": archive.attribution})
print(summary_table)

# %%
progress(stage="pictures", fraction=0.6)
figure = mollweide_figure(sky, float(RA), float(DEC))
figure.text(0.01, 0.01, "Data: " + archive.source, fontsize=6)
image = wcs_image(sky, resolution=0.5, source=archive.source)
image_hdul = fits.HDUList([fits.PrimaryHDU(), image])
original = Path(f"{sky.event}.multiorder.fits")
shutil.copyfile(sky.path, original)

# %% tags=["outputs"]
summary = summary_table  # oda:ODAAstropyTable
sky_picture = figure  # oda:ODAPictureProduct
probability_image = image_hdul  # oda:Image
multiorder_fits = str(original)  # oda:ODABinaryProduct
