# %% [markdown]
# # Fermi-LAT 4FGL-DR4 source SED
# The spectral energy distribution of a 4FGL-DR4 source (the one named, or the nearest to the
# position): the catalogue's spectral model with its 1-sigma butterfly, and the eight band flux
# points (50 MeV-1 TeV) with 2-sigma upper limits where the catalogue gives limits, as
# E² dN/dE in erg cm⁻² s⁻¹. The `sed` table follows astroflow's SED convention
# (astroflow-sed/1), so it joins the multi-messenger SED.

# %% tags=["parameters"]
src_name = "Mkn 421"  # oda:AstrophysicalObject ; oda:description "Name of the source, shown in the products (the position comes from RA and Dec)"
RA = 166.1138  # oda:PointOfInterestRA ; oda:description "Right ascension (ICRS) of the position, in degrees"
DEC = 38.2088  # oda:PointOfInterestDEC ; oda:description "Declination (ICRS) of the position, in degrees"
match_by = "auto"  # oda:String ; oda:allowed_value "auto", "name", "position" ; oda:label "Find the source by" ; oda:description "auto: by name when src_name is a 4FGL name or association, else the nearest source to RA, Dec"
match_radius = 0.5  # oda:Angle ; oda:unit unit:deg ; oda:lower_limit 0 ; oda:upper_limit 5 ; oda:label "Match radius" ; oda:description "Largest distance from RA, Dec to the source found by position"
E_min = 0.05  # oda:Energy ; oda:unit unit:GeV ; oda:lower_limit 0.05 ; oda:upper_limit 1000 ; oda:label "Model from" ; oda:description "Lowest energy of the model curve"
E_max = 1000.0  # oda:Energy ; oda:unit unit:GeV ; oda:lower_limit 0.05 ; oda:upper_limit 1000 ; oda:label "Model to" ; oda:description "Highest energy of the model curve"
n_model_points = 30  # oda:Integer ; oda:lower_limit 2 ; oda:upper_limit 500 ; oda:label "Model energies" ; oda:description "Number of energies at which the catalogue's spectral model and its band are drawn"

# %%
import astropy.units as u
import numpy as np
from fermi_lat.catalogue import Catalogue
from fermi_lat.errors import AnalysisError

import astroflow
from astroflow.products.sed import sed_table

if not E_min < E_max:
    raise AnalysisError(f"E_min ({E_min:g} GeV) must be below E_max ({E_max:g} GeV)")
catalogue = Catalogue.load()
row, how = catalogue.find(src_name, RA, DEC, match_radius, match_by)
name, label = str(catalogue.names[row]), catalogue.label(row)
print(how)
astroflow.progress(stage="spectral model", fraction=0.3)

points = catalogue.flux_points(row)
energies = np.geomspace(E_min, E_max, n_model_points) * u.GeV
model_e2, model_errn, model_errp = catalogue.butterfly(row, energies)
model = catalogue.spectral_model(row)
sed = sed_table(
    energy=np.concatenate([points["e_ref"].to(u.TeV), energies.to(u.TeV)]),
    energy_min=np.concatenate([points["e_min"].to(u.TeV), energies.to(u.TeV)]),
    energy_max=np.concatenate([points["e_max"].to(u.TeV), energies.to(u.TeV)]),
    e2dnde=np.concatenate([points["e2dnde"], model_e2]),
    e2dnde_errn=np.concatenate([points["e2dnde_errn"], model_errn]),
    e2dnde_errp=np.concatenate([points["e2dnde_errp"], model_errp]),
    is_ul=np.concatenate([points["is_ul"], np.zeros(len(energies), bool)]),
    kind=["point"] * len(points["e_ref"]) + ["model"] * len(energies),
    messenger="gamma-rays", instrument="Fermi-LAT",
)
sed.meta.update({
    "source": name, "association": catalogue.association(row), "found": how,
    "spectral_model": str(catalogue.value("SpectrumType", row)),
    "gammapy_model": type(model).__name__,
    "catalogue": "4FGL-DR4 (gll_psc_v35.fit)",
    "points": "nuFnu_Band; upper limits (is_ul) are 2-sigma, flux + 2 x upper error",
    "model_band": "1-sigma butterfly from the catalogue's parameter uncertainties",
})
energy_flux = float(catalogue.value("Energy_Flux100", row))  # erg cm-2 s-1, 100 MeV-100 GeV
spectral_index = catalogue.model_index(row)

# %%
import matplotlib.pyplot as plt

astroflow.progress(stage="plot", fraction=0.7)
sed_plot, ax = plt.subplots(figsize=(7, 4.5))
e_gev = energies.to_value(u.GeV)
ax.fill_between(e_gev, (model_e2 - model_errn).value, (model_e2 + model_errp).value,
                color="C0", alpha=0.3, lw=0, label="model, 1σ band")
ax.plot(e_gev, model_e2.value, color="C0", label=f"{sed.meta['spectral_model']} model")
det = ~points["is_ul"]
ref = points["e_ref"].to_value(u.GeV)
xerr = np.array([ref - points["e_min"].to_value(u.GeV), points["e_max"].to_value(u.GeV) - ref])
ax.errorbar(ref[det], points["e2dnde"].value[det], xerr=xerr[:, det],
            yerr=[points["e2dnde_errn"].value[det], points["e2dnde_errp"].value[det]],
            fmt="o", color="k", label="band flux points")
if (~det).any():
    ax.errorbar(ref[~det], points["e2dnde"].value[~det], xerr=xerr[:, ~det],
                yerr=0.3 * points["e2dnde"].value[~det], uplims=True, fmt="none", color="k",
                label="2σ upper limits")
ax.set_xscale("log")
ax.set_yscale("log")
ax.set_xlabel("Energy (GeV)")
ax.set_ylabel("E² dN/dE (erg cm⁻² s⁻¹)")
ax.set_title(f"{label}: 4FGL-DR4", fontsize=10)
ax.legend(fontsize=8)
ax.grid(alpha=0.3, which="both")

# %% tags=["outputs"]
sed  # oda:ODAAstropyTable
sed_plot  # oda:ODAPictureProduct
energy_flux  # oda:Float ; oda:unit unit:erg_cm-2_s-1
spectral_index  # oda:Float
