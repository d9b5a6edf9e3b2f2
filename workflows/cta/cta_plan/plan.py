"""One observation plan: the request's checks, then IRFs → expected counts → significance,
livetime to 5 sigma, sensitivity curve and a simulated spectrum fitted back."""

from __future__ import annotations

from dataclasses import dataclass, field

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord
from astropy.table import QTable, Table

from . import irfs, sensitivity, simulate, sky, visibility
from .errors import AnalysisError

MESSENGER = "gamma-rays"
POINT_STRIDE = 2  # flux points over two reconstructed-energy bins (2.5 per decade)
UL_TS = 4.0
UL_SIGMA = 2.0
EBL_NOTE = ("EBL absorption not applied: gammapy's EBL models read tables from gammapy-data, "
            "which is not available offline")


@dataclass
class Request:
    src_name: str
    position: SkyCoord
    site: str
    zenith: float
    livetime: u.Quantity
    model_source: str = "power_law"
    amplitude: float = 3.0e-11
    index: float = 2.5
    beta: float = 0.1
    cutoff: float = 10.0
    energy_range: u.Quantity = field(default_factory=lambda: [0.05, 100.0] * u.TeV)
    irfs: str = "auto"
    simulation: str = "asimov"
    seed: int = 0
    alpha: float = simulate.ALPHA


@dataclass
class Result:
    request: Request
    irf_set: irfs.IRFSet
    model: object
    model_label: str
    signal: np.ndarray
    background: np.ndarray
    in_range: np.ndarray
    significance: float
    livetime_5sigma: float
    sensitivity: Table
    spectrum: QTable
    fit_parameters: Table
    culmination_zenith: float

    @property
    def systematics_note(self) -> str:
        s, b = self.signal[self.in_range].sum(), self.background[self.in_range].sum()
        if s >= sensitivity.BKG_SYST * b:
            return "none"
        return (f"the excess is {s / b:.1%} of the background in the range, below the "
                f"{sensitivity.BKG_SYST:.0%} background systematics: the significance and "
                "livetime assume a perfectly known background")

    @property
    def irf_source(self) -> str:
        return self.irf_set.label

    @property
    def instrument(self) -> str:
        return f"CTAO-{self.irf_set.site}"

    def significance_at(self, hours: np.ndarray) -> np.ndarray:
        """Integrated Li & Ma significance after `hours` (counts scale with time)."""
        k = np.asarray(hours, float) / self.request.livetime.to_value(u.h)
        s, b = self.signal[self.in_range].sum(), self.background[self.in_range].sum()
        return np.array([sensitivity.li_ma(ki * s, ki * b, self.request.alpha) for ki in k])

    def summary(self) -> str:
        lines = [f"{self.request.src_name}: {self.model_label}",
                 f"IRFs: {self.irf_source}",
                 f"signal {self.signal[self.in_range].sum():.1f}, background "
                 f"{self.background[self.in_range].sum():.1f} counts in "
                 f"{self.request.livetime.to_value(u.h):g} h (alpha {self.request.alpha:g})",
                 f"significance {self.significance:.2f} sigma; 5 sigma after "
                 f"{self.livetime_5sigma:.4g} h", EBL_NOTE]
        if self.irf_set.zenith_note:
            lines.append(self.irf_set.zenith_note)
        if self.irf_set.caveat:
            lines.append(self.irf_set.caveat)
        if self.systematics_note != "none":
            lines.append(self.systematics_note)
        return "\n".join(lines)


def source_model(request: Request):
    """(gammapy spectral model, a label saying where it comes from)."""
    if request.model_source == "4fgl":
        model, name, sep = sky.from_4fgl(request.position.icrs.ra.deg,
                                         request.position.icrs.dec.deg)
        return model, (f"4FGL-DR4 {name} ({sep:.2f} deg away), its "
                       f"{type(model).__name__} extrapolated to CTAO energies")
    model = sky.spectral_model(request.model_source, request.amplitude, request.index,
                               request.beta, request.cutoff)
    return model, f"{request.model_source} model"


def run(request: Request) -> Result:
    irfs.check_site(request.site)
    if not request.livetime > 0 * u.h:
        raise AnalysisError(f"livetime {request.livetime:g} must be positive")
    low, high = request.energy_range.to_value(u.TeV)
    if not 0 < low < high:
        raise AnalysisError(f"energy range {low:g}-{high:g} TeV is empty")
    culmination = visibility.check(request.src_name, request.position.icrs.dec.deg,
                                   request.site, request.zenith)
    model, label = source_model(request)
    irf_set = irfs.load(request.site, request.zenith, request.irfs)
    prediction = simulate.predict(irf_set, request.position, request.livetime)
    signal, background = simulate.counts(prediction, model)
    reco = prediction.dataset.counts.geom.axes["energy"]
    centres = reco.center.to_value(u.TeV)
    in_range = (centres >= low) & (centres <= high) & (background > 0)
    if not in_range.any():
        raise AnalysisError(f"no energy bin with background between {low:g} and {high:g} TeV")
    significance = sensitivity.integrated(signal[in_range], background[in_range],
                                          request.alpha)
    t5 = sensitivity.livetime_for(sensitivity.N_SIGMA, signal[in_range],
                                  background[in_range], request.alpha,
                                  request.livetime.to_value(u.h))
    dataset = simulate.on_off(prediction, model, request.simulation, request.seed,
                              request.alpha)
    curve = sensitivity_table(sensitivity.curve(dataset), irf_set, request)
    fit = simulate.fit_back(dataset)
    spectrum = spectrum_table(dataset, model, signal, background, reco, irf_set, label,
                              request, bool(fit.success))
    spectrum.meta["fit"] = ("converged" if fit.success else
                            f"did not converge ({fit.message})")
    result = Result(request, irf_set, model, label, signal, background, in_range,
                    significance, t5, curve, spectrum, fit.parameters.to_table(), culmination)
    spectrum.meta["systematics_note"] = result.systematics_note
    spectrum.meta["significance_range_TeV"] = [float(low), float(high)]
    return result


def sensitivity_table(table: Table, irf_set: irfs.IRFSet, request: Request) -> QTable:
    out = QTable()
    out["energy"] = table["e_ref"].quantity.to(u.TeV)
    out["energy_min"] = table["e_min"].quantity.to(u.TeV)
    out["energy_max"] = table["e_max"].quantity.to(u.TeV)
    out["e2dnde"] = table["e2dnde"].quantity.to(u.Unit("erg cm-2 s-1"))
    out["excess"] = np.asarray(table["excess"], float)
    out["background"] = np.asarray(table["background"], float)
    out["criterion"] = np.asarray(table["criterion"], str)
    out.meta.update({
        "description": (f"differential sensitivity of CTAO-{irf_set.site} for "
                        f"{request.livetime.to_value(u.h):g} h: {sensitivity.N_SIGMA:g} sigma "
                        f"(Li & Ma, alpha {request.alpha:g}), >= {sensitivity.GAMMA_MIN:g} "
                        f"excess counts, excess >= {sensitivity.BKG_SYST:.0%} of the "
                        "background; E^2 dN/dE of an index-2 power law at the bin centre; ON "
                        "region the 68% PSF containment"),
        "irf_source": irf_set.label, "livetime_h": request.livetime.to_value(u.h),
        **zenith_meta(irf_set, request)})
    return out


def zenith_meta(irf_set: irfs.IRFSet, request: Request) -> dict:
    return {"zenith_requested_deg": float(request.zenith),
            "irf_zenith_deg": irfs.IRF_ZENITH_DEG,
            "zenith_note": irf_set.zenith_note or "the IRFs are those of the zenith asked",
            "irf_caveat": irf_set.caveat or "none"}


def simulated_points(dataset, signal, background, reco, fit_ok: bool):
    """(flux-point table with the counts of each point's bins, or None; what the points are)."""
    if not fit_ok:
        return None, "no simulated points: the fit of the simulated counts did not converge"
    has_counts = (signal >= 1.0) & (background > 0)
    if not has_counts.any():
        return None, ("no simulated points: the source gives less than one count per energy "
                      "bin in this livetime")
    first, last = np.flatnonzero(has_counts)[[0, -1]]
    index = np.arange(first, last + 2, POINT_STRIDE)
    if index[-1] != last + 1:
        index = np.append(index, last + 1)
    points = simulate.flux_points(dataset, reco.edges[index])
    table = QTable(points.to_table(sed_type="e2dnde", format="gadf-sed"))
    bands = list(zip(index[:-1], index[1:], strict=True))
    table["npred_signal"] = [float(signal[a:b].sum()) for a, b in bands]
    table["npred_background"] = [float(background[a:b].sum()) for a, b in bands]
    return table, ("simulated ON/OFF counts fitted back per band (gammapy "
                   "FluxPointsEstimator); 1-sigma (parabolic) errors; where TS < 4 a limit: "
                   "norm + 2 sigma")


def spectrum_table(dataset, model, signal, background, reco, irf_set, label, request,
                   fit_ok: bool = True):
    """The SED table: the model at each bin centre (kind 'model', with the predicted signal
    and background counts) and the simulated flux points fitted back (kind 'point')."""
    from astroflow.products.sed import sed_table

    table, note = simulated_points(dataset, signal, background, reco, fit_ok)
    if table is None:
        table = QTable({"e_ref": [] * u.TeV, "e_min": [] * u.TeV, "e_max": [] * u.TeV,
                        "e2dnde": [] * u.Unit("erg cm-2 s-1"),
                        "e2dnde_err": [] * u.Unit("erg cm-2 s-1"), "ts": [], "sqrt_ts": [],
                        "npred_signal": [], "npred_background": []})
    e_ref = u.Quantity(table["e_ref"])
    is_ul = np.asarray(table["ts"], float) < UL_TS
    err = u.Quantity(table["e2dnde_err"])
    e2 = np.where(is_ul, u.Quantity(table["e2dnde"]) + UL_SIGMA * err,
                  u.Quantity(table["e2dnde"]))
    point_signal = np.asarray(table["npred_signal"], float)
    point_background = np.asarray(table["npred_background"], float)
    zero = np.zeros(len(table)) * err.unit
    centres = reco.center
    model_e2 = (model(centres) * centres ** 2).to(u.Unit("erg cm-2 s-1"))
    n_model, n_point = len(centres), len(table)
    sed = sed_table(
        energy=np.concatenate([centres.to(u.TeV), e_ref.to(u.TeV)]),
        energy_min=np.concatenate([reco.edges_min.to(u.TeV),
                                   u.Quantity(table["e_min"]).to(u.TeV)]),
        energy_max=np.concatenate([reco.edges_max.to(u.TeV),
                                   u.Quantity(table["e_max"]).to(u.TeV)]),
        e2dnde=np.concatenate([model_e2, e2.to(model_e2.unit)]),
        e2dnde_errn=np.concatenate([np.zeros(n_model) * model_e2.unit,
                                    np.where(is_ul, zero, err).to(model_e2.unit)]),
        e2dnde_errp=np.concatenate([np.zeros(n_model) * model_e2.unit,
                                    np.where(is_ul, zero, err).to(model_e2.unit)]),
        is_ul=np.concatenate([np.zeros(n_model, bool), is_ul]),
        kind=["model"] * n_model + ["point"] * n_point,
        messenger=MESSENGER, instrument=f"CTAO-{irf_set.site}")
    sed["npred_signal"] = np.concatenate([signal, point_signal])
    sed["npred_background"] = np.concatenate([background, point_background])
    sed["sqrt_ts"] = np.concatenate([np.full(n_model, np.nan),
                                     np.asarray(table["sqrt_ts"], float)])
    sed.meta.update({
        "source": request.src_name, "model": label, "irf_source": irf_set.label,
        "livetime_h": request.livetime.to_value(u.h), "alpha": request.alpha,
        "simulation": request.simulation, "ebl": EBL_NOTE, **zenith_meta(irf_set, request),
        "points": note,
        "model_rows": "the input model at each reconstructed-energy bin centre with the "
                      "predicted signal and background counts of the bin"})
    return sed


def figure(result: Result):
    """The source SED against the sensitivity curve, and significance against livetime."""
    import matplotlib.pyplot as plt

    fig, (ax, ax_t) = plt.subplots(1, 2, figsize=(11, 4.5))
    sed = result.spectrum
    model = sed[sed["kind"] == "model"]
    ax.plot(model["energy"].value, model["e2dnde"].value, color="C0", label=result.model_label)
    points = sed[(sed["kind"] == "point")]
    det = ~np.asarray(points["is_ul"], bool)
    ax.errorbar(points["energy"].value[det], points["e2dnde"].value[det],
                yerr=points["e2dnde_errn"].value[det], fmt="o", color="k",
                label=f"simulated ({result.request.simulation})")
    if (~det).any():
        ax.errorbar(points["energy"].value[~det], points["e2dnde"].value[~det],
                    yerr=0.3 * points["e2dnde"].value[~det], uplims=True, fmt="none",
                    color="k")
    sens = result.sensitivity
    edges = np.append(sens["energy_min"].to_value(u.TeV), sens["energy_max"][-1].to_value(u.TeV))
    ax.stairs(sens["e2dnde"].value, edges, color="C3", baseline=None,
              label=f"sensitivity {result.request.livetime.to_value(u.h):g} h")
    ax.set(xscale="log", yscale="log", xlabel="Energy (TeV)",
           ylabel="E² dN/dE (erg cm⁻² s⁻¹)")
    ax.set_title(f"{result.request.src_name}, {result.instrument}", fontsize=10)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3, which="both")
    t5 = result.livetime_5sigma
    low, high = 1e-3, 1e3
    if np.isfinite(t5):
        low, high = min(low, t5 / 3), max(high, t5 * 3)
    hours = np.geomspace(low, high, 120)
    ax_t.plot(hours, result.significance_at(hours), color="C0")
    ax_t.axhline(5, color="C3", ls="--", lw=1, label="5σ")
    if np.isfinite(result.livetime_5sigma):
        ax_t.axvline(result.livetime_5sigma, color="C3", lw=1,
                     label=f"{result.livetime_5sigma:.3g} h")
    ax_t.axvline(result.request.livetime.to_value(u.h), color="k", lw=1, ls=":",
                 label=f"{result.significance:.1f}σ in "
                       f"{result.request.livetime.to_value(u.h):g} h")
    ax_t.set(xscale="log", yscale="log", xlabel="Livetime (h)",
             ylabel="Integrated significance (σ)")
    ax_t.legend(fontsize=7)
    ax_t.grid(alpha=0.3, which="both")
    fig.suptitle(result.irf_source, fontsize=8)
    fig.tight_layout()
    return fig
