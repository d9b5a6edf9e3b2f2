"""One synthetic gravitational-wave event with an analytic 3-D sky map (not LIGO/Virgo data).

``GW120618_120000`` (catalogue ``astroflow-synthetic``): a BBH-like event at 2012-06-18
12:00:00 UTC, inside IceCube's public 3-year release so a neutrino follow-up has data.

The sky map is an elliptical bivariate Student-t density (nu = 9, axis ratio 3, position angle
60 deg) laid on the sphere through the Lambert azimuthal equal-area projection centred on
RA 150 deg, Dec +25 deg. The projection preserves area, so credible regions are exact ellipses
in the projected plane with the analytic areas

    A(p) = pi * sigma_a * sigma_b * q(p),   q(p) = nu * ((1 - p) ** (-2 / nu) - 1)

(the mass inside Mahalanobis radius^2 q of a 2-D t is 1 - (1 + q/nu)^(-nu/2)): 1000 deg2 at
90 % and 250 deg2 at 50 % (the t's heavier tail than a Gaussian's gives the 4:1 ratio). The
map is evaluated on BAYESTAR's adaptive multi-order grid (``ligo.skymap.moc``) and written
with ``ligo.skymap.io.fits.write_sky_map``, with distance layers for a posterior of mean
410 Mpc and standard deviation 110 Mpc in every direction.
"""

from __future__ import annotations

import contextlib
import io
import math
from pathlib import Path

import numpy as np

NAME = "GW120618_120000"
CATALOG = "astroflow-synthetic"
VERSION = 1
UTC = "2012-06-18T12:00:00"
RA0, DEC0 = 150.0, 25.0          # deg, the centre (peak) of the sky map
POSITION_ANGLE = 60.0            # deg, of the major axis, from north through east
AXIS_RATIO = 3.0
NU = 9.0                         # Student-t degrees of freedom
AREA90 = 1000.0                  # deg2
DIST_MEAN, DIST_STD = 410.0, 110.0  # Mpc
PARAMETERS = {  # the event's "published" parameters (synthetic)
    "mass_1_source": 36.0, "mass_2_source": 29.0, "luminosity_distance": DIST_MEAN,
    "network_matched_filter_snr": 24.0, "far": 1e-7, "p_astro": 1.0,
}
GENERATOR_VERSION = 1
SQDEG_PER_SR = (180.0 / math.pi) ** 2


def gps() -> float:
    from astropy.time import Time

    return float(Time(UTC, scale="utc").gps)


def chirp_mass(m1: float, m2: float) -> float:
    return (m1 * m2) ** 0.6 / (m1 + m2) ** 0.2


def q_of_level(level: float) -> float:
    """Squared Mahalanobis radius of the credible ellipse holding `level`."""
    return NU * ((1.0 - level) ** (-2.0 / NU) - 1.0)


def level_of_q(q: float | np.ndarray) -> float | np.ndarray:
    return 1.0 - (1.0 + np.asarray(q) / NU) ** (-NU / 2.0)


def _sigma_product_sr() -> float:
    return AREA90 / SQDEG_PER_SR / (math.pi * q_of_level(0.9))


def sigmas() -> tuple[float, float]:
    """(sigma_a, sigma_b) of the major and minor axes, in radians of the projected plane."""
    prod = _sigma_product_sr()
    sb = math.sqrt(prod / AXIS_RATIO)
    return AXIS_RATIO * sb, sb


def credible_area(level: float) -> float:
    """The exact area (deg2) of the smallest region holding `level` probability."""
    return math.pi * _sigma_product_sr() * q_of_level(level) * SQDEG_PER_SR


def _basis() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    a, d = math.radians(RA0), math.radians(DEC0)
    centre = np.array([math.cos(d) * math.cos(a), math.cos(d) * math.sin(a), math.sin(d)])
    east = np.array([-math.sin(a), math.cos(a), 0.0])
    north = np.cross(centre, east)
    return centre, east, north


def plane_coordinates(ra_rad: np.ndarray, dec_rad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(a, b): Lambert azimuthal equal-area coordinates along the major and minor axes."""
    centre, east, north = _basis()
    cd = np.cos(dec_rad)
    p = np.stack([cd * np.cos(ra_rad), cd * np.sin(ra_rad), np.sin(dec_rad)], axis=-1)
    cos_t = np.clip(p @ centre, -1.0, 1.0)
    theta = np.arccos(cos_t)
    phi = np.arctan2(p @ east, p @ north)  # from north through east
    r = 2.0 * np.sin(theta / 2.0)
    pa = math.radians(POSITION_ANGLE)
    return r * np.cos(phi - pa), r * np.sin(phi - pa)


def plane_to_sky(a: float, b: float) -> tuple[float, float]:
    """(RA, Dec) in deg of the point at projected coordinates (a, b) (radians)."""
    r = math.hypot(a, b)
    phi = math.atan2(b, a) + math.radians(POSITION_ANGLE)
    theta = 2.0 * math.asin(min(r / 2.0, 1.0))
    centre, east, north = _basis()
    p = math.cos(theta) * centre + math.sin(theta) * (math.sin(phi) * east
                                                      + math.cos(phi) * north)
    return (math.degrees(math.atan2(p[1], p[0])) % 360.0,
            math.degrees(math.asin(max(-1.0, min(1.0, p[2])))))


def point_on_contour(level: float, angle: float = 0.0) -> tuple[float, float]:
    """A point on the boundary of the `level` credible region, `angle` (deg) around the
    ellipse from the major axis."""
    sa, sb = sigmas()
    s = math.sqrt(q_of_level(level))
    t = math.radians(angle)
    return plane_to_sky(sa * s * math.cos(t), sb * s * math.sin(t))


def probability_density(ra_rad: np.ndarray, dec_rad: np.ndarray) -> np.ndarray:
    """The analytic density per steradian."""
    sa, sb = sigmas()
    a, b = plane_coordinates(np.asarray(ra_rad, float), np.asarray(dec_rad, float))
    q = (a / sa) ** 2 + (b / sb) ** 2
    return (1.0 + q / NU) ** (-(NU + 2.0) / 2.0) / (2.0 * math.pi * sa * sb)


def _density_for_grid(radec: np.ndarray) -> np.ndarray:
    return probability_density(radec[:, 0], radec[:, 1])


def sky_map_table():
    """The multi-order sky map: UNIQ, PROBDENSITY (sr^-1), DISTMU, DISTSIGMA, DISTNORM."""
    import astropy.units as u
    from ligo.skymap import distance, moc

    with contextlib.redirect_stderr(io.StringIO()):  # its tqdm progress bar
        table = moc.bayestar_adaptive_grid(_density_for_grid, top_nside=16, rounds=5)  # nside 256
    area = moc.uniq2pixarea(table["UNIQ"])
    density = np.asarray(table["PROBDENSITY"], float)
    density /= np.sum(density * area)  # the grid's sum, exactly 1
    table["PROBDENSITY"] = density / u.sr
    mu, sigma, norm = distance.moments_to_parameters(np.full(len(table), DIST_MEAN),
                                                     np.full(len(table), DIST_STD))
    table["DISTMU"] = mu * u.Mpc
    table["DISTSIGMA"] = sigma * u.Mpc
    table["DISTNORM"] = norm / u.Mpc**2
    return table


def write_sky_map(path: str | Path) -> Path:
    """Write the multi-order FITS file (``ligo.skymap.io.fits.write_sky_map``)."""
    from ligo.skymap import distance, moc
    from ligo.skymap.io.fits import write_sky_map as write

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table = sky_map_table()
    prob = np.asarray(table["PROBDENSITY"]) * moc.uniq2pixarea(table["UNIQ"])
    mean, std = distance.parameters_to_marginal_moments(
        prob, np.asarray(table["DISTMU"]), np.asarray(table["DISTSIGMA"]))
    partial = path.with_name(path.name + ".partial.fits")
    write(str(partial), table, objid=NAME, gps_time=gps(), instruments={"H1", "L1"},
          creator=f"astroflow gw_open.synthetic v{GENERATOR_VERSION}",
          origin="astroflow (synthetic)",
          distmean=float(mean), diststd=float(std), vcs_version="astroflow-synthetic")
    partial.replace(path)
    return path


def event_record() -> dict:
    """Name, GPS time, catalogue and parameters of the synthetic event."""
    m1, m2 = PARAMETERS["mass_1_source"], PARAMETERS["mass_2_source"]
    return {"name": NAME, "gps": gps(), "catalog": CATALOG, "version": VERSION,
            "run": "synthetic", "detectors": ["H1", "L1"], "utc": UTC,
            "parameters": {**PARAMETERS, "chirp_mass_source": round(chirp_mass(m1, m2), 3),
                           "total_mass_source": m1 + m2,
                           "sky_area": round(credible_area(0.9), 1)},
            "source": "astroflow synthetic event (gw_open.synthetic): not a real detection"}
