// Sky coordinates and times as astronomers type them: degrees or sexagesimal, ISOT or MJD.
// Pure functions (no DOM), so they are easy to reason about and to test in the browser.

const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

// The angle grammar of astropy's Angle (so the portal accepts what the server does):
// a sign (ASCII or U+2212 minus, spaces may follow), then a number with an optional unit, or
// sexagesimal fields — `5h34m31.9s`, `22d00m52s`, `22°00′52″`, `22:00:52`, `22 00 52`. Only the
// last field may have a fraction; an exponent needs a decimal point (as in astropy).
const SIGN = /^([+\-\u2212]?)\s*/;
const UINT = String.raw`\d+`;
const UFLOAT = String.raw`(?:\d+\.\d*|\.\d+)(?:[eE][+\-\u2212]?\d+)?|\d+`;
const DEGREE = String.raw`(?:deg|d|°)`;
const MINUTE = String.raw`(?:m|'|′)`;
const SECOND = String.raw`(?:s|"|″)`;
const SIMPLE = new RegExp(String.raw`^(${UFLOAT})\s*(${DEGREE}|h)?$`);
const SYMBOLS = new RegExp(String.raw`^(${UINT})\s*(h|${DEGREE})\s*`
  + String.raw`(?:(${UINT})\s*${MINUTE}\s*(${UFLOAT})\s*${SECOND}?|(${UINT})\s*${MINUTE}\s*(${UFLOAT})`
  + String.raw`|(${UFLOAT})\s*${MINUTE}?)$`);
const COLONS = new RegExp(String.raw`^(${UINT}):(?:(${UINT}):(${UFLOAT})|(${UFLOAT}))$`);
const SPACES = new RegExp(String.raw`^(${UINT})\s+(?:(${UINT})\s+(${UFLOAT})|(${UFLOAT}))$`);

function num(text) {
  return Number(String(text).replace('\u2212', '-'));
}

/**
 * An angle in text → `{value, unit}`: unit `deg`, `hour`, or `null` when the text does not
 * say (a plain number or colon/space sexagesimal). `null` when it is not an angle at all;
 * throws when minutes or seconds are over 60 (astropy takes 60 itself, as the next unit).
 */
export function readAngle(text) {
  const s = String(text ?? '').trim();
  const sign = s.match(SIGN);
  const body = s.slice(sign[0].length);
  const negative = sign[1] !== '' && sign[1] !== '+';
  let fields; let unit = null;
  let m = body.match(SIMPLE);
  if (m) {
    fields = [num(m[1])];
    unit = m[2] === 'h' ? 'hour' : (m[2] ? 'deg' : null);
  } else if ((m = body.match(SYMBOLS))) {
    unit = m[2] === 'h' ? 'hour' : 'deg';
    fields = [num(m[1])];
    if (m[3] !== undefined) fields.push(num(m[3]), num(m[4]));
    else if (m[5] !== undefined) fields.push(num(m[5]), num(m[6]));
    else fields.push(num(m[7]));
  } else if ((m = body.match(COLONS) || body.match(SPACES))) {
    fields = m[2] !== undefined ? [num(m[1]), num(m[2]), num(m[3])] : [num(m[1]), num(m[4])];
  } else {
    return null;
  }
  const [a, b = 0, c = 0] = fields;
  if (b > 60 || c > 60) throw new Error(`"${s}": minutes and seconds must not exceed 60`);
  const value = a + b / 60 + c / 3600;
  return { value: negative ? -value : value, unit, sexagesimal: fields.length > 1 };
}

/**
 * An angle in degrees from text. Plain numbers are degrees; `83.6d`, `83.6°` or `83.6 deg`
 * too. Sexagesimal RA (`05h34m31.9s`, `05:34:31.9`, `05 34 31.9`) is in hours unless it
 * carries a degree sign; sexagesimal Dec (`+22d00m52s`, `22:00:52`) is in degrees and an
 * hour angle (`05h34m`) is refused as a Dec. Throws an Error whose message says what is wrong.
 */
export function parseAngle(text, kind) {
  const s = String(text ?? '').trim();
  if (!s) throw new Error('a value is required');
  const angle = readAngle(s);
  if (angle === null) {
    throw new Error(kind === 'ra'
      ? `"${s}" is not a right ascension (degrees like 83.633 or hours like 05h34m31.9s)`
      : `"${s}" is not a declination (degrees like 22.014 or +22d00m52s)`);
  }
  if (kind !== 'ra' && angle.unit === 'hour') {
    throw new Error(`"${s}" is an hour angle, not a declination (give degrees like +22d00m52s)`);
  }
  const hours = angle.unit === 'hour' || (kind === 'ra' && angle.unit === null && angle.sexagesimal);
  return angle.value * (hours ? 15 : 1);
}

/** RA in degrees, checked to lie in [0, 360]. */
export function parseRA(text) {
  const ra = parseAngle(text, 'ra');
  if (!(ra >= 0 && ra <= 360)) throw new Error(`RA must lie between 0° and 360° (got ${ra}°)`);
  return ra;
}

/** Dec in degrees, checked to lie in [−90, 90]. */
export function parseDec(text) {
  const dec = parseAngle(text, 'dec');
  if (!(dec >= -90 && dec <= 90)) throw new Error(`Dec must lie between −90° and +90° (got ${dec}°)`);
  return dec;
}

function pad(n, width = 2) {
  return String(n).padStart(width, '0');
}

/** RA as `05h34m31.92s` (hundredths of a second of time). */
export function formatRA(deg) {
  let centis = Math.round((((deg % 360) + 360) % 360) / 15 * 360000);
  centis %= 24 * 360000;
  const h = Math.floor(centis / 360000);
  const m = Math.floor((centis % 360000) / 6000);
  const s = (centis % 6000) / 100;
  return `${pad(h)}h${pad(m)}m${s.toFixed(2).padStart(5, '0')}s`;
}

/** Dec as `+22°00′52.2″` (tenths of an arcsecond). */
export function formatDec(deg) {
  const sign = deg < 0 ? '−' : '+';
  const tenths = Math.round(Math.abs(deg) * 36000);
  const d = Math.floor(tenths / 36000);
  const m = Math.floor((tenths % 36000) / 600);
  const s = (tenths % 600) / 10;
  return `${sign}${pad(d)}°${pad(m)}′${s.toFixed(1).padStart(4, '0')}″`;
}

/** Degrees with enough digits for 0.01″ and no trailing zeros. */
export function formatDegrees(deg) {
  return String(Number(deg.toFixed(6)));
}

/** Degrees → a parameter's declared angle unit. */
export function angleTo(deg, unit) {
  switch ((unit || 'deg').toLowerCase()) {
    case 'rad': return deg * Math.PI / 180;
    case 'arcmin': return deg * 60;
    case 'arcsec': return deg * 3600;
    case 'hourangle': case 'hour': case 'h': return deg / 15;
    default: return deg;
  }
}

/** A value in a parameter's angle unit → degrees. */
export function angleFrom(value, unit) {
  return value / angleTo(1, unit);
}

// --- times ------------------------------------------------------------------------------

const MJD_AT_UNIX_EPOCH = 40587;
const DAY_MS = 86_400_000;
// As astropy's isot/iso: one- or two-digit fields, a fraction of any length, `Z`; an offset
// (+01:00) is read as well, although astropy does not take one. A bare point after the seconds
// is refused (astropy takes it in some spellings only).
const ISO = /^(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ](\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.(\d+))?)?)?(Z|[+-]\d{2}:?\d{2})?$/;

/** MJD of a Unix time in milliseconds (UTC, leap seconds ignored as in JavaScript). */
export function mjdFromMs(ms) {
  return ms / DAY_MS + MJD_AT_UNIX_EPOCH;
}

/** Unix milliseconds of an MJD, rounded to the millisecond. */
export function msFromMjd(mjd) {
  return Math.round((mjd - MJD_AT_UNIX_EPOCH) * DAY_MS);
}

/** Unix milliseconds of an ISO 8601 date(-time); times without a zone are UTC. Not rounded:
 * a fraction of a millisecond is kept (to ~0.3 µs, a double's resolution in 2024). */
export function parseIsot(text) {
  const m = String(text ?? '').trim().match(ISO);
  if (!m) return NaN;
  const [, y, mo, d, hh = '0', mi = '0', ss = '0', frac = '', zone] = m;
  const day = new Date(0);
  day.setUTCFullYear(Number(y), Number(mo) - 1, Number(d));  // Date.UTC reads 0–99 as 19xx
  if (day.getUTCMonth() !== Number(mo) - 1 || day.getUTCDate() !== Number(d)
      || Number(hh) > 23 || Number(mi) > 59 || Number(ss) > 60) return NaN;
  let t = day.getTime() + ((Number(hh) * 60 + Number(mi)) * 60 + Number(ss)) * 1000
    + Number(`0.${frac || '0'}`) * 1000;
  if (zone && zone !== 'Z') {
    const sign = zone[0] === '-' ? -1 : 1;
    const digits = zone.slice(1).replace(':', '');
    t -= sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2))) * 60_000;
  }
  return t;
}

/** `2024-01-01T00:00:00.000` (UTC, no zone letter: the ISOT astronomers and astropy use). */
export function formatIsot(ms) {
  return new Date(ms).toISOString().replace('Z', '');
}

/** MJD with 8 decimals (better than a millisecond) and no trailing zeros. */
export function formatMjd(mjd) {
  return String(Number(mjd.toFixed(8)));
}

/** A time typed as ISOT or as an MJD number → MJD; throws with a readable message. */
export function parseTime(text) {
  const s = String(text ?? '').trim();
  if (!s) throw new Error('a time is required');
  if (NUMBER.test(s)) return Number(s);
  const ms = parseIsot(s);
  if (!Number.isFinite(ms)) {
    throw new Error(`"${s}" is not a time (ISOT like 2024-01-01T00:00:00 or an MJD like 60310.5)`);
  }
  return mjdFromMs(ms);
}

/** MJD → the shown text in `format` (`isot` or `mjd`). */
export function showTime(mjd, format) {
  return format === 'mjd' ? formatMjd(mjd) : formatIsot(msFromMjd(mjd));
}

/**
 * MJD → the value a parameter expects, from its declared time format and JSON type.
 * Formats JavaScript cannot compute exactly are sent as ISOT: the server converts them.
 */
export function timeForParameter(mjd, format, type) {
  const ms = msFromMjd(mjd);
  switch ((format || (type === 'string' ? 'isot' : 'mjd')).toLowerCase()) {
    case 'mjd': return type === 'string' ? formatMjd(mjd) : Number(mjd.toFixed(8));
    case 'jd': return type === 'string' ? formatMjd(mjd + 2400000.5) : mjd + 2400000.5;
    case 'unix': return type === 'string' ? String(ms / 1000) : ms / 1000;
    case 'iso': return formatIsot(ms).replace('T', ' ');
    default: return formatIsot(ms);
  }
}

/** A parameter's time value (any declared format) → MJD; NaN when it cannot be read. */
export function timeFromParameter(value, format) {
  if (value === null || value === undefined || value === '') return NaN;
  const fmt = (format || '').toLowerCase();
  const number = typeof value === 'number' ? value : (NUMBER.test(String(value).trim()) ? Number(value) : NaN);
  if (Number.isFinite(number)) {
    if (fmt === 'jd') return number - 2400000.5;
    if (fmt === 'unix') return mjdFromMs(number * 1000);
    return number;
  }
  const ms = parseIsot(String(value));
  return Number.isFinite(ms) ? mjdFromMs(ms) : NaN;
}
