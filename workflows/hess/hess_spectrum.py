# %% [markdown]
# # H.E.S.S. source spectrum (reflected regions)
# The gamma-ray spectrum of a point-like source from the H.E.S.S. DL3 release in the data
# folder (the public DR1, or a synthetic release in its layout). Each observation pointed
# within `max_offset` of the position and overlapping T1-T2 is reduced with gammapy: counts
# in a circular on-region, background from reflected regions of the same offset (known
# VHE sources excluded), safe energy range where the effective area exceeds 10% of its
# maximum. The stacked on/off spectrum is fitted (WStat, forward-folded) with a power law, a
# log-parabola or a power law with exponential cut-off, and flux points with 1-sigma errors
# are estimated in `n_bins` bins (2-sigma upper limits where TS < 4). Excess and Li & Ma
# significance are counted over the whole energy range. `sed` follows astroflow's SED
# convention (astroflow-sed/1): the points and the fitted model with its 1-sigma band, so the
# multi-messenger SED takes it (list hess-spectrum in its services).

# %% tags=["parameters"]
src_name = "Crab Nebula"  # oda:AstrophysicalObject ; oda:description "Name of the source, shown in the products (the position comes from RA and Dec)"
RA = 83.633  # oda:PointOfInterestRA ; oda:description "Right ascension (ICRS) of the position, in degrees"
DEC = 22.0145  # oda:PointOfInterestDEC ; oda:description "Declination (ICRS) of the position, in degrees"
T1 = "2004-01-01T00:00:00"  # oda:StartTimeISOT ; oda:description "Start of the time range (UTC)"
T2 = "2026-12-31T00:00:00"  # oda:EndTimeISOT ; oda:description "End of the time range (UTC)"
radius = 0.11  # oda:Angle ; oda:unit unit:deg ; oda:lower_limit 0.02 ; oda:upper_limit 0.5 ; oda:label "On-region radius" ; oda:description "Radius of the ON region around RA, Dec (OFF regions are reflected copies)"
max_offset = 2.0  # oda:Angle ; oda:unit unit:deg ; oda:lower_limit 0.1 ; oda:upper_limit 2.5 ; oda:label "Max pointing offset" ; oda:description "Observations pointed farther than this from RA, Dec are not used"
max_observations = 50  # oda:Integer ; oda:lower_limit 1 ; oda:upper_limit 500 ; oda:label "Max observations" ; oda:description "The ones pointed closest to RA, Dec are kept"
E_min = 0.3  # oda:Energy ; oda:unit unit:TeV ; oda:lower_limit 0.1 ; oda:upper_limit 100 ; oda:label "E_min" ; oda:description "Lower bound of reconstructed energy (each observation's safe threshold applies too)"
E_max = 100.0  # oda:Energy ; oda:unit unit:TeV ; oda:lower_limit 0.1 ; oda:upper_limit 100 ; oda:label "E_max" ; oda:description "Upper bound of reconstructed energy"
n_bins = 8  # oda:Integer ; oda:lower_limit 1 ; oda:upper_limit 20 ; oda:label "Flux points" ; oda:description "Number of log-spaced flux-point bins between E_min and E_max"
model = "power_law"  # oda:String ; oda:allowed_value "power_law", "log_parabola", "cutoff_power_law" ; oda:label "Spectral model" ; oda:description "Spectral model fitted to the flux points"

# %%
import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord
from hess_dl3 import spectrum
from hess_dl3.data import release_dir, release_info
from hess_dl3.reduction import on_region
from hess_dl3.selection import select_observations, time_range
from hess_dl3.stacking import stacked_spectrum

import astroflow

t_start, t_stop = time_range(T1, T2)
e_min, e_max = E_min * u.TeV, E_max * u.TeV
spectrum.check_energy_range(e_min, e_max)
spectrum.spectral_model(model)  # an unknown name fails here, before any data is read
release = release_dir()
attribution = release_info().get("attribution", "")
source = src_name.strip() or "source"

selection = select_observations(release, SkyCoord(RA, DEC, unit="deg"),
                                max_offset=max_offset * u.deg, t1=t_start, t2=t_stop,
                                max_observations=int(max_observations))
astroflow.progress(stage="reduction", fraction=0.1,
                   message=f"{len(selection.obs_ids)} observations")
reduction = stacked_spectrum(
    selection, release, on_region(RA, DEC, radius), e_min, e_max,
    progress=lambda done, total: astroflow.progress(stage="reduction",
                                                    fraction=0.1 + 0.5 * done / total))
print(f"observations: {len(reduction.obs_ids)} used"
      + (" (their stack from the cache)" if reduction.from_cache
         else f" ({len(reduction.reduced)} reduced now)"))
for obs_id, reason in reduction.dropped.items():
    print(f"observation {obs_id} dropped: {reason}")

# %%
astroflow.progress(stage="fit", fraction=0.6)
summary, stacked = reduction.summary, reduction.stacked
outcome = spectrum.fit(stacked, model, source)
fit_results = spectrum.fit_table(outcome, summary, model, attribution)
fit_results.meta.update({"source": source, "obs_ids": reduction.obs_ids,
                         "on_region_radius_deg": radius})
print(fit_results)

astroflow.progress(stage="flux points", fraction=0.7)
edges = spectrum.energy_edges(stacked, e_min, e_max, int(n_bins))
points = spectrum.flux_points(stacked, source, edges)
curve = np.geomspace(edges[0].value, edges[-1].value, 40) * u.TeV
flux_points = spectrum.sed(points, outcome.model.spectral_model, curve, attribution)
flux_points.meta.update({"source": source, "model": model, "ra": RA, "dec": DEC})
significance = float(summary.significance)
excess = float(summary.excess)

# %%
import matplotlib.pyplot as plt

astroflow.progress(stage="plot", fraction=0.9)
per_energy = spectrum.counts_per_energy(stacked)
spectrum_plot, (ax_counts, ax_sed) = plt.subplots(1, 2, figsize=(11, 4.5))
lo = per_energy["energy_min"].to_value(u.TeV)
hi = per_energy["energy_max"].to_value(u.TeV)
edges_all = np.append(lo, hi[-1])
for column, style in (("n_on", dict(color="k", label="ON counts")),
                      ("background", dict(color="C1", label="background (α·OFF)")),
                      ("excess", dict(color="C0", label="excess"))):
    ax_counts.stairs(np.asarray(per_energy[column], float), edges_all, **style)
used = np.asarray(per_energy["safe"], bool)
if used.any():
    ax_counts.axvspan(lo[used].min(), hi[used].max(), color="0.9", zorder=0,
                      label="fitted range")
ax_counts.set_xscale("log")
ax_counts.set_xlabel("Reconstructed energy (TeV)")
ax_counts.set_ylabel("Counts per bin")
ax_counts.set_title(f"excess {excess:.0f}, {significance:.1f}σ (Li & Ma)", fontsize=10)
ax_counts.legend(fontsize=8)

model_rows = flux_points[flux_points["kind"] == "model"]
point_rows = flux_points[(flux_points["kind"] == "point") & ~flux_points["is_ul"]]
limit_rows = flux_points[(flux_points["kind"] == "point") & flux_points["is_ul"]]
e_model = model_rows["energy"].to_value(u.TeV)
ax_sed.fill_between(e_model, (model_rows["e2dnde"] - model_rows["e2dnde_errn"]).value,
                    (model_rows["e2dnde"] + model_rows["e2dnde_errp"]).value, color="C0",
                    alpha=0.3, lw=0, label="fit, 1σ band")
ax_sed.plot(e_model, model_rows["e2dnde"].value, color="C0", label=f"{model}")
for rows, kw in ((point_rows, dict(fmt="o", label="flux points")),
                 (limit_rows, dict(fmt="none", uplims=True, label="2σ upper limits"))):
    if len(rows) == 0:
        continue
    e = rows["energy"].to_value(u.TeV)
    xerr = [e - rows["energy_min"].to_value(u.TeV), rows["energy_max"].to_value(u.TeV) - e]
    yerr = ([rows["e2dnde_errn"].value, rows["e2dnde_errp"].value] if not kw.get("uplims")
            else 0.3 * rows["e2dnde"].value)
    ax_sed.errorbar(e, rows["e2dnde"].value, xerr=xerr, yerr=yerr, color="k", **kw)
ax_sed.set_xscale("log")
ax_sed.set_yscale("log")
ax_sed.set_xlabel("Energy (TeV)")
ax_sed.set_ylabel("E² dN/dE (erg cm⁻² s⁻¹)")
ax_sed.set_title(f"{source}: H.E.S.S., {len(reduction.obs_ids)} observations, "
                 f"{summary.livetime.to_value(u.h):.1f} h", fontsize=10)
ax_sed.legend(fontsize=8)
ax_sed.grid(alpha=0.3, which="both")
spectrum_plot.text(0.01, 0.01, attribution, fontsize=7, color="0.4")
# Fixed margins for this fixed size: tight_layout measures every tick label first, half a
# second of a warm request on log axes spanning several decades.
spectrum_plot.subplots_adjust(left=0.07, right=0.99, bottom=0.16, top=0.92, wspace=0.2)

# %% tags=["outputs"]
sed = flux_points  # oda:Spectrum
fit_results  # oda:ODAAstropyTable
spectrum_plot  # oda:ODAPictureProduct
significance  # oda:Float
excess  # oda:Float
