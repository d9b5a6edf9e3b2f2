"""Spherical geometry on (RA, Dec) in degrees, vectorised."""

from __future__ import annotations

import numpy as np


def angular_distance(ra1: np.ndarray | float, dec1: np.ndarray | float,
                     ra2: np.ndarray | float, dec2: np.ndarray | float) -> np.ndarray:
    """Great-circle distance [deg] (haversine: accurate at the sub-arcsecond scale)."""
    r1, d1, r2, d2 = (np.radians(v) for v in (ra1, dec1, ra2, dec2))
    h = np.sin(0.5 * (d2 - d1)) ** 2 + np.cos(d1) * np.cos(d2) * np.sin(0.5 * (r2 - r1)) ** 2
    return np.degrees(2.0 * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0))))


def offset(ra0: np.ndarray | float, dec0: np.ndarray | float, psi_deg: np.ndarray,
           position_angle_deg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Point at angle `psi` from (ra0, dec0) along `position_angle` (east of north)."""
    r0, d0 = np.radians(ra0), np.radians(dec0)
    psi, phi = np.radians(psi_deg), np.radians(position_angle_deg)
    sin_d = np.sin(d0) * np.cos(psi) + np.cos(d0) * np.sin(psi) * np.cos(phi)
    dec = np.arcsin(np.clip(sin_d, -1.0, 1.0))
    ra = r0 + np.arctan2(np.sin(phi) * np.sin(psi) * np.cos(d0),
                         np.cos(psi) - np.sin(d0) * sin_d)
    return np.degrees(ra) % 360.0, np.degrees(dec)


def gmst_deg(mjd: np.ndarray) -> np.ndarray:
    """Greenwich mean sidereal time [deg] (IAU 1982, good to ~0.1 s over decades)."""
    return (280.46061837 + 360.98564736629 * (np.asarray(mjd) - 51544.5)) % 360.0
