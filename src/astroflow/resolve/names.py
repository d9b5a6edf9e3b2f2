"""How object names are compared: one key per name, whatever its case, spacing or padding.

Astronomers write the same object many ways ("M31", "M 31", "Messier 31", "NGC0224",
"NGC 224"; "Mkn 421", "Markarian 421", "mrk421"; "MCG-6-30-15", "MCG -06-30-015"), so every
catalogue stores, and every query looks up, the *key* of a name: case-folded, with spaces,
underscores and dashes removed, leading zeros of catalogue numbers dropped, and a few
catalogue prefixes written one way. Signs (``+``), decimal points and ``*`` stay: they tell
"3C 454.3" from "3C 4543" and "Sgr A*" from "Sgr A".
"""

from __future__ import annotations

import re
import unicodedata

# Catalogue prefixes with several spellings, only when a number follows ("Mkn 421", not "Mknx").
_PREFIX_SYNONYMS = (
    (re.compile(r"^(?:markarian|mkn)(?=[\s_-]*\d)"), "mrk"),
    (re.compile(r"^messier(?=[\s_-]*\d)"), "m"),
)
# Zeros that pad a number ("NGC0224", "PGC 002557", "MCG -06-30-015"), not those inside one.
_PADDING_ZEROS = re.compile(r"(?<![\d.])0+(?=\d)")
_SEPARATORS = re.compile(r"[\s_\-]+")
_DASHES = str.maketrans(dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2212", "-"))


def name_key(name: str) -> str:
    """The spelling-independent key of an object name (empty for a blank name)."""
    text = unicodedata.normalize("NFKC", name).translate(_DASHES).casefold().strip()
    for pattern, short in _PREFIX_SYNONYMS:
        text = pattern.sub(short, text)
    text = _PADDING_ZEROS.sub("", text)
    return _SEPARATORS.sub("", text)


def tidy(name: str) -> str:
    """A name as shown to people: SIMBAD's padding ("M   1") and its ``NAME`` prefix removed."""
    words = name.split()
    if len(words) > 1 and words[0] == "NAME":
        words = words[1:]
    return " ".join(words)
