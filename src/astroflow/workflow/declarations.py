"""Read the ``parameters`` and ``outputs`` cells with ``ast`` and ``tokenize``, never ``exec``.

Each assignment of the parameters cell is a parameter; its type comes from the ontology
class of its annotation, else from a type hint, else from its default. Each assignment or
bare name of the outputs cell is a product. Contradictions are errors with the line.
"""

from __future__ import annotations

import ast
import dataclasses
import io
import keyword
import tokenize
from collections.abc import Iterable, Iterator
from typing import Any

from astroflow.errors import AnnotationError, UnknownClass
from astroflow.ontology.model import ClassInfo
from astroflow.workflow.annotations import (
    Annotation,
    looks_like_annotation,
    parse_annotation,
    parse_statement,
)
from astroflow.workflow.model import JSON_TYPES, Output, Parameter

_TYPE_NAMES = {"float": float, "int": int, "str": str, "bool": bool, "list": list, "dict": dict,
               "List": list, "Dict": dict}


def code_for_ast(source: str) -> str:
    """Blank out IPython-only lines (``%magic``, ``!cmd``) so ``ast`` can read the cell.

    Line numbers are kept, so errors still point at the right place.
    """
    lines = []
    for line in source.splitlines():
        stripped = line.lstrip()
        lines.append("" if stripped.startswith(("%", "!")) else line)
    return "\n".join(lines) + "\n"


def parse_cell(source: str, cell_index: int) -> tuple[ast.Module, dict[int, str]]:
    """The cell's syntax tree and its comments by line number."""
    code = code_for_ast(source)
    try:
        tree = ast.parse(code)
    except SyntaxError as exc:
        raise AnnotationError(f"syntax error: {exc.msg}", line=exc.lineno, cell=cell_index) from exc
    comments: dict[int, str] = {}
    for tok in tokenize.generate_tokens(io.StringIO(code).readline):
        if tok.type == tokenize.COMMENT:
            comments[tok.start[0]] = tok.string
    return tree, comments


def statement_lines(tree: ast.Module) -> set[int]:
    lines: set[int] = set()
    for node in tree.body:
        lines.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
    return lines


def notebook_statements(tree: ast.Module, comments: dict[int, str]) -> Iterator[tuple[str, list]]:
    """Notebook-level ``# oda:predicate object`` comments on lines of their own."""
    inside = statement_lines(tree)
    for line, comment in sorted(comments.items()):
        if line in inside:
            continue
        statement = parse_statement(comment)
        if statement is not None:
            yield statement


def _annotation_for(node: ast.stmt, comments: dict[int, str]) -> tuple[str | None, str | None]:
    """(annotation comment, plain comment) found on the lines of one statement."""
    plain = None
    for line in range(node.lineno, (node.end_lineno or node.lineno) + 1):
        comment = comments.get(line)
        if comment is None:
            continue
        if looks_like_annotation(comment):
            return comment, plain
        plain = plain or comment.lstrip("#").strip() or None
    return None, plain


def literal_value(node: ast.expr) -> Any:
    """The value of a literal default; simple arithmetic on numbers is folded, nothing runs."""
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        pass
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub, ast.Mult, ast.Div)):
        left, right = literal_value(node.left), literal_value(node.right)
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (left, right)):
            ops = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b,
                   ast.Mult: lambda a, b: a * b, ast.Div: lambda a, b: a / b}
            return ops[type(node.op)](left, right)
    raise ValueError("not a literal")


def _hint_type(node: ast.expr | None) -> tuple[type | None, bool]:
    """(type, optional) from a hint such as ``float``, ``float | None``, ``Optional[int]``."""
    if node is None:
        return None, False
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        try:
            return _hint_type(ast.parse(node.value, mode="eval").body)
        except SyntaxError:
            return None, False
    if isinstance(node, ast.Name):
        return _TYPE_NAMES.get(node.id), False
    if isinstance(node, ast.Attribute):
        return _TYPE_NAMES.get(node.attr), False
    if isinstance(node, ast.Constant) and node.value is None:
        return type(None), True
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        parts = [_hint_type(node.left), _hint_type(node.right)]
        types = [t for t, _ in parts if t not in (None, type(None))]
        optional = any(t is type(None) for t, _ in parts) or any(o for _, o in parts)
        return (types[0] if len(types) == 1 else None), optional
    if isinstance(node, ast.Subscript):
        base = node.value.id if isinstance(node.value, ast.Name) else getattr(node.value, "attr", "")
        if base == "Optional":
            inner, _ = _hint_type(node.slice)
            return inner, True
        if base == "Union" and isinstance(node.slice, ast.Tuple):
            parts = [_hint_type(e) for e in node.slice.elts]
            types = [t for t, _ in parts if t not in (None, type(None))]
            optional = any(t is type(None) or o for t, o in parts)
            return (types[0] if len(set(types)) == 1 else None), optional
        if base in ("list", "List", "dict", "Dict"):
            return _TYPE_NAMES[base], False
    return None, False


def _type_of_default(value: Any) -> type | None:
    if value is None:
        return None
    if isinstance(value, tuple):
        return list
    for candidate in (bool, int, float, str, list, dict):
        if isinstance(value, candidate):
            return candidate
    return None


def _compatible(declared: type, value: Any) -> bool:
    if value is None:
        return True
    if declared is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if declared is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if declared is list:
        return isinstance(value, (list, tuple))
    return isinstance(value, declared)


_TYPE_CLASSES = {int: "oda:Integer", float: "oda:Float", str: "oda:String", bool: "oda:Boolean"}


def _class_of_type(ontology: Any, python_type: type | None) -> ClassInfo | None:
    """oda:Integer, oda:Float, oda:String or oda:Boolean for a plain type (None otherwise)."""
    term = _TYPE_CLASSES.get(python_type) if python_type else None
    if term is None:
        return None
    try:
        return ontology.resolve(term)
    except UnknownClass:
        return None


# nb2workflow tries these, in order, for a parameter whose default is None.
_EXAMPLES: tuple[Any, ...] = (1.1, 1, True, "foo", [], {})


def _reconcile(default: Any, hint_type: type | None, owl_type: type | None) -> type | None:
    """The parameter's type as nb2workflow's ``reconcile_python_type`` decides it.

    The default must fit both the type hint and the class's type. An integer default
    becomes a float where a float fits both (``x = 10  # oda:Float``), else stays an
    integer: so a type hint wins over the class's type (``e: int = 45  # oda:Energy`` is an
    integer), and an integer class over a ``float`` hint. A None default takes the first
    of float, int, bool, str, list, dict that fits both. None when nothing fits.
    """
    stated = [t for t in (hint_type, owl_type) if t is not None and t is not type(None)]

    def fits(value: Any) -> bool:
        return all(_compatible(t, value) and not (t is not bool and isinstance(value, bool))
                   for t in stated)

    if not stated:
        return _type_of_default(default)
    if default is None:
        return next((type(v) for v in _EXAMPLES if fits(v)), None)
    if isinstance(default, int) and not isinstance(default, bool):
        if fits(float(default)):
            return float
        return int if fits(default) else None
    return _type_of_default(default) if fits(default) else None


def _resolve(ontology: Any, term: str, line: int, name: str, cell: int,
             kind: str = "parameter") -> ClassInfo:
    """The class a term names. A class the ontology does not define is kept as it is written,
    with no facts of its own (nb2workflow warns and takes the type from the default);
    `unknown_classes` lists such classes for a warning."""
    try:
        return ontology.resolve(term)
    except UnknownClass as exc:
        try:
            uri = ontology.expand(term)
        except UnknownClass:
            raise AnnotationError(str(exc), line=line, name=name, cell=cell) from exc
        local = uri.rsplit("#", 1)[-1].rsplit("/", 1)[-1]
        return ClassInfo(uri=uri, name=local, kind=kind)  # type: ignore[arg-type]


def unknown_classes(ontology: Any, infos: Iterable[ClassInfo | None]) -> list[str]:
    """The URIs among ``infos`` that the ontology does not define."""
    found = []
    for info in infos:
        if info is None or info.uri in found:
            continue
        try:
            ontology.resolve(info.uri)
        except UnknownClass:
            found.append(info.uri)
    return found


def _pick_class(ontology: Any, ann: Annotation, line: int, name: str, cell: int,
                kind: str = "parameter") -> ClassInfo | None:
    """The most specific class named (a class unknown to the ontology kept as written)."""
    infos = [_resolve(ontology, term, line, name, cell, kind) for term in ann.classes]
    if not infos:
        return None
    # A class that has every other named class among its ancestors is the most specific one.
    for info in infos:
        if all(o is info or o.uri in info.superclasses for o in infos):
            return info
    # Unrelated classes (``oda:Float, oda:arcmin``): the first one, completed by the others.
    merged = infos[0]
    for other in infos[1:]:
        facts = {key: getattr(other, key) for key in _MERGED_FACTS
                 if getattr(merged, key) is None and getattr(other, key) is not None}
        merged = dataclasses.replace(merged, **facts)
    return merged


_MERGED_FACTS = ("python_type", "unit", "format", "role", "lower_limit", "upper_limit",
                 "allowed_values")


def parse_parameters(source: str, cell_index: int, ontology: Any) -> dict[str, Parameter]:
    tree, comments = parse_cell(source, cell_index)
    parameters: dict[str, Parameter] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign):
            if len(node.targets) != 1 or not isinstance(node.targets[0], ast.Name):
                raise AnnotationError("a parameter must be assigned to one plain name "
                                      "(no unpacking, attributes or chained assignment)",
                                      line=node.lineno, cell=cell_index)
            name, hint, value_node = node.targets[0].id, None, node.value
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            if node.value is None:
                raise AnnotationError("a parameter needs a default value", line=node.lineno,
                                      name=node.target.id, cell=cell_index)
            name, hint, value_node = node.target.id, node.annotation, node.value
        else:
            continue  # imports and other statements in the cell are not parameters
        if name in parameters:
            raise AnnotationError("declared twice", line=node.lineno, name=name, cell=cell_index)
        if keyword.iskeyword(name) or name.startswith("__"):
            raise AnnotationError("not usable as a parameter name", line=node.lineno, name=name,
                                  cell=cell_index)
        parameters[name] = _parameter(name, node, hint, value_node, comments, cell_index, ontology)
    return parameters


def _parameter(name: str, node: ast.stmt, hint: ast.expr | None, value_node: ast.expr,
               comments: dict[int, str], cell: int, ontology: Any) -> Parameter:
    line = node.lineno
    expression = False
    try:
        default = ast.literal_eval(value_node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        # nb2workflow's reading of a default that is no literal (``2 * 60``, ``np.pi``): its
        # source text, a string. The notebook's own expression runs when the caller leaves
        # the parameter as it is (see `Workflow.injected_notebook`).
        default, expression = ast.unparse(value_node), True
    if isinstance(default, tuple):
        default = list(default)
    comment, plain = _annotation_for(node, comments)
    try:
        ann = parse_annotation(comment) if comment else Annotation()
    except AnnotationError as exc:
        raise AnnotationError(exc.reason, line=line, name=name, cell=cell) from None
    info = _pick_class(ontology, ann, line, name, cell)
    if info is not None and info.kind != "parameter":
        raise AnnotationError(f"{info.curie} is a {info.kind} class, not a parameter class",
                              line=line, name=name, cell=cell)
    hint_type, hint_optional = _hint_type(hint)
    if info is None:
        # nb2workflow gives an unannotated parameter (or one annotated with predicates only)
        # the class of its default's type (of its hint's type when the default is None).
        info = _class_of_type(ontology, _type_of_default(default) or hint_type)
    owl_type = info.python_type if info else None
    declared = _reconcile(default, hint_type, owl_type)
    if declared is None:
        if expression:
            raise AnnotationError(f"the default {default!r} is an expression, read as its text "
                                  "(as nb2workflow does), which contradicts its declared type; "
                                  "write a literal", line=line, name=name, cell=cell)
        if default is None:
            raise AnnotationError("default is None and nothing says its type: annotate it "
                                  "(e.g. # oda:Float) or add a type hint", line=line, name=name,
                                  cell=cell)
        stated = " and ".join(f"{what} says {t.__name__}" for what, t in
                              (("type hint", hint_type), ("annotation", owl_type)) if t)
        if stated:
            raise AnnotationError(f"default {default!r} ({type(default).__name__}) contradicts: "
                                  f"{stated}", line=line, name=name, cell=cell)
        raise AnnotationError(f"unsupported default type {type(default).__name__}", line=line,
                              name=name, cell=cell)
    if declared not in JSON_TYPES:
        raise AnnotationError(f"unsupported type {declared.__name__}", line=line, name=name,
                              cell=cell)
    if declared is float and isinstance(default, int):
        default = float(default)
    param = _with_predicates(name, declared, default, info, ann, hint_optional, plain, line,
                             cell, ontology)
    return dataclasses.replace(param, expression=True) if expression else param


def _with_predicates(name: str, declared: type, default: Any, info: ClassInfo | None,
                     ann: Annotation, hint_optional: bool, plain: str | None, line: int, cell: int,
                     ontology: Any) -> Parameter:
    def fail(reason: str) -> AnnotationError:
        return AnnotationError(reason, line=line, name=name, cell=cell)

    unit = info.unit if info else None
    if (u := ann.one("unit")) is not None:
        try:
            unit = ontology.unit(str(u))
        except UnknownClass as exc:
            raise fail(str(exc)) from None
    time_format = info.format if info else None
    if (f := ann.one("format")) is not None:
        try:
            time_format = ontology.time_format(str(f))
        except UnknownClass as exc:
            raise fail(str(exc)) from None
    minimum = info.lower_limit if info else None
    maximum = info.upper_limit if info else None
    for key in ("lower_limit", "upper_limit"):
        value = ann.one(key)
        if value is None:
            continue
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise fail(f"oda:{key} must be a number, got {value!r}")
        if declared not in (int, float):
            raise fail(f"oda:{key} applies to numbers, but the parameter is {declared.__name__}")
        if key == "lower_limit":
            minimum = value
        else:
            maximum = value
    if minimum is not None and maximum is not None and minimum > maximum:
        raise fail(f"lower limit {minimum} is above upper limit {maximum}")
    enum = info.allowed_values if info else None
    if "allowed_value" in ann.predicates:
        enum = tuple(ann.predicates["allowed_value"])
    if enum is not None:
        enum = tuple(_coerce_allowed(v, declared, fail) for v in enum)
    optional = ann.optional or hint_optional or (info.optional if info else False) or default is None
    if default is not None:
        if minimum is not None and default < minimum:
            raise fail(f"default {default!r} is below the lower limit {minimum}")
        if maximum is not None and default > maximum:
            raise fail(f"default {default!r} is above the upper limit {maximum}")
        if enum is not None and default not in enum:
            raise fail(f"default {default!r} is not among the allowed values {list(enum)}")
    return Parameter(
        name=name, type=declared, default=default, ontology=info, unit=unit,
        minimum=minimum, maximum=maximum, enum=enum, format=time_format, optional=optional,
        label=_text(ann.one("label")),
        description=_text(ann.one("description")) or plain,
        group=_text(ann.one("group")), line=line,
    )


def _text(value: object) -> str | None:
    return str(value) if value not in (None, "") else None


def _coerce_allowed(value: object, declared: type, fail: Any) -> object:
    """Allowed values are written as literals; MMODA writes booleans as "True"/"False"."""
    if declared is bool and isinstance(value, str) and value in ("True", "False", "true", "false"):
        return value.lower() == "true"
    if declared is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if declared is float and isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    if declared is int and isinstance(value, str) and value.lstrip("+-").isdigit():
        return int(value)
    if not _compatible(declared, value):
        raise fail(f"allowed value {value!r} is not a {declared.__name__}")
    return value


def parse_outputs(source: str, cell_index: int, ontology: Any) -> dict[str, Output]:
    tree, comments = parse_cell(source, cell_index)
    outputs: dict[str, Output] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            name = node.target.id
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Name):
            name = node.value.id
        else:
            continue
        comment, plain = _annotation_for(node, comments)
        try:
            ann = parse_annotation(comment) if comment else Annotation()
        except AnnotationError as exc:
            raise AnnotationError(exc.reason, line=node.lineno, name=name, cell=cell_index) from None
        info = _pick_class(ontology, ann, node.lineno, name, cell_index, kind="product")
        if info is not None and info.kind == "other":
            raise AnnotationError(f"{info.curie} is neither a product nor a parameter class",
                                  line=node.lineno, name=name, cell=cell_index)
        outputs[name] = Output(name=name, ontology=info, label=_text(ann.one("label")),
                               description=_text(ann.one("description")) or plain,
                               line=node.lineno)
    return outputs


def imported_modules(source: str) -> set[str]:
    """Top-level modules a cell imports (absolute imports only), for warm preloading."""
    try:
        tree = ast.parse(code_for_ast(source))
    except SyntaxError:
        return set()
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names
