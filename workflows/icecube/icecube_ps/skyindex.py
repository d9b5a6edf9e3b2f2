"""Find the events near a sky position without scanning the whole release.

Events are sorted once by (1-degree declination strip, RA). A cone query touches only
the strips it crosses and, in each, one or two RA intervals found by binary search, so
its cost follows the number of events returned, not the size of the release.
"""

from __future__ import annotations

import numpy as np

STRIP_DEG = 1.0
_N_STRIPS = int(180 / STRIP_DEG)


def sort_key(ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
    strip = np.clip(((dec + 90.0) // STRIP_DEG).astype(np.int64), 0, _N_STRIPS - 1)
    return strip * 360.0 + ra


class SkyIndex:
    """Holds the sorted key; callers keep their event arrays in the same order."""

    def __init__(self, ra: np.ndarray, dec: np.ndarray, key: np.ndarray | None = None,
                 is_sorted: bool | None = None) -> None:
        """`key`, `is_sorted`: `sort_key(ra, dec)` and whether it is non-decreasing, if
        known (the binary cache stores both: a cold start then need not pass over them)."""
        key = sort_key(ra, dec) if key is None else key
        if is_sorted is None:
            is_sorted = key.size < 2 or bool(np.all(key[1:] >= key[:-1]))
        if is_sorted:
            self.order: np.ndarray | None = None   # already sorted (the binary cache is)
            self.key = key
        else:
            self.order = np.argsort(key, kind="stable")
            self.key = key[self.order]

    @staticmethod
    def ra_half_width(dec: float, radius: float) -> float:
        """Half-width in RA [deg] of the cone: asin(sin r / cos dec), 180 if it holds a pole."""
        if abs(dec) + radius >= 90.0:
            return 180.0
        x = np.sin(np.radians(radius)) / np.cos(np.radians(dec))
        return 180.0 if x >= 1.0 else float(np.degrees(np.arcsin(x)))

    def strip_range(self, dec: float, radius: float) -> tuple[int, int]:
        """Slice [start, stop) of the events in the strips crossed by the dec band."""
        s0 = int(np.clip((dec - radius + 90.0) // STRIP_DEG, 0, _N_STRIPS - 1))
        s1 = int(np.clip((dec + radius + 90.0) // STRIP_DEG, 0, _N_STRIPS - 1))
        start, stop = np.searchsorted(self.key, [s0 * 360.0, (s1 + 1) * 360.0])
        return int(start), int(stop)

    def cone_candidates(self, ra: float, dec: float, radius: float) -> np.ndarray:
        """Indices (in sorted order) of events in the RA/dec box around the cone."""
        s0 = int(np.clip((dec - radius + 90.0) // STRIP_DEG, 0, _N_STRIPS - 1))
        s1 = int(np.clip((dec + radius + 90.0) // STRIP_DEG, 0, _N_STRIPS - 1))
        strips = np.arange(s0, s1 + 1)
        half = np.full(strips.size, self.ra_half_width(dec, radius))
        lo, hi = ra - half, ra + half
        full = half >= 180.0
        # Up to two RA intervals per strip (wrap at 0/360).
        a_lo = np.where(full, 0.0, np.maximum(lo, 0.0))
        a_hi = np.where(full, 360.0, np.minimum(hi, 360.0))
        b_lo = np.where(~full & (lo < 0), lo + 360.0, 0.0)
        b_hi = np.where(~full & (lo < 0), 360.0, 0.0)
        b_lo = np.where(~full & (hi > 360), 0.0, b_lo)
        b_hi = np.where(~full & (hi > 360), hi - 360.0, b_hi)
        base = strips * 360.0
        keys_lo = np.concatenate([base + a_lo, base + b_lo])
        keys_hi = np.concatenate([base + a_hi, base + b_hi])
        starts = np.searchsorted(self.key, keys_lo, side="left")
        stops = np.searchsorted(self.key, keys_hi, side="left")
        lengths = np.maximum(stops - starts, 0)
        total = int(lengths.sum())
        if total == 0:
            return np.zeros(0, dtype=np.int64)
        offsets = np.repeat(starts - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
        return offsets + np.arange(total)
