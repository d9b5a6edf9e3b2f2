"""Resolve MMODA ontology terms to what astroflow needs: type, unit, limits, format, role.

The ontology is the Turtle file shipped in this package (never fetched): rdflib parses it once
per process (~30 ms) and it is compiled into plain per-term records, so resolving a class is a
walk over dicts. A class inherits its superclasses' facts; where several ancestors state the
same fact, a subclass's statement overrides its superclass's and otherwise the nearest one
(breadth-first) wins. Limits and allowed values accumulate instead, as OWL restrictions do:
a subclass can only narrow them.
"""

from __future__ import annotations

import difflib
import threading
from collections import deque
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, get_args

from astroflow.errors import AstroflowError, UnknownClass
from astroflow.ontology.model import ODA, UNIT, ClassInfo, Kind, ProductType, Role

if TYPE_CHECKING:
    import rdflib

AF = "http://astroflow.dev/ontology#"
XSD = "http://www.w3.org/2001/XMLSchema#"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
RDFS = "http://www.w3.org/2000/01/rdf-schema#"
OWL = "http://www.w3.org/2002/07/owl#"
DC = "http://purl.org/dc/elements/1.1/"

# Prefixes every annotation may use, whatever the loaded file declares.
PREFIXES: dict[str, str] = {
    "oda": ODA, "unit": UNIT, "af": AF, "xsd": XSD, "rdf": RDF, "rdfs": RDFS, "owl": OWL,
}
# Spellings of the MMODA namespaces seen in notebooks that mean the canonical ones.
_NAMESPACE_ALIASES = {
    "https://odahub.io/ontology#": ODA,
    "https://odahub.io/ontology/unit#": UNIT,
}

PARAMETER_ROOT = ODA + "WorkflowParameter"
PRODUCT_ROOT = ODA + "DataProduct"
OPTIONAL = ODA + "optional"
UNIT_ROOT = UNIT + "Unit"
FORMAT_ROOT = ODA + "ParameterFormat"

_PYTHON_TYPES: dict[str, type] = {
    "float": float, "int": int, "str": str, "bool": bool, "list": list, "dict": dict,
}
# What `oda:value owl:allValuesFrom xsd:…` restrictions mean in Python.
_XSD_PYTHON: dict[str, type] = {
    **{XSD + n: float for n in ("float", "double", "decimal")},
    **{XSD + n: int for n in ("integer", "int", "long", "short", "nonNegativeInteger",
                              "positiveInteger", "negativeInteger", "nonPositiveInteger")},
    **{XSD + n: str for n in ("string", "anyURI", "normalizedString", "token")},
    XSD + "boolean": bool,
}
_ROLES = frozenset(get_args(Role))
_PRODUCT_TYPES = frozenset(get_args(ProductType))
_PACKAGE_FILE = "astroflow.ttl"


@dataclass
class _Term:
    """What one subject of the graph states about itself, before anything is inherited."""

    uri: str
    is_class: bool
    supers: tuple[str, ...] = ()
    # python_type, unit, format, role, product_type, lower_limit, upper_limit, allowed_values
    facts: dict[str, Any] = field(default_factory=dict)
    label: str | None = None
    description: str | None = None
    own_unit: str | None = None     # for unit individuals: their astropy unit string
    own_format: str | None = None   # for format individuals: their astropy.time format


class Ontology:
    """A loaded ontology: expands prefixed terms and resolves classes to `ClassInfo`."""

    def __init__(self, terms: dict[str, _Term], prefixes: dict[str, str] | None = None,
                 source: str = "<memory>") -> None:
        self.source = source
        self._terms = terms
        self._prefixes = {**(prefixes or {}), **PREFIXES}
        self._resolved: dict[str, ClassInfo] = {}
        self._ancestor_sets: dict[str, frozenset[str]] = {}
        self._units_checked: set[str] = set()
        self._formats_checked: set[str] = set()

    # ---- loading -------------------------------------------------------------------------

    @classmethod
    def default(cls) -> Ontology:
        """The package's ontology, loaded once per process and shared."""
        global _default
        with _default_lock:
            if _default is None:
                _default = cls.from_package()
            return _default

    @classmethod
    def from_package(cls) -> Ontology:
        """A fresh copy of the ontology shipped in the package (no cache, no network)."""
        text = resources.files("astroflow.ontology").joinpath(_PACKAGE_FILE).read_text("utf-8")
        return cls.from_turtle(text, source=f"astroflow/ontology/{_PACKAGE_FILE}")

    @classmethod
    def from_file(cls, path: str | Path) -> Ontology:
        """An ontology read from a local Turtle (or other rdflib-readable) file."""
        from rdflib.util import guess_format

        path = Path(path)
        try:
            text = path.read_text("utf-8")
        except OSError as exc:
            raise AstroflowError(f"cannot read ontology file {path}: {exc}") from exc
        return cls.from_turtle(text, source=str(path), format=guess_format(str(path)) or "turtle")

    @classmethod
    def from_turtle(cls, text: str, *, source: str = "<memory>",
                    format: str = "turtle") -> Ontology:
        """An ontology from Turtle text (or another rdflib `format`)."""
        import rdflib

        graph = rdflib.Graph()
        try:
            graph.parse(data=text, format=format)
        except Exception as exc:  # rdflib raises many unrelated types for bad syntax
            raise AstroflowError(f"cannot parse ontology {source}: {exc}") from exc
        prefixes = {p: str(ns) for p, ns in graph.namespaces() if p}
        return cls(_compile(graph, source), prefixes, source)

    # ---- terms ---------------------------------------------------------------------------

    def expand(self, term: str) -> str:
        """Full URI of ``oda:Name``, ``unit:arcmin``, ``xsd:float``, ``<…>`` or a full URI."""
        text = term.strip()
        if text.startswith("<") and text.endswith(">"):
            text = text[1:-1].strip()
        if not text:
            raise UnknownClass("empty ontology term")
        if "://" in text:
            for alias, canonical in _NAMESPACE_ALIASES.items():
                if text.startswith(alias):
                    return canonical + text[len(alias):]
            return text
        prefix, colon, local = text.partition(":")
        if not colon:
            raise UnknownClass(
                f"ontology term {term!r} has no prefix: write it as oda:{text} "
                f"(or in full, {ODA}{text})")
        namespace = self._prefixes.get(prefix)
        if namespace is None:
            known = ", ".join(f"{p}:" for p in sorted(PREFIXES))
            raise UnknownClass(f"unknown prefix {prefix!r} in ontology term {term!r}; "
                               f"known prefixes are {known} or write the full URI")
        if not local:
            raise UnknownClass(f"ontology term {term!r} names no class after {prefix}:")
        return namespace + local

    def knows(self, term: str) -> bool:
        """Is this term defined (as a class or an individual) in this ontology?"""
        try:
            return self.expand(term) in self._terms
        except UnknownClass:
            return False

    __contains__ = knows

    def classes(self, kind: Kind | None = None) -> list[str]:
        """Full URIs of the defined classes, of one kind if asked, sorted."""
        return sorted(uri for uri, t in self._terms.items()
                      if t.is_class and (kind is None or self._kind(uri) == kind))

    def curie(self, uri: str) -> str:
        """Shortest prefixed spelling of a URI (the URI itself if no prefix fits)."""
        best = uri
        for prefix, namespace in PREFIXES.items():
            if uri.startswith(namespace) and len(uri) > len(namespace):
                candidate = f"{prefix}:{uri[len(namespace):]}"
                if len(candidate) < len(best):
                    best = candidate
        return best

    # ---- resolution ----------------------------------------------------------------------

    def resolve(self, term: str) -> ClassInfo:
        """Everything astroflow knows about a class, superclass facts folded in."""
        uri = self.expand(term)
        info = self._resolved.get(uri)
        if info is None:
            if uri not in self._terms:
                raise self._unknown(term, uri)
            info = self._build(uri)
            self._resolved[uri] = info
        return info

    def unit(self, term: str) -> str:
        """astropy unit string of a unit individual (``unit:arcmin``) or of a class's unit."""
        uri = self.expand(term)
        own = self._own_unit(uri)
        if own is not None:
            return self._checked_unit(own, uri)
        info = self.resolve(term)
        if info.unit is None:
            raise UnknownClass(f"{self.curie(uri)} is neither a unit nor a class with a unit")
        return info.unit

    def time_format(self, term: str) -> str:
        """astropy.time format name of a format individual (``oda:MJD``) or of a class."""
        uri = self.expand(term)
        own = self._own_format(uri)
        if own is not None:
            return self._checked_format(own, uri)
        info = self.resolve(term)
        if info.format is None:
            raise UnknownClass(
                f"{self.curie(uri)} is neither a time format nor a class with a time format")
        return info.format

    def __repr__(self) -> str:
        return f"Ontology({self.source!r}, {len(self._terms)} terms)"

    # ---- internals -----------------------------------------------------------------------

    def _lineage(self, uri: str) -> list[str]:
        """The term then its ancestors, breadth-first (nearest first), each once."""
        order = [uri]
        seen = {uri}
        queue = deque([uri])
        while queue:
            term = self._terms.get(queue.popleft())
            for parent in term.supers if term else ():
                if parent not in seen:
                    seen.add(parent)
                    order.append(parent)
                    queue.append(parent)
        return order

    def _ancestors(self, uri: str) -> frozenset[str]:
        found = self._ancestor_sets.get(uri)
        if found is None:
            found = frozenset(self._lineage(uri)[1:])
            self._ancestor_sets[uri] = found
        return found

    def _kind(self, uri: str) -> Kind:
        lineage = self._ancestors(uri) | {uri}
        if PARAMETER_ROOT in lineage:
            return "parameter"
        if PRODUCT_ROOT in lineage:
            return "product"
        return "other"

    def _definers(self, key: str, lineage: list[str]) -> list[str]:
        """Terms in the lineage stating `key`, most specific first.

        A statement made on a subclass of another definer overrides that definer; among
        unrelated definers the breadth-first order (nearest first) decides.
        """
        definers = [c for c in lineage if c in self._terms and key in self._terms[c].facts]
        specific = [c for c in definers
                    if not any(d != c and c in self._ancestors(d) for d in definers)]
        return specific + [c for c in definers if c not in specific]

    def _nearest(self, key: str, lineage: list[str]) -> Any:
        definers = self._definers(key, lineage)
        return self._terms[definers[0]].facts[key] if definers else None

    def _build(self, uri: str) -> ClassInfo:
        term = self._terms[uri]
        lineage = self._lineage(uri)
        kind = self._kind(uri)
        lower, upper = self._limits(uri, lineage)
        unit = self._nearest("unit", lineage)
        fmt = self._nearest("format", lineage)
        if not term.is_class:
            unit = self._own_unit(uri) or unit
            fmt = self._own_format(uri) or fmt
        return ClassInfo(
            uri=uri,
            name=_local_name(uri),
            kind=kind,
            python_type=self._nearest("python_type", lineage),
            unit=self._checked_unit(unit, uri) if unit is not None else None,
            lower_limit=lower,
            upper_limit=upper,
            allowed_values=self._allowed(uri, lineage),
            format=self._checked_format(fmt, uri) if fmt is not None else None,
            role=self._nearest("role", lineage),
            product_type=self._nearest("product_type", lineage),
            optional=OPTIONAL in lineage,
            label=term.label,
            description=term.description,
            superclasses=tuple(lineage[1:]),
        )

    def _limits(self, uri: str, lineage: list[str]) -> tuple[float | None, float | None]:
        lowers = [self._terms[c].facts["lower_limit"]
                  for c in self._definers("lower_limit", lineage)]
        uppers = [self._terms[c].facts["upper_limit"]
                  for c in self._definers("upper_limit", lineage)]
        lower = max(lowers) if lowers else None
        upper = min(uppers) if uppers else None
        if lower is not None and upper is not None and lower > upper:
            raise AstroflowError(f"ontology {self.source}: the limits inherited by "
                                 f"{self.curie(uri)} leave no value ({lower} > {upper})")
        return lower, upper

    def _allowed(self, uri: str, lineage: list[str]) -> tuple | None:
        lists = [self._terms[c].facts["allowed_values"]
                 for c in self._definers("allowed_values", lineage)]
        if not lists:
            return None
        allowed = tuple(v for v in lists[0] if all(v in other for other in lists[1:]))
        if not allowed:
            raise AstroflowError(f"ontology {self.source}: the allowed values inherited by "
                                 f"{self.curie(uri)} have nothing in common")
        return allowed

    def _own_unit(self, uri: str) -> str | None:
        term = self._terms.get(uri)
        if term is None or term.is_class or term.own_unit is None:
            return None
        return term.own_unit if UNIT_ROOT in self._ancestors(uri) or uri.startswith(UNIT) \
            else None

    def _own_format(self, uri: str) -> str | None:
        term = self._terms.get(uri)
        if term is None or term.is_class or term.own_format is None:
            return None
        return term.own_format if FORMAT_ROOT in self._ancestors(uri) else None

    def _checked_unit(self, unit: str, where: str) -> str:
        """The unit string, once astropy.units has accepted it."""
        if unit not in self._units_checked:
            import astropy.units as u

            try:
                u.Unit(unit)
            except (ValueError, TypeError) as exc:
                raise AstroflowError(f"ontology {self.source}: {self.curie(where)} has unit "
                                     f"{unit!r}, which astropy.units cannot read") from exc
            self._units_checked.add(unit)
        return unit

    def _checked_format(self, fmt: str, where: str) -> str:
        """The time format name, once astropy.time has confirmed it knows it."""
        if fmt not in self._formats_checked:
            from astropy.time import Time

            if fmt not in Time.FORMATS:
                raise AstroflowError(f"ontology {self.source}: {self.curie(where)} has time "
                                     f"format {fmt!r}, which astropy.time does not know")
            self._formats_checked.add(fmt)
        return fmt

    def _unknown(self, term: str, uri: str) -> UnknownClass:
        """An UnknownClass naming the term and the defined names closest to it."""
        local = _local_name(uri)
        namespace = uri[: len(uri) - len(local)]
        by_lower: dict[str, list[str]] = {}
        for known in self._terms:
            by_lower.setdefault(_local_name(known).lower(), []).append(known)
        close = difflib.get_close_matches(local.lower(), list(by_lower), n=3, cutoff=0.6)
        lead, end = "did you mean ", "?"
        if not close:
            close = difflib.get_close_matches(local.lower(), list(by_lower), n=3, cutoff=0.3)
            lead, end = "closest known names: ", ""
        # One spelling per name, preferring the namespace the term was written in.
        names = [self.curie(min(by_lower[n], key=lambda u: (not u.startswith(namespace), u)))
                 for n in close]
        hint = f"; {lead}{', '.join(names)}{end}" if names else ""
        return UnknownClass(f"{term.strip()!r} is not defined in astroflow's ontology "
                            f"({self.source}){hint}")


_default: Ontology | None = None
_default_lock = threading.Lock()


def _local_name(uri: str) -> str:
    for sep in ("#", "/", ":"):
        head, found, tail = uri.rpartition(sep)
        if found and tail:
            return tail
    return uri


# ---- compilation: rdflib graph → plain records ----------------------------------------------


def _compile(graph: rdflib.Graph, source: str) -> dict[str, _Term]:
    """Read the classes, individuals and their own facts out of the graph."""
    from rdflib import URIRef
    from rdflib.namespace import OWL as O
    from rdflib.namespace import RDF as R
    from rdflib.namespace import RDFS as S

    ignored = {str(O.Thing), str(S.Resource), str(O.NamedIndividual)}
    classes = {str(s) for kind in (O.Class, S.Class) for s in graph.subjects(R.type, kind)
               if isinstance(s, URIRef)}
    for s, o in graph.subject_objects(S.subClassOf):
        if isinstance(s, URIRef):
            classes.add(str(s))
        if isinstance(o, URIRef):
            classes.add(str(o))
    classes -= ignored

    individuals: set[str] = set()
    for s, o in graph.subject_objects(R.type):
        if isinstance(s, URIRef) and str(s) not in classes and \
                (o == O.NamedIndividual or str(o) in classes):
            individuals.add(str(s))
    for prop in ("astropyUnit", "astropyFormat"):
        for s in graph.subjects(URIRef(AF + prop), None):
            if isinstance(s, URIRef) and str(s) not in classes:
                individuals.add(str(s))

    terms: dict[str, _Term] = {}
    for uri in classes | individuals:
        node = URIRef(uri)
        is_class = uri in classes
        link = S.subClassOf if is_class else R.type
        supers = sorted({str(o) for o in graph.objects(node, link)
                         if isinstance(o, URIRef) and str(o) not in ignored and str(o) != uri})
        term = _Term(uri=uri, is_class=is_class, supers=tuple(supers))
        _read_facts(graph, node, term, source)
        terms[uri] = term
    return terms


def _read_facts(graph: rdflib.Graph, node: rdflib.URIRef, term: _Term, source: str) -> None:
    from rdflib import BNode, URIRef
    from rdflib.namespace import OWL as O
    from rdflib.namespace import RDFS as S

    facts = term.facts
    where = f"ontology {source}: {term.uri}"

    # Restrictions, the way the published MMODA ontology states units, formats and values.
    for restriction in graph.objects(node, S.subClassOf):
        if not isinstance(restriction, BNode):
            if str(restriction) in _XSD_PYTHON:
                facts.setdefault("python_type", _XSD_PYTHON[str(restriction)])
            continue
        prop = str(graph.value(restriction, O.onProperty) or "")
        if prop == ODA + "has_unit":
            value = graph.value(restriction, O.hasValue)
            if value is not None:
                facts["unit"] = _unit_text(graph, value)
        elif prop == ODA + "has_format":
            value = graph.value(restriction, O.hasValue)
            if value is not None:
                facts["format"] = _format_text(graph, value)
        elif prop == ODA + "value":
            datatype = graph.value(restriction, O.allValuesFrom)
            if datatype is not None:
                _read_datatype(graph, datatype, facts, where)

    # The annotation shorthands (oda:unit, oda:lower_limit, …) MMODA also accepts.
    value = graph.value(node, URIRef(ODA + "unit"))
    if value is not None:
        facts["unit"] = _unit_text(graph, value)
    value = graph.value(node, URIRef(ODA + "format"))
    if value is not None:
        facts["format"] = _format_text(graph, value)
    for key in ("lower_limit", "upper_limit"):
        numbers = [_number(v, where) for v in graph.objects(node, URIRef(ODA + key))]
        if numbers:
            _merge_limit(facts, key, max(numbers) if key == "lower_limit" else min(numbers))
    annotated = [_python_value(v) for v in graph.objects(node, URIRef(ODA + "allowed_value"))]
    if annotated and "allowed_values" not in facts:
        facts["allowed_values"] = tuple(sorted(annotated, key=lambda v: (type(v).__name__, v)))

    # astroflow's own facts.
    python_name = _text(graph, node, AF + "pythonType")
    if python_name is not None:
        if python_name not in _PYTHON_TYPES:
            raise AstroflowError(f"{where} has af:pythonType {python_name!r}; "
                                 f"expected one of {', '.join(_PYTHON_TYPES)}")
        facts["python_type"] = _PYTHON_TYPES[python_name]
    for key, prop, allowed in (("role", "role", _ROLES),
                               ("product_type", "productType", _PRODUCT_TYPES)):
        stated = _text(graph, node, AF + prop)
        if stated is not None:
            if stated not in allowed:
                raise AstroflowError(f"{where} has af:{prop} {stated!r}; "
                                     f"expected one of {', '.join(sorted(allowed))}")
            facts[key] = stated

    term.label = _text(graph, node, RDFS + "label")
    term.description = _text(graph, node, RDFS + "comment") or _text(graph, node, DC + "description")
    if not term.is_class:
        term.own_unit = _unit_text(graph, node)
        term.own_format = _format_text(graph, node)


def _read_datatype(graph: rdflib.Graph, datatype: Any, facts: dict[str, Any], where: str) -> None:
    """Facts of an ``oda:value owl:allValuesFrom`` datatype: base type, bounds, one-of list."""
    from rdflib import BNode
    from rdflib.collection import Collection
    from rdflib.namespace import OWL as O

    if not isinstance(datatype, BNode):
        if str(datatype) in _XSD_PYTHON:
            facts.setdefault("python_type", _XSD_PYTHON[str(datatype)])
        return
    base = graph.value(datatype, O.onDatatype)
    if base is not None and str(base) in _XSD_PYTHON:
        facts.setdefault("python_type", _XSD_PYTHON[str(base)])
    facets = graph.value(datatype, O.withRestrictions)
    if facets is not None:
        for facet in Collection(graph, facets):
            for prop, value in graph.predicate_objects(facet):
                if str(prop) == XSD + "minInclusive":
                    _merge_limit(facts, "lower_limit", _number(value, where))
                elif str(prop) == XSD + "maxInclusive":
                    _merge_limit(facts, "upper_limit", _number(value, where))
    members = graph.value(datatype, O.oneOf)
    if members is not None:
        values = tuple(_python_value(v) for v in Collection(graph, members))
        previous = facts.get("allowed_values")
        facts["allowed_values"] = values if previous is None else \
            tuple(v for v in values if v in previous)


def _merge_limit(facts: dict[str, Any], key: str, value: float) -> None:
    """Several bounds stated on one class: keep the tightest."""
    if key in facts:
        value = max(facts[key], value) if key == "lower_limit" else min(facts[key], value)
    facts[key] = value


def _text(graph: rdflib.Graph, node: Any, prop: str) -> str | None:
    """One literal value of a property, preferring untagged or English ones."""
    from rdflib import Literal, URIRef

    values = [v for v in graph.objects(node, URIRef(prop)) if isinstance(v, Literal)]
    if not values:
        return None
    values.sort(key=lambda v: (v.language not in (None, "en"), str(v)))
    return str(values[0])


def _unit_text(graph: rdflib.Graph, node: Any) -> str:
    """astropy spelling of a unit individual: af:astropyUnit, else oda:symbol, else its name."""
    from rdflib import Literal

    if isinstance(node, Literal):
        return str(node)
    return (_text(graph, node, AF + "astropyUnit") or _text(graph, node, ODA + "symbol")
            or _local_name(str(node)))


def _format_text(graph: rdflib.Graph, node: Any) -> str:
    """astropy.time name of a format individual: af:astropyFormat, else oda:symbol, else name."""
    from rdflib import Literal

    if isinstance(node, Literal):
        return str(node)
    return (_text(graph, node, AF + "astropyFormat") or _text(graph, node, ODA + "symbol")
            or _local_name(str(node)).lower())


def _python_value(node: Any) -> Any:
    from rdflib import Literal

    if isinstance(node, Literal):
        value = node.toPython()
        return str(node) if isinstance(value, Literal) else value
    return str(node)


def _number(node: Any, where: str) -> float:
    try:
        return float(_python_value(node))
    except (TypeError, ValueError) as exc:
        raise AstroflowError(f"{where}: limit {node!r} is not a number") from exc

