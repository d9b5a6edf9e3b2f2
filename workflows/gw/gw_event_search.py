# %% [markdown]
# # Gravitational-wave event search
# Confident events of the GWTC catalogues (GWOSC's API v2, through the `gwosc` client) merging
# between T1 and T2 and, with `use_position`, whose sky map's smallest `credible_level` region
# contains RA, DEC (each sky map read with ligo.skymap, downloaded once and cached). The table
# lists name, GPS and UTC time, source-frame masses, luminosity distance, network SNR,
# false-alarm rate and 90% sky area, with the searched probability of the position when it
# is used. Data: GWOSC (or the offline mirror made by `astroflow data fetch gw`).

# %% tags=["parameters"]
T1 = "2012-01-01T00:00:00"  # oda:StartTimeISOT ; oda:description "Start of the time range (UTC)"
T2 = "2020-12-31T00:00:00"  # oda:EndTimeISOT ; oda:description "End of the time range (UTC)"
RA = 150.0  # oda:PointOfInterestRA ; oda:description "Right ascension (ICRS) of the position tested against each sky map (with 'Filter by sky position'), in degrees"
DEC = 25.0  # oda:PointOfInterestDEC ; oda:description "Declination (ICRS) of the position tested against each sky map, in degrees"
use_position = False  # oda:Boolean ; oda:label "Filter by sky position" ; oda:description "Keep only the events whose sky map's credible region contains RA, DEC"
credible_level = 0.9  # oda:Float ; oda:lower_limit 0.01 ; oda:upper_limit 1 ; oda:label "Credible level" ; oda:description "The position must lie in the smallest region holding this probability"
catalogues = ""  # oda:String ; oda:label "Catalogues" ; oda:description "Comma-separated catalogue names or prefixes (e.g. GWTC, GWTC-3-confident); empty: every confident catalogue"

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

from gw_open.archive import current_archive
from gw_open.catalogue import event_table

try:
    from astroflow import progress
except ImportError:
    progress = lambda **k: None  # noqa: E731

archive = current_archive()
print("data from", archive.source)
table = event_table(archive, t1=T1, t2=T2, catalogues=catalogues,
                    ra=float(RA) if use_position else None,
                    dec=float(DEC) if use_position else None,
                    credible_level=float(credible_level),
                    progress=lambda f, m: progress(stage=m, fraction=f))
if table.meta.get("without_sky_map"):
    print("not searchable by position (no sky map in this archive):",
          ", ".join(table.meta["without_sky_map"]))
table.pprint(max_width=200, max_lines=60)

# %% tags=["outputs"]
events = table  # oda:ODAAstropyTable
