"""astroflow's ontology: MMODA compatibility, resolution rules, units, formats, no network."""

from __future__ import annotations

import socket
import time
from importlib import resources
from pathlib import Path

import astropy.units as u
import pytest
import rdflib
from rdflib.namespace import OWL, RDF, RDFS

from astroflow.errors import AstroflowError, UnknownClass
from astroflow.ontology import AF, ODA, UNIT, ClassInfo, Ontology, resolve

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "odahub-ontology.ttl"
# Parameter classes whose Python type is the notebook default value's: they admit several.
TYPED_BY_DEFAULT_VALUE = {
    ODA + n for n in ("WorkflowParameter", "optional", "ExpressedInFormat", "StructuredParameter",
                      "TimeInstant", "StartTime", "EndTime")
}


@pytest.fixture(scope="module")
def onto() -> Ontology:
    return Ontology.default()


@pytest.fixture(scope="module")
def reference() -> rdflib.Graph:
    if not REFERENCE.exists():
        pytest.skip(f"MMODA reference ontology not found at {REFERENCE}")
    graph = rdflib.Graph()
    graph.parse(REFERENCE, format="turtle")
    return graph


def named_classes(graph: rdflib.Graph) -> set[str]:
    found = {s for s in graph.subjects(RDF.type, OWL.Class) if isinstance(s, rdflib.URIRef)}
    return {str(s) for s in found}


def closure(graph: rdflib.Graph, uri: str) -> set[str]:
    """The class and all its named superclasses, straight from the graph."""
    seen, stack = {uri}, [rdflib.URIRef(uri)]
    while stack:
        for parent in graph.objects(stack.pop(), RDFS.subClassOf):
            if isinstance(parent, rdflib.URIRef) and str(parent) not in seen:
                seen.add(str(parent))
                stack.append(parent)
    return seen


def reference_kinds(graph: rdflib.Graph) -> dict[str, str]:
    kinds = {}
    for uri in named_classes(graph):
        lineage = closure(graph, uri)
        if ODA + "WorkflowParameter" in lineage:
            kinds[uri] = "parameter"
        elif ODA + "DataProduct" in lineage:
            kinds[uri] = "product"
    return kinds


# ---- compatibility with the published MMODA ontology ------------------------------------------


def test_every_reference_parameter_and_product_class_resolves(onto, reference):
    kinds = reference_kinds(reference)
    assert sum(k == "parameter" for k in kinds.values()) > 80
    assert sum(k == "product" for k in kinds.values()) >= 10
    problems = []
    for uri, kind in sorted(kinds.items()):
        if not onto.knows(uri):
            problems.append(f"{uri}: not defined")
            continue
        info = onto.resolve(uri)
        if info.kind != kind:
            problems.append(f"{uri}: kind {info.kind}, MMODA says {kind}")
        if kind == "parameter":
            if uri in TYPED_BY_DEFAULT_VALUE:
                if info.python_type is not None:
                    problems.append(f"{uri}: expected no fixed type, got {info.python_type}")
            elif info.python_type not in (float, int, str, bool, list, dict):
                problems.append(f"{uri}: python type {info.python_type}")
    assert not problems, "\n".join(problems)


def test_every_reference_class_is_known_with_its_superclasses(onto, reference):
    problems = []
    for uri in sorted(named_classes(reference)):
        if not onto.knows(uri):
            problems.append(f"{uri}: not defined")
            continue
        ours = set(onto.resolve(uri).superclasses)
        for parent in reference.objects(rdflib.URIRef(uri), RDFS.subClassOf):
            if isinstance(parent, rdflib.URIRef) and parent != OWL.Thing \
                    and str(parent) not in ours:
                problems.append(f"{uri}: lost superclass {parent}")
    assert not problems, "\n".join(problems)


def test_units_agree_with_mmoda_restrictions(onto, reference):
    """Read `has_unit owl:hasValue` and `:symbol` from the raw reference graph."""
    checked = 0
    for restriction in reference.subjects(OWL.onProperty, rdflib.URIRef(ODA + "has_unit")):
        unit_node = reference.value(restriction, OWL.hasValue)
        if unit_node is None:
            continue
        symbol = reference.value(unit_node, rdflib.URIRef(ODA + "symbol"))
        expected = u.Unit(str(symbol) if symbol is not None else str(unit_node).split("#")[1])
        for cls in reference.subjects(RDFS.subClassOf, restriction):
            assert u.Unit(onto.resolve(str(cls)).unit) == expected, cls
            checked += 1
    assert checked >= 20


def test_facts_agree_with_mmoda_wherever_it_states_them(onto):
    """Resolve the reference file itself and compare: astroflow may add facts, never change."""
    if not REFERENCE.exists():
        pytest.skip(f"MMODA reference ontology not found at {REFERENCE}")
    mmoda = Ontology.from_file(REFERENCE)
    compared = 0
    for uri in mmoda.classes():
        theirs, ours = mmoda.resolve(uri), onto.resolve(uri)
        for fact in ("python_type", "unit", "format", "lower_limit", "upper_limit",
                     "allowed_values", "optional"):
            stated = getattr(theirs, fact)
            if stated not in (None, False):
                assert getattr(ours, fact) == stated, (uri, fact)
                compared += 1
    assert compared > 100


def test_extension_marks_exactly_what_astroflow_adds(reference):
    ours = rdflib.Graph()
    ours.parse(data=resources.files("astroflow.ontology").joinpath("astroflow.ttl")
               .read_text("utf-8"), format="turtle")
    theirs = {str(s) for s in reference.subjects() if isinstance(s, rdflib.URIRef)}
    extension = rdflib.URIRef(AF + "extension")
    subjects = {s for s in ours.subjects(RDF.type, None) if isinstance(s, rdflib.URIRef)}
    subjects |= {s for s in ours.subjects(RDFS.subClassOf, None)}
    problems = []
    for s in sorted(subjects):
        if not str(s).startswith((ODA, UNIT)):
            continue
        marked = (s, extension, rdflib.Literal(True)) in ours
        if marked and str(s) in theirs:
            problems.append(f"{s} is MMODA's, not an extension")
        if not marked and str(s) not in theirs:
            problems.append(f"{s} is not in MMODA's ontology: mark it af:extension")
    assert not problems, "\n".join(problems)


# ---- specific meanings ------------------------------------------------------------------------


def test_point_of_interest(onto):
    ra = onto.resolve("oda:PointOfInterestRA")
    assert (ra.kind, ra.python_type, ra.unit, ra.role) == ("parameter", float, "deg", "ra")
    assert (ra.lower_limit, ra.upper_limit) == (0.0, 360.0)
    dec = onto.resolve("oda:PointOfInterestDEC")
    assert (dec.python_type, dec.unit, dec.role) == (float, "deg", "dec")
    assert (dec.lower_limit, dec.upper_limit) == (-90.0, 90.0)
    assert ODA + "RightAscension" in ra.superclasses
    assert ra.superclasses.index(ODA + "RightAscensionDegrees") == 0


def test_times(onto):
    assert onto.resolve("oda:StartTime").role == "start_time"
    assert onto.resolve("oda:EndTime").role == "end_time"
    assert onto.resolve("oda:TimeInstant").role == "time"
    mjd = onto.resolve("oda:StartTimeMJD")
    assert (mjd.format, mjd.python_type, mjd.role) == ("mjd", float, "start_time")
    isot = onto.resolve("oda:StartTimeISOT")
    assert (isot.format, isot.python_type, isot.role) == ("isot", str, "start_time")
    assert onto.resolve("oda:EndTimeMJD").format == "mjd"
    assert onto.resolve("oda:EndTimeISOT").role == "end_time"
    # Without a format subclass the default value decides (ISOT string or MJD number).
    assert onto.resolve("oda:StartTime").format is None


def test_units_of_classes(onto):
    assert onto.resolve("oda:AngleMinutes").unit == "arcmin"
    assert onto.resolve("oda:AngleSeconds").unit == "arcsec"
    assert onto.resolve("oda:Energy_GeV").unit == "GeV"
    assert onto.resolve("oda:TimeIntervalDays").unit == "day"
    assert onto.resolve("oda:Wavelength_A").unit == "Angstrom"
    assert onto.resolve("oda:Angle").unit is None  # any angle unit


def test_basic_types(onto):
    assert onto.resolve("oda:Integer").python_type is int
    assert onto.resolve("oda:Boolean").python_type is bool
    assert onto.resolve("oda:String").python_type is str
    assert onto.resolve("oda:Float").python_type is float
    assert onto.resolve("oda:LongString").python_type is str
    assert onto.resolve("oda:PhosphorosFiltersTable").python_type is dict
    assert onto.resolve("xsd:float").python_type is float
    assert onto.resolve("xsd:int").python_type is int
    assert onto.resolve("xsd:bool").python_type is bool


@pytest.mark.parametrize(("term", "role"), [
    ("oda:PointOfInterestRA", "ra"), ("oda:PointOfInterestDEC", "dec"),
    ("oda:StartTimeISOT", "start_time"), ("oda:EndTimeMJD", "end_time"),
    ("oda:TimeInstantMJD", "time"), ("oda:AstrophysicalObject", "object_name"),
    ("oda:AstrophysicalObjectOfInterest", "object_name"), ("oda:SearchRadiusArcmin", "radius"),
    ("oda:Energy_keV", "energy"), ("oda:ISGRIEnergy", "energy"), ("oda:POSIXPath", "file"),
    ("oda:FileURL", "url"), ("oda:Token", "token"), ("oda:Visibility", "visibility"),
    ("oda:Float", None), ("oda:RightAscensionDegrees", None),
])
def test_roles(onto, term, role):
    assert onto.resolve(term).role == role


@pytest.mark.parametrize(("term", "product_type"), [
    ("oda:LightCurve", "lightcurve"), ("oda:Spectrum", "spectrum"), ("oda:Image", "image"),
    ("oda:ODAAstropyTable", "table"), ("oda:Table", "table"),
    ("oda:ODAPictureProduct", "picture"), ("oda:Picture", "picture"),
    ("oda:ODATextProduct", "text"), ("oda:Text", "text"), ("oda:TextProduct", "text"),
    ("oda:ODABinaryProduct", "binary"), ("oda:Binary", "binary"), ("oda:BinaryProduct", "binary"),
    ("oda:File", "file"), ("oda:ParameterProduct", "scalar"), ("oda:DataProduct", None),
])
def test_products(onto, term, product_type):
    info = onto.resolve(term)
    assert (info.kind, info.product_type) == ("product", product_type)


@pytest.mark.parametrize("term", ["oda:Float", "oda:Integer", "oda:String", "oda:Boolean",
                                  "oda:PointOfInterestRA", "oda:StartTimeISOT"])
def test_parameter_classes_are_scalar_products_as_outputs(onto, term):
    info = onto.resolve(term)
    assert (info.kind, info.product_type) == ("parameter", "scalar")


def test_limits_and_allowed_values(onto):
    isgri = onto.resolve("oda:ISGRIEnergy")
    assert (isgri.unit, isgri.lower_limit, isgri.upper_limit) == ("keV", 15.0, 800.0)
    assert onto.resolve("oda:Percentage").upper_limit == 100.0
    assert onto.resolve("oda:VisibleBand").allowed_values == ("b", "g", "r", "v")
    assert "H" in onto.resolve("oda:PhotometricBand").allowed_values
    assert onto.resolve("oda:Visibility").allowed_values == ("public", "private")
    radius = onto.resolve("oda:SearchRadiusDegrees")
    assert (radius.unit, radius.lower_limit, radius.upper_limit) == ("deg", 0.0, 180.0)


def test_optional_marker(onto):
    assert onto.resolve("oda:optional").optional
    assert onto.resolve("oda:optional").kind == "parameter"
    assert not onto.resolve("oda:String").optional


def test_label_description_and_curie(onto):
    info = onto.resolve("http://odahub.io/ontology#AstrophysicalObject")
    assert isinstance(info, ClassInfo)
    assert info.name == "AstrophysicalObject" and info.curie == "oda:AstrophysicalObject"
    assert info.label and "gamma-ray burst" in info.description
    assert onto.resolve("oda:StartTimeMJD").description is None  # not inherited


# ---- terms, units, formats --------------------------------------------------------------------


def test_expand_spellings(onto):
    full = ODA + "StartTime"
    assert onto.expand("oda:StartTime") == full
    assert onto.expand(full) == full
    assert onto.expand(f"<{full}>") == full
    assert onto.expand(" https://odahub.io/ontology#StartTime ") == full
    assert onto.expand("unit:arcmin") == UNIT + "arcmin"
    assert onto.expand("xsd:float") == "http://www.w3.org/2001/XMLSchema#float"
    assert onto.expand("af:role") == AF + "role"


def test_expand_rejects_unknown_prefix_and_bare_names(onto):
    with pytest.raises(UnknownClass, match="unknown prefix 'foo'.*oda:"):
        onto.expand("foo:Bar")
    with pytest.raises(UnknownClass, match="write it as oda:StartTime"):
        onto.expand("StartTime")
    with pytest.raises(UnknownClass):
        onto.expand("  ")


def test_unknown_class_names_the_term_and_suggests(onto):
    with pytest.raises(UnknownClass) as caught:
        onto.resolve("oda:NoSuchThing")
    message = str(caught.value)
    assert "oda:NoSuchThing" in message
    assert "closest known names: oda:" in message
    assert isinstance(caught.value, AstroflowError) and isinstance(caught.value, KeyError)
    with pytest.raises(UnknownClass, match=r"did you mean oda:LightCurve\?"):
        onto.resolve("oda:lightcurve")
    with pytest.raises(UnknownClass, match="oda:PointOfInterestRA"):
        onto.resolve("oda:PointOfInterestRa")


def test_knows_and_classes(onto):
    assert onto.knows("oda:PointOfInterestRA") and "oda:MJD" in onto
    assert onto.knows("unit:arcmin") and not onto.knows("oda:NoSuchThing")
    assert not onto.knows("foo:Bar")
    parameters, products = set(onto.classes("parameter")), set(onto.classes("product"))
    assert ODA + "Float" in parameters and ODA + "LightCurve" in products
    assert not parameters & products
    assert ODA + "Workflow" in onto.classes("other")
    assert UNIT + "arcmin" not in onto.classes()  # an individual, not a class
    assert onto.classes() == sorted(onto.classes())


@pytest.mark.parametrize("name", ["deg", "arcmin", "arcsec", "GeV", "TeV", "keV", "MeV", "eV",
                                  "erg", "s", "day", "Hz", "MHz", "GHz", "Angstrom", "nm", "m",
                                  "km", "pc", "kpc", "Mpc", "Jy", "yr"])
def test_unit_individuals(onto, name):
    assert u.Unit(onto.unit(f"unit:{name}")) == u.Unit(name)


def test_unit_and_format_lookups(onto):
    assert onto.unit("unit:Degree") == "deg"
    assert u.Unit(onto.unit("unit:Minute")) == u.min  # MMODA's symbol "m" would be metres
    assert u.Unit(onto.unit("unit:hourangle_Minute")) == u.Unit("15 arcmin")
    assert onto.unit("oda:AngleMinutes") == "arcmin"
    assert onto.resolve("unit:keV").unit == "keV"
    assert onto.time_format("oda:MJD") == "mjd"
    assert onto.time_format("oda:ISOT") == "isot"
    assert onto.time_format("oda:StartTimeISOT") == "isot"
    with pytest.raises(UnknownClass, match="not a unit|neither a unit"):
        onto.unit("oda:String")
    with pytest.raises(UnknownClass):
        onto.time_format("oda:Float")


def test_every_shipped_term_resolves_with_valid_units_and_formats(onto):
    from astropy.time import Time

    for uri in onto.classes():
        info = onto.resolve(uri)  # raises if a unit or format were not astropy's
        if info.unit is not None:
            u.Unit(info.unit)
        if info.format is not None:
            assert info.format in Time.FORMATS
    for individual in ("oda:JD", "oda:Unix", "oda:ISO", "oda:DecimalYear"):
        Time(2000, format="jyear").to_value(onto.time_format(individual))


# ---- resolution rules, on small ontologies ------------------------------------------------------

PREAMBLE = """
@prefix oda: <http://odahub.io/ontology#> .
@prefix unit: <http://odahub.io/ontology/unit#> .
@prefix af: <http://astroflow.dev/ontology#> .
@prefix owl: <http://www.w3.org/2002/07/owl#> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .
oda:WorkflowParameter a owl:Class .
oda:Number rdfs:subClassOf oda:WorkflowParameter ; af:pythonType "float" .
oda:Count rdfs:subClassOf oda:Number ; af:pythonType "int" .
unit:deg a owl:NamedIndividual , unit:Unit ; af:astropyUnit "deg" .
unit:rad a owl:NamedIndividual , unit:Unit ; oda:symbol "rad" .
"""


def small(turtle: str) -> Ontology:
    return Ontology.from_turtle(PREAMBLE + turtle, source="test")


def test_subclass_statement_overrides_its_superclass_even_at_equal_distance():
    onto = small("oda:Bins rdfs:subClassOf oda:Number , oda:Count .")
    assert onto.resolve("oda:Bins").python_type is int


def test_nearest_definition_wins():
    onto = small("""
        oda:InDeg oda:unit unit:deg .
        oda:InRad oda:unit unit:rad .
        oda:Mid rdfs:subClassOf oda:InRad .
        oda:X rdfs:subClassOf oda:Mid , oda:InDeg , oda:Number .
        oda:Y rdfs:subClassOf oda:X ; af:role "radius" .
    """)
    assert onto.resolve("oda:X").unit == "deg"
    y = onto.resolve("oda:Y")
    assert (y.unit, y.role, y.kind, y.python_type) == ("deg", "radius", "parameter", float)
    assert y.superclasses[0] == ODA + "X"
    assert y.superclasses.index(ODA + "InDeg") < y.superclasses.index(ODA + "InRad")


def test_limits_and_allowed_values_only_narrow():
    onto = small("""
        oda:Wide rdfs:subClassOf oda:Number ; oda:lower_limit 0 ; oda:upper_limit 100 .
        oda:Narrow rdfs:subClassOf oda:Wide ; oda:lower_limit -5 ; oda:upper_limit 10 .
        oda:Band rdfs:subClassOf oda:WorkflowParameter ; oda:allowed_value "g", "r", "i" .
        oda:Red rdfs:subClassOf oda:Band , [ a owl:Restriction ; owl:onProperty oda:value ;
            owl:allValuesFrom [ a rdfs:Datatype ; owl:oneOf ( "r" "i" "z" ) ] ] .
        oda:Empty rdfs:subClassOf oda:Band ; oda:allowed_value "u" .
    """)
    narrow = onto.resolve("oda:Narrow")
    assert (narrow.lower_limit, narrow.upper_limit) == (0.0, 10.0)
    assert onto.resolve("oda:Band").allowed_values == ("g", "i", "r")
    assert onto.resolve("oda:Red").allowed_values == ("r", "i")
    with pytest.raises(AstroflowError, match="nothing in common"):
        onto.resolve("oda:Empty")


def test_restriction_forms():
    onto = small("""
        oda:E rdfs:subClassOf oda:WorkflowParameter ,
            [ a owl:Restriction ; owl:onProperty oda:has_unit ; owl:hasValue unit:rad ] ,
            [ a owl:Restriction ; owl:onProperty oda:value ; owl:allValuesFrom [
                a rdfs:Datatype ; owl:onDatatype xsd:integer ;
                owl:withRestrictions ( [ xsd:minInclusive 3 ] [ xsd:maxInclusive 35 ] ) ] ] .
        oda:T rdfs:subClassOf oda:WorkflowParameter ,
            [ a owl:Restriction ; owl:onProperty oda:has_format ; owl:hasValue oda:JD ] .
        oda:JD a owl:NamedIndividual , oda:TimeFormat ; oda:symbol "jd" .
        oda:TimeFormat rdfs:subClassOf oda:ParameterFormat .
    """)
    e = onto.resolve("oda:E")
    assert (e.unit, e.python_type, e.lower_limit, e.upper_limit) == ("rad", int, 3.0, 35.0)
    assert onto.resolve("oda:T").format == "jd"
    assert onto.time_format("oda:JD") == "jd"


def test_cycles_terminate():
    onto = small("""
        oda:A rdfs:subClassOf oda:B . oda:B rdfs:subClassOf oda:A , oda:Number .
    """)
    a = onto.resolve("oda:A")
    assert a.python_type is float and ODA + "A" not in a.superclasses


def test_bad_ontologies_are_reported():
    with pytest.raises(AstroflowError, match="af:role 'declination'"):
        small('oda:D rdfs:subClassOf oda:Number ; af:role "declination" .')
    with pytest.raises(AstroflowError, match="af:pythonType 'complex'"):
        small('oda:D rdfs:subClassOf oda:Number ; af:pythonType "complex" .')
    with pytest.raises(AstroflowError, match="cannot parse"):
        small("oda:D rdfs:subClassOf")
    onto = small('unit:furlongs a unit:Unit ; af:astropyUnit "furlongs per fortnight" .\n'
                 'oda:Bad rdfs:subClassOf oda:Number ; oda:unit unit:furlongs .\n'
                 'oda:Inverted rdfs:subClassOf oda:Number ; oda:lower_limit 5 ; oda:upper_limit 1 .')
    with pytest.raises(AstroflowError, match="astropy.units cannot read"):
        onto.resolve("oda:Bad")
    with pytest.raises(AstroflowError, match="leave no value"):
        onto.resolve("oda:Inverted")
    with pytest.raises(AstroflowError, match="cannot read ontology file"):
        Ontology.from_file("/nonexistent/ontology.ttl")


# ---- loading ------------------------------------------------------------------------------------


def test_default_is_shared_and_module_resolve_uses_it():
    assert Ontology.default() is Ontology.default()
    assert resolve("oda:PointOfInterestRA") is Ontology.default().resolve("oda:PointOfInterestRA")


def test_loading_never_touches_the_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the ontology tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    fresh = Ontology.from_package()
    assert fresh is not Ontology.default()
    for uri in fresh.classes():
        fresh.resolve(uri)
    if REFERENCE.exists():
        Ontology.from_file(REFERENCE).resolve("oda:StartTimeMJD")


def test_loading_is_fast():
    timings = []
    for _ in range(3):
        start = time.perf_counter()
        Ontology.from_package()
        timings.append(time.perf_counter() - start)
    assert min(timings) < 0.5, timings
