"""The annotation comments of MMODA notebooks, read as data (never executed).

An annotation is the comment after an assignment, a small Turtle-like statement::

    ra = 265.97  # oda:PointOfInterestRA
    band = "g"   # http://odahub.io/ontology#String ; oda:allowed_value "b", "g", "r" .
    path = ""    # oda:POSIXPath, oda:optional ; oda:label "Catalogue"

that is: one or more class terms separated by commas, then ``; predicate object, object``
pairs, then an optional final ``.``. A comment standing on its own line that starts with a
predicate (``# oda:version "v0.1.1"``) is a notebook-level statement.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

from astroflow.errors import AnnotationError
from astroflow.ontology.model import ODA

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<iri><[^<>\s]*>)
  | (?P<uri>https?://[^\s;,<>"']+)
  | (?P<pname>[A-Za-z_][\w-]*:[A-Za-z_][\w.\-]*|[A-Za-z_][\w-]*:)
  | (?P<number>[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<word>[A-Za-z_][\w-]*)
  | (?P<punct>[;,.])
    """,
    re.VERBOSE,
)

# Predicates whose spelling varies between notebooks but mean the same.
_PREDICATE_ALIASES = {"allowed_values": "allowed_value"}


@dataclass(frozen=True)
class Token:
    kind: str
    text: str


@dataclass
class Annotation:
    """A parsed annotation: class terms and predicate values, all still as written."""

    classes: list[str] = field(default_factory=list)
    predicates: dict[str, list[object]] = field(default_factory=dict)
    optional: bool = False

    def one(self, predicate: str) -> object | None:
        values = self.predicates.get(predicate)
        return values[0] if values else None


def tokenize_annotation(text: str) -> list[Token]:
    """Split an annotation into tokens; a trailing dot on a term is the statement's end."""
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise AnnotationError(f"cannot read annotation near {text[pos:pos + 20]!r}")
        pos = m.end()
        kind = m.lastgroup or ""
        value = m.group()
        if kind == "space":
            continue
        if kind in ("uri", "pname") and value.endswith(".") and not value.endswith(":"):
            tokens.append(Token(kind, value.rstrip(".")))
            tokens.append(Token("punct", "."))
            continue
        tokens.append(Token(kind, value))
    return tokens


def is_term(token: Token) -> bool:
    return token.kind in ("uri", "iri", "pname")


def term_text(token: Token) -> str:
    """Full spelling of a term: ``<…>`` loses its brackets, the rest stays as written."""
    return token.text[1:-1] if token.kind == "iri" else token.text


def local_name(term: str) -> str | None:
    """``oda:lower_limit`` or ``http://odahub.io/ontology#lower_limit`` → ``lower_limit``."""
    if term.startswith("oda:"):
        return term[4:]
    if term.startswith(ODA):
        return term[len(ODA):]
    return None


def _literal(token: Token) -> object:
    if token.kind == "string":
        try:
            return ast.literal_eval(token.text)
        except (ValueError, SyntaxError) as exc:
            raise AnnotationError(f"bad string {token.text!r}") from exc
    if token.kind == "number":
        number = float(token.text)
        return int(number) if re.fullmatch(r"[+-]?\d+", token.text) else number
    if token.kind == "word" and token.text in ("true", "false", "True", "False"):
        return token.text.lower() == "true"
    if is_term(token):
        return term_text(token)
    raise AnnotationError(f"unexpected {token.text!r} where a value was expected")


def strip_hashes(comment: str) -> str:
    """The comment's text without its hashes: ``#  #  oda:Float`` reads as ``oda:Float``
    (nb2workflow strips spaces and hashes from both ends of a comment)."""
    return comment.strip(" \t#")


def looks_like_annotation(comment: str) -> bool:
    """Does this comment start with an ontology term (as MMODA annotations do)?"""
    body = strip_hashes(comment)
    try:
        tokens = tokenize_annotation(body.split(None, 1)[0]) if body else []
    except AnnotationError:
        return False
    return bool(tokens) and is_term(tokens[0]) and _is_known_prefix(term_text(tokens[0]))


def _is_known_prefix(term: str) -> bool:
    return term.startswith(("oda:", "http://", "https://", "unit:", "xsd:"))


def parse_annotation(comment: str) -> Annotation:
    """Parse the text of an annotation comment (with or without its leading ``#``).

    The class list may be left out (``oda:allowed_values "a", "b"``): a term followed by a
    value is a predicate, and the parameter's class then comes from its default's type.
    """
    body = strip_hashes(comment)
    tokens = tokenize_annotation(body)
    if tokens and tokens[-1] == Token("punct", "."):
        tokens.pop()
    ann = Annotation()
    groups = _split(tokens, ";")
    if not groups or not groups[0]:
        raise AnnotationError("empty annotation")
    first = groups[0]
    if len(first) >= 2 and is_term(first[0]) and first[1].kind != "punct":
        groups = [[], *groups]  # no class list: the statement starts with a predicate
    # First group: the class list (terms separated by commas).
    for part in _split(groups[0], ","):
        if len(part) != 1 or not is_term(part[0]):
            text = " ".join(t.text for t in part)
            raise AnnotationError(f"expected an ontology class, got {text!r}")
        term = term_text(part[0])
        if local_name(term) == "optional":
            ann.optional = True
        else:
            ann.classes.append(term)
    for group in groups[1:]:
        if not group:
            continue
        _add_predicate(ann, group)
    return ann


def parse_statement(comment: str) -> tuple[str, list[object]] | None:
    """A standalone ``# oda:predicate object`` line → (predicate local name, values)."""
    body = strip_hashes(comment)
    if not body:
        return None
    try:
        tokens = tokenize_annotation(body)
    except AnnotationError:
        return None
    if tokens and tokens[-1] == Token("punct", "."):
        tokens.pop()
    if len(tokens) < 2 or not is_term(tokens[0]) or local_name(term_text(tokens[0])) is None:
        return None
    if tokens[1].kind == "punct" or (tokens[1].kind == "word" and tokens[1].text != "true"):
        return None
    ann = Annotation()
    try:
        _add_predicate(ann, tokens)
    except AnnotationError:
        return None
    (name, values), = ann.predicates.items()
    return name, values


def _add_predicate(ann: Annotation, group: list[Token]) -> None:
    head = group[0]
    if not is_term(head):
        raise AnnotationError(f"expected a predicate such as oda:label, got {head.text!r}")
    name = local_name(term_text(head))
    if name is None:
        raise AnnotationError(f"unknown predicate {term_text(head)!r} (expected oda:…)")
    name = _PREDICATE_ALIASES.get(name, name)
    if name == "optional" and len(group) == 1:
        ann.optional = True
        return
    values = [_literal(part[0]) if len(part) == 1 else _bad_value(part)
              for part in _split(group[1:], ",")]
    if not values or any(v is None for v in values):
        raise AnnotationError(f"predicate oda:{name} needs a value")
    if name == "limits":  # nb2workflow: ``oda:limits 3, 30`` is a lower and an upper limit
        numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if len(numbers) != len(values) or len(numbers) < 2:
            raise AnnotationError("oda:limits needs two numbers (lower, upper)")
        ann.predicates.setdefault("lower_limit", []).append(min(numbers))
        ann.predicates.setdefault("upper_limit", []).append(max(numbers))
        return
    ann.predicates.setdefault(name, []).extend(values)


def _bad_value(part: list[Token]) -> object:
    text = " ".join(t.text for t in part) or "nothing"
    raise AnnotationError(f"expected one value, got {text!r} (separate values with commas)")


def _split(tokens: list[Token], sep: str) -> list[list[Token]]:
    parts: list[list[Token]] = [[]]
    for token in tokens:
        if token.kind == "punct" and token.text == sep:
            parts.append([])
        else:
            parts[-1].append(token)
    if parts == [[]]:
        return []
    return parts
