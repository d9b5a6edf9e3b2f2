# %% [markdown]
# # CTAO observation plan
# What a CTAO observation of a source would give, simulated with gammapy: for a position,
# site (North / South), zenith angle, livetime and a source spectrum (a power law,
# log-parabola or cut-off power law, or the 4FGL-DR4 model of the nearest Fermi-LAT source
# extrapolated), the predicted ON/OFF counts, a simulated spectrum fitted back, the expected
# significance, the differential sensitivity curve (5σ, ≥10 excess counts, 5% background
# systematics per bin) and the livetime needed for 5σ. IRFs: the public CTAO prod5 files when
# fetched (`astroflow data fetch cta`), else a parametrisation (`irf_source` says which).
# EBL absorption is not applied (gammapy's EBL tables need gammapy-data, not shipped).

# %% tags=["parameters"]
src_name = "Crab"  # oda:AstrophysicalObject ; oda:description "Name of the source, shown in the products (the position comes from RA and Dec)"
RA = 83.633  # oda:PointOfInterestRA ; oda:description "Right ascension (ICRS) of the position, in degrees"
DEC = 22.0145  # oda:PointOfInterestDEC ; oda:description "Declination (ICRS) of the position, in degrees"
site = "North"  # oda:String ; oda:allowed_value "North", "South" ; oda:label "CTAO site" ; oda:description "CTAO-North (La Palma) or CTAO-South (Paranal): which array observes"
zenith = 20.0  # oda:Float ; oda:allowed_value 20, 40, 60 ; oda:unit unit:deg ; oda:label "Zenith angle" ; oda:description "The position must reach it at the site (culmination zenith |Dec - latitude|); the IRFs are those of 20 deg"
livetime = 0.5  # oda:Float ; oda:unit unit:h ; oda:lower_limit 0.001 ; oda:upper_limit 1000 ; oda:label "Livetime (h)" ; oda:description "Observing time on the source, in hours"
model_source = "log_parabola"  # oda:String ; oda:allowed_value "power_law", "log_parabola", "cutoff_power_law", "4fgl" ; oda:label "Spectral model" ; oda:description "4fgl: the 4FGL-DR4 model of the nearest source, extrapolated"
amplitude = 3.85e-11  # oda:Float ; oda:lower_limit 0 ; oda:label "dN/dE at 1 TeV (cm-2 s-1 TeV-1)" ; oda:description "Differential flux at 1 TeV of the assumed spectrum (ignored with 4fgl)"
index = 2.51  # oda:Float ; oda:lower_limit -1 ; oda:upper_limit 6 ; oda:label "Spectral index (the log-parabola's alpha)" ; oda:description "Power-law index, or the log-parabola's alpha (ignored with 4fgl)"
beta = 0.104  # oda:Float ; oda:lower_limit 0 ; oda:upper_limit 2 ; oda:label "Log-parabola beta (natural log)" ; oda:description "Curvature of the log-parabola (natural log), used only by that model"
cutoff = 10.0  # oda:Energy ; oda:unit unit:TeV ; oda:lower_limit 0.01 ; oda:label "Cut-off energy" ; oda:description "Exponential cut-off energy, used only by the cut-off power law"
E_min = 0.05  # oda:Energy ; oda:unit unit:TeV ; oda:lower_limit 0.02 ; oda:upper_limit 150 ; oda:label "Significance from" ; oda:description "Lower end of the energy range the significance is computed over"
E_max = 100.0  # oda:Energy ; oda:unit unit:TeV ; oda:lower_limit 0.02 ; oda:upper_limit 160 ; oda:label "Significance to" ; oda:description "Upper end of the energy range the significance is computed over"
irfs = "auto"  # oda:String ; oda:allowed_value "auto", "prod5", "parametrised" ; oda:label "IRFs" ; oda:description "auto: prod5 when fetched, else parametrised"
simulation = "asimov"  # oda:String ; oda:allowed_value "asimov", "poisson" ; oda:label "Simulated counts" ; oda:description "asimov: counts equal to the prediction; poisson: drawn from it (seed). The significance and livetime are the expected ones either way"
alpha = 0.2  # oda:Float ; oda:lower_limit 0.01 ; oda:upper_limit 1 ; oda:label "ON/OFF exposure ratio (alpha)" ; oda:description "0.2: five OFF regions"
seed = 0  # oda:Integer ; oda:lower_limit 0 ; oda:label "Random seed (poisson)" ; oda:description "Seed of the Poisson draw, so a simulation can be repeated"

# %%
import astropy.units as u
from astropy.coordinates import SkyCoord
from cta_plan import plan
from cta_plan.errors import AnalysisError

import astroflow

if not livetime > 0:
    raise AnalysisError(f"livetime {livetime:g} h must be positive")
if not E_min < E_max:
    raise AnalysisError(f"E_min ({E_min:g} TeV) must be below E_max ({E_max:g} TeV)")
astroflow.progress(stage="IRFs and source model", fraction=0.1)
request = plan.Request(src_name=src_name, position=SkyCoord(RA, DEC, unit="deg"), site=site,
                       zenith=zenith, livetime=livetime * u.h, model_source=model_source,
                       amplitude=amplitude, index=index, beta=beta, cutoff=cutoff,
                       energy_range=(E_min, E_max) * u.TeV, irfs=irfs, simulation=simulation,
                       seed=seed, alpha=alpha)
astroflow.progress(stage="simulation and sensitivity", fraction=0.3)
result = plan.run(request)
print(result.summary())

# %%
astroflow.progress(stage="plot", fraction=0.9)
plan_plot = plan.figure(result)

simulated_spectrum = result.spectrum
sensitivity_curve = result.sensitivity
significance = result.significance
livetime_5sigma = result.livetime_5sigma
irf_source = result.irf_source

# %% tags=["outputs"]
simulated_spectrum  # oda:Spectrum
sensitivity_curve  # oda:ODAAstropyTable
plan_plot  # oda:ODAPictureProduct
significance  # oda:Float
livetime_5sigma  # oda:Float ; oda:unit unit:h
irf_source  # oda:String
