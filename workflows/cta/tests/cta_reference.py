"""An independent differential sensitivity from IRF arrays, with plain numpy/scipy (no gammapy
dataset, maker or estimator): what the service's curve is checked against, in the tests and in
bench/cta_sensitivity.py."""

from __future__ import annotations

import numpy as np
from scipy.optimize import brentq

OFFSET_DEG = 0.5
ALPHA = 0.2
TEV_TO_ERG = 1.602176634


def li_ma(n_on: float, n_off: float, alpha: float) -> float:
    """Li & Ma (1983) eq. 17."""
    n = n_on + n_off
    term_on = n_on * np.log((1 + alpha) / alpha * n_on / n) if n_on > 0 else 0.0
    term_off = n_off * np.log((1 + alpha) * n_off / n) if n_off > 0 else 0.0
    return float(np.sqrt(max(2 * (term_on + term_off), 0.0)))


def required_excess(background: float) -> float:
    """5 sigma with OFF counts background/alpha, >= 10 counts, >= 5% of the background."""
    n_off = background / ALPHA
    excess = brentq(lambda s: li_ma(s + background, n_off, ALPHA) - 5.0, 1e-6, 1e7)
    return max(excess, 10.0, 0.05 * background)


def interp_log_energy(energy_centres, values, energy):
    """Linear in log E between bin centres, axis 0 of `values`; flat beyond the ends."""
    x = np.log(energy_centres)
    xi = np.clip(np.log(np.atleast_1d(energy)), x[0], x[-1])
    return np.array([np.interp(xi, x, col) for col in np.asarray(values).T]).T


def at_offset(offset_centres, values, offset=OFFSET_DEG):
    """Linear in offset between bin centres (last axis of `values`)."""
    if len(offset_centres) == 1:
        return values[..., 0]
    return np.apply_along_axis(lambda v: np.interp(offset, offset_centres, v), -1, values)


def centres(edges):
    return np.sqrt(edges[:-1] * edges[1:])


class IRFArrays:
    """The four IRFs as plain arrays at the source's offset (TeV, cm2, deg, per MeV s sr)."""

    def __init__(self, irf: dict, background_lat_bin: bool):
        aeff = irf["aeff"]
        self.aeff_edges = aeff.axes["energy_true"].edges.to_value("TeV")
        self.aeff_e = centres(self.aeff_edges)
        self.aeff = at_offset(aeff.axes["offset"].center.to_value("deg"),
                              aeff.quantity.to_value("cm2"))
        edisp = irf["edisp"]
        self.edisp_e = centres(edisp.axes["energy_true"].edges.to_value("TeV"))
        self.migra_edges = edisp.axes["migra"].edges.value
        self.edisp = at_offset(edisp.axes["offset"].center.to_value("deg"),
                               np.asarray(edisp.data))  # (energy_true, migra)
        psf = irf["psf"]
        self.psf_e = centres(psf.axes["energy_true"].edges.to_value("TeV"))
        off = psf.axes["offset"].center.to_value("deg")
        self.psf = {name: at_offset(off, np.asarray(psf.data[name], float))
                    for name in psf.required_parameters}
        bkg = irf["bkg"]
        self.bkg_e = centres(bkg.axes["energy"].edges.to_value("TeV"))
        data = bkg.quantity.to_value("MeV-1 s-1 sr-1")
        if background_lat_bin:  # Background3D (energy, fov_lon, fov_lat): the bin at
            lon = bkg.axes["fov_lon"].center.to_value("deg")  # fov_lon = offset, the first
            lat_idx = int(np.searchsorted(bkg.axes["fov_lat"].edges.to_value("deg"), 0.0))
            self.bkg = np.array([np.interp(OFFSET_DEG, lon, row) for row in data[:, :, lat_idx]])
        else:
            self.bkg = at_offset(bkg.axes["offset"].center.to_value("deg"), data)

    def effective_area(self, energy):
        """Interpolated; zero outside the table (no response is known there)."""
        inside = (energy >= self.aeff_edges[0]) & (energy <= self.aeff_edges[-1])
        return np.where(inside, interp_log_energy(self.aeff_e, self.aeff[:, None],
                                                  energy)[..., 0], 0.0)

    def reco_probability(self, energy_true, reco_edges):
        """P(E_reco in each bin | E_true): the migration linearly interpolated in log E
        between true-energy rows, normalised over migra (prod5's MATRIX holds probabilities
        per migra bin: it sums to 1 and integrates to 0.01; the parametrised one a density)."""
        x = np.log(self.edisp_e)
        xi = np.clip(np.log(energy_true), x[0], x[-1])
        k = int(np.clip(np.searchsorted(x, xi) - 1, 0, len(x) - 2))
        w = (xi - x[k]) / (x[k + 1] - x[k])
        pdf = (1 - w) * self.edisp[k] + w * self.edisp[k + 1]
        cdf = np.concatenate([[0.0], np.cumsum(pdf * np.diff(self.migra_edges))])
        if cdf[-1] <= 0:
            return np.zeros(len(reco_edges) - 1)
        at_edges = np.interp(reco_edges / energy_true, self.migra_edges, cdf / cdf[-1])
        return np.diff(at_edges)

    def r68(self, energy):
        pars = {k: interp_log_energy(self.psf_e, v[:, None], energy)[0, 0]
                for k, v in self.psf.items()}
        sigmas = np.array([pars["sigma_1"], pars["sigma_2"], pars["sigma_3"]])
        norms = 2 * pars["scale"] * np.array([1.0, pars["ampl_2"], pars["ampl_3"]]) * sigmas**2
        keep = (norms > 0) & (sigmas > 0)
        sigmas, norms = sigmas[keep], norms[keep] / norms[keep].sum()

        def containment(r):
            return float(np.sum(norms * (1 - np.exp(-r**2 / (2 * sigmas**2)))))
        return brentq(lambda r: containment(r) - 0.68, 1e-5, 10.0)

    def background_counts(self, lo, hi, livetime_s):
        """Rate integrated over the bin (log-log between table centres) and the ON region."""
        energy = np.geomspace(lo, hi, 41)
        rate = np.exp(np.interp(np.log(energy), np.log(self.bkg_e),
                                np.log(np.maximum(self.bkg, 1e-300))))
        integral = np.trapezoid(rate * energy * 1e6, np.log(energy))  # per s sr (MeV -> TeV)
        r68 = np.deg2rad(self.r68(np.sqrt(lo * hi)))
        return integral * 2 * np.pi * (1 - np.cos(r68)) * livetime_s


def independent_sensitivity(arrays: IRFArrays, reco_edges, livetime_h):
    """E^2 dN/dE (erg cm-2 s-1) per reconstructed bin for an index-2 power law."""
    livetime_s = livetime_h * 3600.0
    true_edges = np.geomspace(0.005, 500.0, 801)
    true_c = centres(true_edges)
    flux = 1.0 / true_edges[:-1] - 1.0 / true_edges[1:]  # integral of E^-2, cm-2 s-1
    migration = np.array([arrays.reco_probability(e, reco_edges) for e in true_c])
    signal = livetime_s * 0.68 * (flux * arrays.effective_area(true_c)) @ migration
    out = []
    for i, (lo, hi) in enumerate(zip(reco_edges[:-1], reco_edges[1:], strict=True)):
        background = arrays.background_counts(lo, hi, livetime_s)
        excess = required_excess(background)
        out.append(excess / signal[i] * TEV_TO_ERG)  # E^2 x E^-2 = 1 TeV cm-2 s-1
    return np.array(out)
