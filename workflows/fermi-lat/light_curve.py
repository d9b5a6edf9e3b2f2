# %% [markdown]
# # Fermi-LAT 4FGL-DR4 light curve
# The yearly photon flux (100 MeV-100 GeV) of a 4FGL-DR4 source over the catalogue's 14 years
# (2008-08-04 to 2022-08-02), with the catalogue's 1-sigma errors and 2-sigma upper limits, and
# its variability index (the catalogue calls a source variable above 27.69, 1% chance for a
# steady one with 14 yearly bins). The requested time range is shaded; `restrict_to_range`
# keeps only the years that overlap it.

# %% tags=["parameters"]
src_name = "TXS 0506+056"  # oda:AstrophysicalObject ; oda:description "Name of the source, shown in the products (the position comes from RA and Dec)"
RA = 77.3582  # oda:PointOfInterestRA ; oda:description "Right ascension (ICRS) of the position, in degrees"
DEC = 5.6931  # oda:PointOfInterestDEC ; oda:description "Declination (ICRS) of the position, in degrees"
T1 = "2008-08-04T15:43:36"  # oda:StartTimeISOT ; oda:description "Start of the time range (UTC)"
T2 = "2022-08-02T21:53:15"  # oda:EndTimeISOT ; oda:description "End of the time range (UTC)"
match_by = "auto"  # oda:String ; oda:allowed_value "auto", "name", "position" ; oda:label "Find the source by" ; oda:description "auto: by name when src_name is a 4FGL name or association, else the nearest source to RA, Dec"
match_radius = 0.5  # oda:Angle ; oda:unit unit:deg ; oda:lower_limit 0 ; oda:upper_limit 5 ; oda:label "Match radius" ; oda:description "A catalogue source within this of RA, Dec is taken when the name does not match one"
restrict_to_range = False  # oda:Boolean ; oda:label "Only the years overlapping T1-T2" ; oda:description "Show only the yearly bins that overlap T1-T2 (else all 14 years, the range shaded)"

# %%
from astropy.time import Time
from fermi_lat.catalogue import Catalogue
from fermi_lat.errors import AnalysisError

import astroflow

start, stop = Time(T1, scale="utc"), Time(T2, scale="utc")
if stop <= start:
    raise AnalysisError(f"the end time {T2} is not after the start time {T1}")
catalogue = Catalogue.load()
row, how = catalogue.find(src_name, RA, DEC, match_radius, match_by)
name, label = str(catalogue.names[row]), catalogue.label(row)
print(how)
astroflow.progress(stage="light curve", fraction=0.4)
light_curve = catalogue.light_curve(row)
t_lo, t_hi = start.tt.mjd, stop.tt.mjd
if restrict_to_range:
    overlap = (light_curve["time_max"].value > t_lo) & (light_curve["time_min"].value < t_hi)
    if not overlap.any():
        raise AnalysisError(f"{T1} to {T2} lies outside the 4FGL-DR4 light curves "
                            f"(2008-08-04 to 2022-08-02)")
    light_curve = light_curve[overlap]
variability_index = float(catalogue.value("Variability_Index", row))
variable = bool(variability_index > 27.69)
print(f"{label}: variability index {variability_index:.1f} "
      f"({'variable' if variable else 'not significantly variable'}), "
      f"{int(light_curve['is_ul'].sum())} upper limits in {len(light_curve)} years")

# %%
import matplotlib.pyplot as plt

lc_plot, ax = plt.subplots(figsize=(7, 3.8))
lc = light_curve
det = ~lc["is_ul"]
t = lc["time"].value
half = 0.5 * (lc["time_max"] - lc["time_min"]).value
ax.errorbar(t[det], lc["flux"].value[det], xerr=half[det],
            yerr=[lc["flux_errn"].value[det], lc["flux_errp"].value[det]], fmt="o", color="k",
            label="yearly flux")
if (~det).any():
    ul = lc["flux_ul"].value[~det]
    ax.errorbar(t[~det], ul, xerr=half[~det], yerr=0.25 * ul, uplims=True, fmt="none",
                color="grey", label="2σ upper limit")
ax.axvspan(max(t_lo, lc["time_min"].value.min()), min(t_hi, lc["time_max"].value.max()),
           color="C1", alpha=0.12, label="requested range")
ax.set_xlabel("MJD (TT)")
ax.set_ylabel("flux 100 MeV-100 GeV (cm⁻² s⁻¹)")
ax.set_title(f"{label}: variability index {variability_index:.1f}", fontsize=10)
ax.legend(fontsize=8)

# %% tags=["outputs"]
light_curve  # oda:LightCurve
lc_plot  # oda:ODAPictureProduct
variability_index  # oda:Float
variable  # oda:Boolean
