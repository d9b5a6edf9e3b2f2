"""The service's products: the light curve with background and blocks, and its picture."""

from __future__ import annotations

import numpy as np
from astropy import units as u
from astropy.table import Table

from grb_detect.detection import Result


def light_curve_table(result: Result) -> Table:
    """Per bin: time (s from t_ref), bin width, rate ± error, background, block rate, and
    the id of the detection the bin belongs to (0: none)."""
    lc, bkg = result.lc, result.background
    block_rate = np.empty(len(lc))
    for row in result.blocks:
        block_rate[row["i_start"]:row["i_stop"]] = row["rate"]
    det_id = np.zeros(len(lc), int)
    for row in result.detections:
        det_id[(lc.time >= row["t_start"]) & (lc.time < row["t_stop"])] = row["id"]
    table = Table()
    table["time"] = lc.time * u.s
    table["time_del"] = lc.dt * u.s
    table["rate"] = lc.rate * u.ct / u.s
    table["rate_err"] = lc.rate_err * u.ct / u.s
    if lc.is_counts:
        table["counts"] = lc.counts * u.ct
    table["background_rate"] = bkg.rate * u.ct / u.s
    table["block_rate"] = block_rate * u.ct / u.s
    table["detection_id"] = det_id
    table.meta.update({"t_ref": lc.t_ref.utc.isot if lc.t_ref is not None else "",
                       "source": lc.source, "rebin": result.rebin_factor,
                       "bkg_deg": bkg.degree, "p0": result.p0,
                       "thresh": result.threshold_sigma,
                       "comment": "time: bin centres in seconds from t_ref (UTC); rebin: "
                                  "bins summed; bkg_deg: background polynomial degree; "
                                  "thresh: detection threshold (sigma)"})
    return table


def figure(result: Result, title: str = ""):
    """Data, background, blocks, detected intervals and T90 bounds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lc, bkg = result.lc, result.background
    fig, (ax, ax_sig) = plt.subplots(2, 1, figsize=(10, 6), sharex=True,
                                     gridspec_kw={"height_ratios": [3, 1]})
    ax.step(lc.time, lc.rate, where="mid", color="0.65", lw=0.6, zorder=1,
            label=f"data ({np.median(lc.dt):.3g} s bins)")
    edges = np.concatenate([[row["t_start"] for row in result.blocks],
                            [result.blocks["t_stop"][-1]]])
    ax.stairs(np.asarray(result.blocks["rate"]), edges, color="C0", lw=1.8, baseline=None, zorder=3,
              label=f"Bayesian blocks (p0 = {result.p0:g})")
    ax.plot(lc.time, bkg.rate, color="C1", lw=1.4, zorder=4,
            label=f"background (degree {bkg.degree})")
    for row in result.detections:
        ax.axvspan(row["t_start"], row["t_stop"], color="C3", alpha=0.15)
        for t in (row["t05"], row["t95"]):
            if np.isfinite(t):
                ax.axvline(t, color="C3", ls="--", lw=1)
        ax.annotate(f"#{row['id']}: {row['significance']:.1f}σ\nT90 = {row['t90']:.2f}"
                    f" ± {row['t90_err']:.2f} s", (row["t_stop"], row["peak_rate"] +
                                                     np.interp(row["peak_time"], lc.time,
                                                               bkg.rate)),
                    fontsize=8, color="C3", xytext=(4, -10), textcoords="offset points")
    if len(result.detections):
        ax.plot([], [], color="C3", ls="--", label="T90 bounds (5 %, 95 %)")
    ax.set_ylabel("Rate (counts/s)")
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(alpha=0.3)
    where = "" if lc.t_ref is None else f" from {lc.t_ref.utc.isot} UTC"
    n = len(result.detections)
    ax.set_title(title or f"{lc.source}: {n} detection{'s' if n != 1 else ''} above "
                 f"{result.threshold_sigma:g}σ", fontsize=10)
    sig = np.asarray(result.blocks["significance"])
    ax_sig.stairs(sig, edges, color="C0", baseline=None)
    ax_sig.axhline(result.threshold_sigma, color="C3", lw=1, ls=":")
    ax_sig.set_ylabel("block σ")
    ax_sig.set_xlabel(f"Time (s{where})")
    ax_sig.grid(alpha=0.3)
    fig.tight_layout()
    return fig
