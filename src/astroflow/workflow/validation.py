"""One validator for every way a request arrives (JSON, HTML form, query string, CLI).

It coerces strings to the declared types, converts times between the declared format and
the other common one, checks limits and allowed values, and reports every problem at once as
(field, value, reason). What it returns (`ValidatedValues`) is what the notebook gets: each
value as the caller wrote it when that is valid for its parameter (an ISOT time keeps its
spelling, as nb2workflow passes it on), converted only when it must be (an MJD given for an
ISOT parameter, a sexagesimal angle, ``"3"`` for a number). Its ``canonical`` form, where the
same request spelled differently gives equal values, is what `cache_key` uses.

MMODA's conventions for empty strings (nb2workflow's ``cast_parameter``): ``''`` is ``False``
for a boolean, and is refused for a file parameter (POSIXPath, FileURL), naming it.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from astroflow.errors import AstroflowError
from astroflow.workflow.model import Parameter

_TRUE = {"true", "1", "yes", "on", "y", "t"}
_FALSE = {"false", "0", "no", "off", "n", "f"}
MAX_DEPTH = 64  # nesting of a structured value (lists, objects); deeper is refused


@dataclass(frozen=True)
class FieldError:
    field: str
    value: Any
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"field": self.field, "value": _shown(self.value), "reason": self.reason}


def _shown(value: Any) -> Any:
    """A value as an error body can carry it: JSON has no NaN, no lone surrogates, and
    Python will not print an integer of more than 4,300 digits."""
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        digits = int(value.bit_length() * math.log10(2)) + 1
        return f"<an integer of about {digits} digits>"
    if not isinstance(value, (str, int, float, bool, type(None))):
        value = repr(value)
    if isinstance(value, str):
        value = value.encode("utf-8", "replace").decode()
        if len(value) > 200:
            value = value[:200] + "…"
    return value


class ValidationError(AstroflowError, ValueError):
    """Every problem found in one request, each naming its field."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        lines = "; ".join(f"{e.field}: {e.reason}" for e in errors)
        super().__init__(f"invalid parameters: {lines}")


class ValidatedValues(dict):
    """Validated values as the notebook gets them; ``canonical`` is the form `cache_key`
    uses (times in one spelling), equal for two requests that mean the same."""

    canonical: dict[str, Any]

    def __init__(self, values: Mapping[str, Any], canonical: Mapping[str, Any]) -> None:
        super().__init__(values)
        self.canonical = dict(canonical)


class _Invalid(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason


def validate(parameters: Mapping[str, Parameter],
             values: Mapping[str, Any] | None) -> ValidatedValues:
    """Check and coerce ``values``; missing names take their defaults.

    Validating the result again gives it back unchanged.
    """
    values = dict(values or {})
    errors: list[FieldError] = []
    for name in values:
        if name not in parameters:
            known = ", ".join(parameters) or "none"
            errors.append(FieldError(str(name), values[name],
                                     f"unknown parameter (this workflow takes: {known})"))
    result: dict[str, Any] = {}
    canonical: dict[str, Any] = {}
    for name, param in parameters.items():
        if name not in values:
            # Injected as the notebook wrote it; keyed as the same value sent explicitly.
            result[name], canonical[name] = param.default, _canonical_default(param)
            continue
        try:
            canonical[name] = coerce(param, values[name])
            result[name] = _as_written(param, values[name], canonical[name])
        except _Invalid as exc:
            errors.append(FieldError(name, values[name], exc.reason))
    if errors:
        raise ValidationError(errors)
    return ValidatedValues(result, canonical)


def _canonical_default(param: Parameter) -> Any:
    """The default in canonical form (``T00:00:00`` → ``T00:00:00.000``, ``2`` → ``2.0``
    for a float), so that a request that leaves it out and one that sends it (the portal
    fills in every field) share one cache key. Memoised: astropy's time parsing costs more
    than the rest of a validation."""
    if param.expression:
        return param.default  # source text the notebook evaluates itself
    key = repr(param)
    if key not in _DEFAULTS:
        try:
            value = coerce(param, param.default)
        except _Invalid:
            value = param.default  # a default its own checks refuse stays as written
        if len(_DEFAULTS) > 4096:
            _DEFAULTS.clear()
        _DEFAULTS[key] = value
    return _DEFAULTS[key]


_DEFAULTS: dict[str, Any] = {}


# A time string kept as written must have a time of day in the declared format: a bare date
# ("2020-01-01", which astropy takes as ISOT too) is completed to the canonical form.
_TIME_OF_DAY = {"isot": "T", "iso": ":", "fits": "T"}


def _as_written(param: Parameter, raw: Any, value: Any) -> Any:
    """The caller's own spelling of a valid time string in the declared string format
    (``2022-10-01T00:00:00`` stays so, not ``…00.000``); ``value`` otherwise."""
    if not (param.format and param.type is str and isinstance(raw, str)
            and isinstance(value, str)):
        return value
    from astropy.time import Time

    text = raw.strip()
    if _TIME_OF_DAY.get(param.format, "") not in text:
        return value
    try:
        Time(text, format=param.format, scale="utc")
    except (ValueError, TypeError):
        return value
    return text


def coerce(param: Parameter, raw: Any) -> Any:
    """One value → the parameter's canonical value, or `_Invalid` with the reason."""
    if isinstance(raw, str) and raw.strip() == "":
        if param.type is bool:
            return False  # MMODA's unchecked box
        if param.role in ("file", "url") and raw != param.default:
            # The notebook's own default ('' for "no file") stays valid: requests carry the
            # defaults they did not set, and are validated again when they run.
            raise _Invalid(f"Empty string is not a valid value of FileReference parameter "
                           f"{param.name} (give a file, or null for none where it is optional)")
    if raw is None or (isinstance(raw, str) and raw.strip() == "" and param.type is not str):
        if param.optional:
            return None
        raise _Invalid(f"a value is required ({_expected(param)})")
    if param.format and param.type in (str, float):
        value = _time(param, raw)
    elif param.type is float:
        value = _float(param, raw)
    elif param.type is int:
        value = _int(raw)
    elif param.type is bool:
        value = _bool(raw)
    elif param.type is str:
        value = _str(raw)
    else:
        value = _structured(param.type, raw)
    _check_range(param, value)
    return value


def _expected(param: Parameter) -> str:
    text = {float: "a number", int: "an integer", bool: "true or false", str: "a string",
            list: "a JSON list", dict: "a JSON object"}[param.type]
    return text + (f" in {param.unit}" if param.unit else "")


def _float(param: Parameter, raw: Any) -> float:
    if isinstance(raw, bool):
        raise _Invalid("expected a number, got a boolean")
    if isinstance(raw, (int, float)):
        try:
            value = float(raw)
        except OverflowError:
            raise _Invalid("too large for a number (beyond ±1.8e308)") from None
    elif isinstance(raw, str):
        value = _parse_float_text(param, raw.strip())
    else:
        raise _Invalid(f"expected a number, got {type(raw).__name__}")
    if not math.isfinite(value):
        raise _Invalid("must be a finite number")
    return value


def _parse_float_text(param: Parameter, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        pass
    if param.role in ("ra", "dec"):
        return _sexagesimal(param, text)
    if param.unit:
        return _quantity(param, text)
    raise _Invalid(f"{text!r} is not a number")


def _sexagesimal(param: Parameter, text: str) -> float:
    """RA as ``12h30m49.4s`` or ``12:30:49.4`` (hours), Dec as ``+12d23m28s`` or ``12:23:28``."""
    from astropy.coordinates import Angle

    unit = "hourangle" if param.role == "ra" and not any(c in text for c in "d°") else "deg"
    try:
        angle = Angle(text, unit=unit)
    except (ValueError, TypeError) as exc:
        raise _Invalid(f"{text!r} is not an angle ({exc})") from None
    return float(angle.to_value(param.unit or "deg"))


def _quantity(param: Parameter, text: str) -> float:
    """A number with its unit (``30 arcmin``) is converted to the declared unit."""
    import astropy.units as u

    try:
        quantity = u.Quantity(text)
        return float(quantity.to_value(param.unit))
    except (TypeError, ValueError, u.UnitsError) as exc:
        raise _Invalid(f"{text!r} is not a number or a quantity in {param.unit} ({exc})") from None


# Integers a notebook, numpy and FITS all hold: 64-bit signed.
INT_MIN, INT_MAX = -(2**63), 2**63 - 1


def _int(raw: Any) -> int:
    value = _any_int(raw)
    if not INT_MIN <= value <= INT_MAX:
        raise _Invalid(f"out of range: an integer must be between {INT_MIN} and {INT_MAX}")
    return value


def _any_int(raw: Any) -> int:
    if isinstance(raw, bool):
        raise _Invalid("expected an integer, got a boolean")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float):
        if raw.is_integer():
            return int(raw)
        raise _Invalid(f"{raw!r} is not an integer")
    if isinstance(raw, str):
        text = raw.strip()
        if len(text) > 40:  # longer than any 64-bit integer, however written
            raise _Invalid(f"out of range: an integer must be between {INT_MIN} and {INT_MAX}")
        try:
            return int(text)
        except ValueError:
            pass
        try:
            number = float(text)
        except ValueError:
            raise _Invalid(f"{text!r} is not an integer") from None
        if number.is_integer():
            return int(number)
        raise _Invalid(f"{text!r} is not an integer")
    raise _Invalid(f"expected an integer, got {type(raw).__name__}")


def _bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, int) and raw in (0, 1):
        return bool(raw)
    if isinstance(raw, str):
        text = raw.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise _Invalid(f"{raw!r} is not a boolean (use true or false)")


def _str(raw: Any) -> str:
    if isinstance(raw, str):
        if not raw.isascii():
            try:
                raw.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise _Invalid(f"not valid Unicode: a lone surrogate at character {exc.start} "
                               f"({raw[exc.start]!a})") from None
        return raw
    if isinstance(raw, float) and not math.isfinite(raw):
        raise _Invalid(f"expected a string, got the number {raw!r}")
    if isinstance(raw, int) and not isinstance(raw, bool) and raw.bit_length() > 64:
        raise _Invalid("expected a string, got an out-of-range integer")
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        return str(raw)
    raise _Invalid(f"expected a string, got {type(raw).__name__}")


def _structured(kind: type, raw: Any) -> Any:
    value = raw
    if isinstance(raw, str):
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise _Invalid(f"not valid JSON ({exc.msg} at character {exc.pos})") from None
        except RecursionError:
            raise _Invalid(f"JSON nested too deeply (at most {MAX_DEPTH} levels)") from None
        except ValueError as exc:  # an integer of more than 4,300 digits
            raise _Invalid(f"not usable JSON ({exc})") from None
    if kind is list and isinstance(value, tuple):
        value = list(value)
    if not isinstance(value, kind):
        raise _Invalid(f"expected a {'list' if kind is list else 'JSON object'}, got "
                       f"{type(value).__name__}")
    if _depth_over(value, MAX_DEPTH):
        raise _Invalid(f"JSON nested too deeply (at most {MAX_DEPTH} levels)")
    try:
        # Round trip through JSON: only plain data may reach the notebook.
        text = json.dumps(value, allow_nan=False)
        text.encode("utf-8")  # a lone surrogate
        return json.loads(text)
    except (TypeError, ValueError) as exc:
        raise _Invalid(f"only JSON data is accepted ({exc})") from None


def _depth_over(value: Any, limit: int) -> bool:
    """Whether lists and objects nest deeper than ``limit`` (without recursing)."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (list, tuple, dict)):
            if depth >= limit:
                return True
            stack.extend((child, depth + 1) for child in
                         (item.values() if isinstance(item, dict) else item))
    return False


def _time(param: Parameter, raw: Any) -> Any:
    """Accept the declared format or the other common one (ISOT ↔ MJD) and convert."""
    from astropy.time import Time

    if isinstance(raw, bool):
        raise _Invalid("expected a time, got a boolean")
    try:
        if isinstance(raw, (int, float)):
            t = Time(float(raw), format="mjd", scale="utc")
        else:
            text = str(raw).strip()
            try:
                t = Time(float(text), format="mjd", scale="utc")
            except ValueError:
                t = Time(text, scale="utc")
    except (ValueError, TypeError) as exc:
        raise _Invalid(f"{raw!r} is not a time (ISOT like 2020-01-01T00:00:00 or MJD) ({exc})") from None
    if param.type is float:
        return float(getattr(t, param.format or "mjd"))
    value = getattr(t, param.format or "isot")
    return value if isinstance(value, str) else str(value)


def _check_range(param: Parameter, value: Any) -> None:
    if value is None:
        return
    if param.minimum is not None and value < param.minimum:
        raise _Invalid(f"must be ≥ {param.minimum:g}{_unit(param)}")
    if param.maximum is not None and value > param.maximum:
        raise _Invalid(f"must be ≤ {param.maximum:g}{_unit(param)}")
    if param.enum is not None and value not in param.enum:
        allowed = ", ".join(repr(v) for v in param.enum)
        raise _Invalid(f"must be one of {allowed}")


def _unit(param: Parameter) -> str:
    return f" {param.unit}" if param.unit else ""


def canonical_json(values: Mapping[str, Any]) -> str:
    """Deterministic text of validated values (sorted keys, no spaces, exact floats); of
    their canonical form for `ValidatedValues`."""
    if isinstance(values, ValidatedValues):
        values = values.canonical
    return json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)


def cache_key(*parts: Any) -> str:
    """SHA-256 of the canonical JSON of the parts (service, version, values, …)."""
    # Validated values count in their canonical form: one key for one meaning.
    parts = tuple(p.canonical if isinstance(p, ValidatedValues) else p for p in parts)
    # surrogatepass: a key is a digest, and must exist for any text validation let through
    text = canonical_json({"k": list(parts)})
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
