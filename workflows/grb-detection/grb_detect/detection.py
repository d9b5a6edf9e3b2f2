"""Excess significance of blocks, grouping into detections, T90.

Significance of an interval with ``n`` counts over a background of ``b`` counts: the one-sided
Poisson tail probability P(N >= n | b) turned into Gaussian sigma (exact for counts; signed,
negative below the background), reduced by sqrt(b / (b + var_b)) for the uncertainty of the
fitted background. Rates with errors use the Gaussian excess / error. This is not Li & Ma: the
background is a fit over many more bins than the interval (alpha -> 0), where Li & Ma tends to
the Poisson tail above.

Adjacent blocks each above the background by at least ``GROUP_SIGMA`` form a group; the
detection is the group's most significant contiguous run of blocks (its interval, counts and
significance), reported when that significance reaches ``threshold_sigma``. T90 comes from the cumulative excess counts
over the detection padded by twice its duration on each side: the time between 5 % and 95 % of
the total, with an uncertainty from 200 Poisson (or Gaussian) resamples of the data.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from astropy.table import Table
from scipy import stats

from grb_detect.background import Background, fit_background
from grb_detect.blocks import block_edges
from grb_detect.errors import AnalysisError
from grb_detect.lightcurve import LightCurve

GROUP_SIGMA = 1.0    # blocks at least this far above the background join a detection
EXCLUDE_SIGMA = 2.0 # blocks at least this significant are kept out of the background refit
MAX_SIGMA = 38.0      # beyond this the Poisson tail underflows: Gaussian approximation


def poisson_significance(n, b) -> np.ndarray:
    """Signed Gaussian-equivalent significance of ``n`` counts over an expected ``b``."""
    n = np.atleast_1d(np.asarray(n, float))
    b = np.atleast_1d(np.maximum(np.asarray(b, float), 1e-12))
    up = n >= b
    p = np.where(up, stats.poisson.sf(np.ceil(n) - 1, b), stats.poisson.cdf(np.floor(n), b))
    z = stats.norm.isf(np.clip(p, 1e-300, 0.5))
    gauss = (n - b) / np.sqrt(b)
    z = np.where(p < 1e-300, np.abs(gauss), z)
    z = np.where((p >= 0.5) | (n == b), 0.0, z)
    return np.where(up, z, -z)


def interval_stats(lc: LightCurve, bkg: Background, i0: int, i1: int) -> dict:
    """Counts, background, excess and significance of bins ``i0:i1``."""
    sl = slice(i0, i1)
    b = float(np.sum(bkg.rate[sl] * lc.dt[sl]))
    var_b = float(np.sum(bkg.rate_err[sl] * lc.dt[sl])) ** 2
    if lc.is_counts:
        n = float(np.sum(lc.counts[sl]))
        z = float(poisson_significance(n, b)[0]) * np.sqrt(b / (b + var_b)) if b > 0 else 0.0
        err = np.sqrt(max(n, 1.0) + var_b)
    else:
        n = float(np.sum(lc.rate[sl] * lc.dt[sl]))
        err = float(np.sqrt(np.sum((lc.rate_err[sl] * lc.dt[sl]) ** 2) + var_b))
        z = (n - b) / err
    return {"counts": n, "background": b, "excess": n - b, "excess_err": float(err),
            "significance": float(z)}


@dataclass
class Result:
    lc: LightCurve
    background: Background
    edges: np.ndarray                       # block edges (bin indices)
    blocks: Table                           # one row per block
    detections: Table                       # one row per detection above the threshold
    candidates: list = field(default_factory=list)   # every group, detected or not
    rebin_factor: int = 1
    threshold_sigma: float = 6.0
    p0: float = 0.2


def _block_table(lc: LightCurve, bkg: Background, edges: np.ndarray) -> Table:
    rows = [interval_stats(lc, bkg, int(a), int(b)) for a, b in
            zip(edges[:-1], edges[1:], strict=True)]
    t = Table(rows=rows, names=["counts", "background", "excess", "excess_err",
                                "significance"]) if rows else Table()
    t["i_start"] = edges[:-1]
    t["i_stop"] = edges[1:]
    t["t_start"] = lc.t_start[edges[:-1]]
    t["t_stop"] = lc.t_stop[edges[1:] - 1]
    dur = t["t_stop"] - t["t_start"]
    t["rate"] = t["counts"] / dur
    t["excess_rate"] = t["excess"] / dur
    return t


def _groups(blocks: Table) -> list[tuple[int, int]]:
    """Runs [k0, k1) of adjacent blocks each at least GROUP_SIGMA above the background."""
    above = np.asarray(blocks["significance"]) >= GROUP_SIGMA
    out, k = [], 0
    while k < len(above):
        if above[k]:
            k1 = k
            while k1 < len(above) and above[k1]:
                k1 += 1
            out.append((k, k1))
            k = k1
        else:
            k += 1
    return out


def _best_subrun(lc, bkg, blocks, k0, k1) -> tuple[float, int, int]:
    best = (-np.inf, k0, k1)
    longest = 40   # runs of more blocks than this are not tried (a burst is rarely so cut)
    for a in range(k0, k1):
        for b in range(a + 1, min(k1, a + longest) + 1):
            z = interval_stats(lc, bkg, int(blocks["i_start"][a]),
                               int(blocks["i_stop"][b - 1]))["significance"]
            if z > best[0]:
                best = (z, a, b)
    return best


def t90(lc: LightCurve, bkg: Background, i0: int, i1: int, resamples: int = 200,
        seed: int = 0) -> dict:
    """T05, T95, T90 and its uncertainty from the cumulative excess over bins i0:i1 padded."""
    width = max(2 * (i1 - i0), 10)
    a, b = max(0, i0 - width), min(len(lc), i1 + width)
    sl = slice(a, b)
    bkg_counts = bkg.rate[sl] * lc.dt[sl]
    edges = np.concatenate([lc.t_start[sl][:1], lc.t_stop[sl]])
    rng = np.random.default_rng(seed)
    if lc.is_counts:
        data = lc.counts[sl]
        sims = rng.poisson(np.maximum(data, 0), size=(resamples, len(data)))
    else:
        data = lc.rate[sl] * lc.dt[sl]
        sims = rng.normal(data, lc.rate_err[sl] * lc.dt[sl], size=(resamples, len(data)))

    def one(counts):
        cum = np.concatenate([[0.0], np.cumsum(counts - bkg_counts)])
        total = cum[-1]
        if total <= 0:
            return np.nan, np.nan
        # the first crossings of 5 % and 95 % of the total, interpolated at bin edges
        return (np.interp(0.05 * total, np.maximum.accumulate(cum), edges),
                np.interp(0.95 * total, np.maximum.accumulate(cum), edges))

    t05, t95 = one(data)
    spread = np.array([one(s) for s in sims]).reshape(-1, 2)
    widths = spread[:, 1] - spread[:, 0]
    widths = widths[np.isfinite(widths)]
    err = float(np.std(widths)) if len(widths) > 2 else np.nan
    return {"t05": float(t05), "t95": float(t95), "t90": float(t95 - t05), "t90_err": err}


DETECTION_COLUMNS = {
    "id": (int, None), "t_start": (float, "s"), "t_stop": (float, "s"),
    "duration": (float, "s"), "peak_time": (float, "s"), "peak_rate": (float, "ct/s"),
    "excess_counts": (float, "ct"), "excess_counts_err": (float, "ct"),
    "background_counts": (float, "ct"), "significance": (float, None),
    "t05": (float, "s"), "t95": (float, "s"), "t90": (float, "s"), "t90_err": (float, "s"),
    "n_blocks": (int, None), "bin_s": (float, "s"),
}


def _search(lc: LightCurve, threshold_sigma: float, p0: float, bkg_degree: int,
            t90_resamples: int, factor: int) -> Result:
    """One search on ``lc`` as it is binned."""
    bkg = fit_background(lc, bkg_degree)
    edges = block_edges(lc, p0)
    blocks = _block_table(lc, bkg, edges)
    strong = np.zeros(len(lc), bool)
    for _ in range(4):   # refit with the significant blocks out until they stay the same
        now = np.zeros(len(lc), bool)
        for row in blocks:
            if row["significance"] >= EXCLUDE_SIGMA:
                now[row["i_start"]:row["i_stop"]] = True
        if (now == strong).all() or (~now).sum() < 0.3 * len(lc):
            break   # converged, or too little would be left to fit
        strong = now
        bkg = fit_background(lc, bkg_degree, exclude=strong)
        blocks = _block_table(lc, bkg, edges)
    candidates, rows = [], []
    for k0, k1 in _groups(blocks):
        z, k0, k1 = _best_subrun(lc, bkg, blocks, k0, k1)
        i0, i1 = int(blocks["i_start"][k0]), int(blocks["i_stop"][k1 - 1])
        candidates.append({"k0": k0, "k1": k1, "i0": i0, "i1": i1, "significance": z})
        if z < threshold_sigma:
            continue
        whole = interval_stats(lc, bkg, i0, i1)
        peak = k0 + int(np.argmax(blocks["excess_rate"][k0:k1]))
        rows.append({
            "id": len(rows) + 1, "t_start": float(lc.t_start[i0]),
            "t_stop": float(lc.t_stop[i1 - 1]),
            "duration": float(lc.t_stop[i1 - 1] - lc.t_start[i0]),
            "peak_time": float(0.5 * (blocks["t_start"][peak] + blocks["t_stop"][peak])),
            "peak_rate": float(blocks["excess_rate"][peak]),
            "excess_counts": whole["excess"], "excess_counts_err": whole["excess_err"],
            "background_counts": whole["background"], "significance": float(z),
            **t90(lc, bkg, i0, i1, resamples=t90_resamples), "n_blocks": k1 - k0,
            "bin_s": float(np.median(lc.dt[i0:i1])),
        })
    detections = _detection_table(rows, {})
    detections.meta.update({"thresh": threshold_sigma, "p0": p0, "bkg_deg": bkg_degree,
                            "rebin": factor, "bin_s": float(np.median(lc.dt)),
                            "source": lc.source,
                            "t_ref": lc.t_ref.isot if lc.t_ref is not None else "",
                            "stats": "Poisson counts" if lc.is_counts else "Gaussian rates",
                            "comment": "times in s from t_ref (UTC); thresh: detection "
                                       "threshold (sigma); bkg_deg: background polynomial "
                                       "degree; rebin: bins summed before the search"})
    return Result(lc, bkg, edges, blocks, detections, candidates, factor, threshold_sigma, p0)


def _detection_table(rows: list[dict], meta: dict) -> Table:
    table = Table(rows=[[r[c] for c in DETECTION_COLUMNS] for r in rows] or None,
                  names=list(DETECTION_COLUMNS), dtype=[d for d, _ in DETECTION_COLUMNS.values()])
    for name, (_, unit) in DETECTION_COLUMNS.items():
        table[name].unit = unit
    table.meta.update(meta)
    return table


def _window(lc: LightCurve, a: int, b: int) -> LightCurve:
    return LightCurve(lc.time[a:b], lc.dt[a:b], lc.rate[a:b], lc.rate_err[a:b],
                      None if lc.counts is None else lc.counts[a:b], lc.t_ref, lc.source,
                      dict(lc.meta))


def detect(lc: LightCurve, threshold_sigma: float = 6.0, p0: float = 0.2,
           bkg_degree: int = 1, max_bins: int = 3000, t90_resamples: int = 200,
           fine: bool = True) -> Result:
    """Background, blocks, significant groups of blocks and their T90 (see the module doc).

    A light curve of more than ``max_bins`` bins is searched summed to at most ``max_bins``
    bins and, with ``fine``, again at a finer binning (its own, or summed so that at most
    ~40 windows are needed) in windows of ``max_bins`` bins overlapping by half, each with its
    own background: short bursts are not lost in coarse bins. Detections found at several
    binnings are reported once, at the binning where they are most significant (``bin_s``).
    The picture and the light-curve product show the coarse search.
    """
    factor = int(np.ceil(len(lc) / max_bins)) if len(lc) > max_bins else 1
    result = _search(lc.rebin(factor), threshold_sigma, p0, bkg_degree, t90_resamples, factor)
    if factor == 1 or not fine:
        return result
    fine_factor = max(1, int(np.ceil(len(lc) / (20 * max_bins))))
    fine_lc = lc.rebin(fine_factor)
    n, step = len(fine_lc), max_bins // 2
    rows = [dict(zip(row.colnames, row.as_void(), strict=True)) for row in result.detections]
    for a in range(0, max(n - step, 1), step):
        b = min(a + max_bins, n)
        if b - a < 200:
            continue
        try:
            sub = _search(_window(fine_lc, a, b), threshold_sigma, p0, bkg_degree,
                          t90_resamples, fine_factor)
        except AnalysisError:
            continue   # a window with too little background to fit: the coarse search has it
        rows += [dict(zip(row.colnames, row.as_void(), strict=True)) for row in sub.detections]
    kept = []
    for row in sorted(rows, key=lambda r: -r["significance"]):
        if all(row["t_stop"] <= k["t_start"] or row["t_start"] >= k["t_stop"] for k in kept):
            kept.append(row)
    kept.sort(key=lambda r: r["t_start"])
    for i, row in enumerate(kept, 1):
        row["id"] = i
    result.detections = _detection_table(kept, result.detections.meta)
    result.detections.meta["fine_rebin"] = fine_factor
    return result
