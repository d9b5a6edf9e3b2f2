# %% [markdown]
# # Gravitational-wave strain: whitened time series and Q-transform
# Open strain of the chosen detectors (H1, L1, V1) around an event of the GWOSC catalogues
# (its GPS time from GWOSC's API v2) or around `gps_time`, located and downloaded through the
# `gwosc` client and gwpy (`TimeSeries.fetch_open_data`; files cached), or read from the
# offline mirror made by `astroflow data fetch gw`. Each detector's strain is whitened with
# its own noise spectrum (Welch median, 2 s segments) and band-limited to f_low–f_high, in
# units of the noise's standard deviation (`strain` light curve: GPS time, one column per
# detector). The Q-transform (gwpy, Q 4–64, whitened, energy normalised by its median) is
# returned as a FITS image per detector with a linear WCS (time in s from the GPS reference
# `GPSREF`, frequency in Hz) and drawn with the whitened strain beneath.

# %% tags=["parameters"]
event = "GW120618_120000"  # oda:String ; oda:label "Event" ; oda:description "GWOSC event name (e.g. GW150914); empty: use the GPS time"
gps_time = 0.0  # oda:Float ; oda:lower_limit 0 ; oda:label "GPS time" ; oda:description "Centre of the window when no event is given; 0: the event's time"
detectors = "H1,L1"  # oda:String ; oda:label "Detectors" ; oda:description "Comma-separated: H1, L1, V1"
window = 8.0  # oda:TimeIntervalSeconds ; oda:unit unit:s ; oda:lower_limit 0.5 ; oda:upper_limit 16 ; oda:label "Window" ; oda:description "Seconds of data shown, centred on the time"
f_low = 20.0  # oda:FrequencyHz ; oda:unit unit:Hz ; oda:lower_limit 10 ; oda:upper_limit 1000 ; oda:label "Lowest frequency" ; oda:description "Lower edge of the band kept after whitening, in Hz"
f_high = 500.0  # oda:FrequencyHz ; oda:unit unit:Hz ; oda:lower_limit 20 ; oda:upper_limit 2000 ; oda:label "Highest frequency" ; oda:description "Upper edge of the band kept after whitening, in Hz"

# %%
import sys
from pathlib import Path

try:
    import gw_open  # noqa: F401
except ImportError:  # run from elsewhere than the workflow folder
    for candidate in (Path.cwd(), Path.cwd() / "workflows" / "gw"):
        if (candidate / "gw_open").is_dir():
            sys.path.insert(0, str(candidate))
            break

from astropy.io import fits
from gw_open import strain
from gw_open.archive import current_archive
from gw_open.errors import AnalysisError

try:
    from astroflow import progress
except ImportError:
    progress = lambda **k: None  # noqa: E731

KNOWN_DETECTORS = ("H1", "L1", "V1")
names = [d.strip().upper() for d in str(detectors).split(",") if d.strip()]
unknown = [d for d in names if d not in KNOWN_DETECTORS]
if unknown or not names:
    raise AnalysisError(f"detectors {detectors!r}: choose among {', '.join(KNOWN_DETECTORS)}")
names = list(dict.fromkeys(names))
if not 0 < f_low < f_high:
    raise AnalysisError(f"f_low ({f_low:g} Hz) must be below f_high ({f_high:g} Hz)")

archive = current_archive()
print("data from", archive.source)
if str(event).strip() and not gps_time:
    record = archive.event(str(event).strip())
    t0 = float(record["gps"])
    label = f"{record['name']} (GPS {t0:.3f})"
elif gps_time:
    t0 = float(gps_time)
    label = f"GPS {t0:.3f}"
    if archive.mode == "host":
        archive.probe()  # an unreachable host fails here, within the archive's timeout
else:
    raise AnalysisError("give an event name or a GPS time")
start, end = t0 - window / 2 - strain.PAD, t0 + window / 2 + strain.PAD

data = {}
missing = {}
for i, detector in enumerate(names):
    progress(stage="fetch", fraction=0.05 + 0.45 * i / len(names),
             message=f"{detector} strain around {label}")
    try:
        if archive.mode == "host":
            data[detector] = strain.fetch_strain(detector, start, end, host=archive.location,
                                                 cache_dir=archive.cache_folder() / "strain")
        else:
            data[detector] = strain.fetch_strain(detector, start, end, mirror=archive.location)
    except AnalysisError as exc:
        if "unreachable" in str(exc):
            raise
        missing[detector] = str(exc)
        print(f"{detector}: {exc}")
if not data:
    raise AnalysisError(f"no strain around {label} for {', '.join(names)}: "
                        + "; ".join(missing.values()))

# %%
progress(stage="whiten", fraction=0.55)
whitened_strain = strain.light_curve(data, t0, window, f_low, f_high)
whitened_strain.meta.update({"label": label, "source": archive.source,
                          "attribution": archive.attribution,
                          "missing_detectors": sorted(missing)})

images = []
for i, (detector, series) in enumerate(data.items()):
    progress(stage="Q-transform", fraction=0.6 + 0.3 * i / len(data), message=detector)
    qspec = strain.q_transform(series, t0, window, (f_low, f_high))
    images.append(strain.q_image_hdu(qspec, t0, detector, primary=not images))
    peak = qspec.value.argmax()
    row, col = divmod(int(peak), qspec.shape[1])
    print(f"{detector}: Q-transform peak {float(qspec.value.max()):.1f} at "
          f"t0{float(qspec.times.value[row]) - t0:+.3f} s, "
          f"{float(qspec.frequencies.value[col]):.0f} Hz")
q_transform = fits.HDUList(images)

progress(stage="plot", fraction=0.95)
q_plot = strain.q_figure(images, title=f"{', '.join(data)} around {label}",
                         light_curve_table=whitened_strain)
q_plot.text(0.01, 0.005, "Data: " + archive.source, fontsize=6, color="0.4")

# %% tags=["outputs"]
whitened_strain  # oda:LightCurve
q_transform  # oda:Image
q_plot  # oda:ODAPictureProduct
