"""nb2workflow's own reading of the MMODA-style parity notebooks, and astroflow's, side by side.

nb2workflow (pinned below) is installed in a venv of its own, cached under
``$ASTROFLOW_TEST_CACHE`` (else ``~/.cache/astroflow-test``) and keyed by its version. It
loads MMODA's ontology from the web at import; here its graph is read from a local file first
(``shared/reference/odahub-ontology.ttl``, the published ontology, else astroflow's own).
One subprocess runs nb2workflow's ``NotebookAdapter`` over every notebook and prints JSON.

Both readings are brought to one comparable form (`nb2workflow_view`, `astroflow_view`):
per parameter its name, JSON type, default, optional flag, classes (nb2workflow's merged
class ``oda:Integer_X_label`` stands for its superclasses and predicates), and every predicate
nb2workflow reports (label, description, limits, allowed values, unit).

Record the reference after changing the notebooks or the pinned version:
``.venv/bin/python tests/nb2workflow_reference.py`` (builds the venv when missing) writes
tests/data/nb2workflow_reference.json, which the always-running test compares against;
``... tests/nb2workflow_reference.py --venv`` only builds the venv.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "tests" / "mmoda_parity"  # not under services/: they are no served repository
REFERENCE = REPO / "tests" / "data" / "nb2workflow_reference.json"
NB2WORKFLOW_VERSION = "1.3.118"
ODA = "http://odahub.io/ontology#"
XSD = "http://www.w3.org/2001/XMLSchema#"
JSON_TYPE = {"int": "integer", "float": "number", "str": "string", "bool": "boolean",
             "list": "array", "dict": "object"}
TYPE_CLASS = {"integer": ODA + "Integer", "number": ODA + "Float", "string": ODA + "String",
              "boolean": ODA + "Boolean"}
# Predicates nb2workflow keeps on a parameter's merged class, by their local names.
PREDICATES = ("label", "description", "lower_limit", "upper_limit", "allowed_value", "unit")


def ontology_file() -> Path:
    """MMODA's published ontology (shared/reference), else astroflow's own file."""
    for candidate in (REPO.parent / "shared" / "reference" / "odahub-ontology.ttl",
                      REPO / "src" / "astroflow" / "ontology" / "astroflow.ttl"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError("no ontology file")


def venv_dir() -> Path:
    base = os.environ.get("ASTROFLOW_TEST_CACHE") or Path.home() / ".cache" / "astroflow-test"
    return Path(base) / f"nb2workflow-{NB2WORKFLOW_VERSION}"


def venv_python() -> Path | None:
    """The venv's python when the venv is complete, else None."""
    directory = venv_dir()
    python = directory / "bin" / "python"
    return python if (directory / "complete").is_file() and python.is_file() else None


def build_venv(timeout: float = 900) -> tuple[Path | None, str]:
    """(python, "") once nb2workflow and oda_api are installed; (None, reason) if not."""
    python = venv_python()
    if python is not None:
        return python, ""
    from astroflow.datadir import preparing

    with preparing(venv_dir()):  # parallel test workers build it once
        python = venv_python()
        return (python, "") if python is not None else _build_venv(timeout)


def _build_venv(timeout: float) -> tuple[Path | None, str]:
    directory = venv_dir()
    directory.parent.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    try:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(directory)], check=True,
                       capture_output=True, timeout=120)
        subprocess.run([str(directory / "bin" / "pip"), "install", "--quiet",
                        "--disable-pip-version-check", f"nb2workflow=={NB2WORKFLOW_VERSION}",
                        "oda_api"], check=True, capture_output=True, text=True, timeout=timeout)
    except subprocess.CalledProcessError as exc:
        tail = (exc.stderr or "").strip().splitlines()[-3:] if isinstance(exc.stderr, str) else []
        return None, (f"cannot install nb2workflow=={NB2WORKFLOW_VERSION} into {directory} "
                      f"(no package registry?): {' | '.join(tail) or exc}")
    except (subprocess.TimeoutExpired, OSError) as exc:
        return None, f"cannot build the nb2workflow venv in {directory}: {exc}"
    (directory / "complete").write_text(f"built in {time.monotonic() - start:.1f} s\n")
    return directory / "bin" / "python", ""


# Runs inside nb2workflow's venv: argv = ontology file, notebook files...; prints JSON.
RUNNER = r'''
import json, logging, os, sys
logging.disable(logging.CRITICAL)
import warnings; warnings.simplefilter("ignore")
import oda_api.ontology_helper as oh
oh.main_ontology_graph = oh.MainOntologyGraph(sys.argv[1], "0")  # not fetched from the web
import rdflib
import nb2workflow.nbadapter as nbadapter
from nb2workflow.nbadapter import NotebookAdapter
if os.environ.get("NB2W_MEMO") == "1":
    # Most of nb2workflow's time goes into SPARQL queries about one class at a time. Their
    # answers depend only on the class: a merged class (oda:Integer_X_label) is named from
    # its own content and its triples are added before it is first queried. Remembering
    # them changes no result (the recording, made without this, must equal a memoised run).
    for method in ("get_datatype_restriction", "is_optional", "get_parameter_hierarchy"):
        original = getattr(nbadapter.ModOntology, method)
        def memo(self, uri, _original=original, _cache={}):
            key = str(uri)
            if key not in _cache:
                _cache[key] = _original(self, uri)
            return _cache[key]
        setattr(nbadapter.ModOntology, method, memo)
ODA = "http://odahub.io/ontology#"
SUB = rdflib.RDFS.subClassOf
PREDICATES = __PREDICATES__

def value(node):
    if not isinstance(node, rdflib.Literal):
        return str(node)
    v = node.toPython()
    return float(v) if type(v).__name__ == "Decimal" else v

def semantics(owl_type, extra_ttl):
    """Classes and predicates of nb2workflow's (possibly merged) class."""
    if owl_type is None:
        return [], {}
    if not extra_ttl:
        return [owl_type], {}
    g = rdflib.Graph()
    g.parse(data=extra_ttl, format="turtle")
    subject = rdflib.URIRef(owl_type)
    classes = sorted(str(o) for o in g.objects(subject, SUB))
    predicates = {}
    for p, o in g.predicate_objects(subject):
        name = str(p)[len(ODA):] if str(p).startswith(ODA) else None
        if name == "allowed_values":
            name = "allowed_value"
        if name in PREDICATES:
            predicates.setdefault(name, []).append(value(o))
    for name in predicates:
        predicates[name] = sorted(predicates[name], key=repr)
    return classes or [owl_type], predicates

out = {}
for path in sys.argv[2:]:
    name = os.path.basename(path)[:-len(".ipynb")]
    try:
        nba = NotebookAdapter(path)
        params = []
        for p in nba.extract_parameters().values():
            classes, predicates = semantics(p["owl_type"], p["extra_ttl"])
            params.append(dict(name=p["name"], python_type=p["python_type"].__name__,
                               default=p["default_value"], optional=p["is_optional"],
                               owl_type=p["owl_type"], classes=classes, predicates=predicates,
                               is_file_reference=p["is_file_reference"]))
        outputs = []
        for o in nba.extract_output_declarations().values():
            classes, predicates = semantics(o["owl_type"], o["extra_ttl"])
            outputs.append(dict(name=o["name"], owl_type=o["owl_type"], classes=classes,
                                predicates=predicates, value=o["value"]))
        out[name] = dict(parameters=params, outputs=outputs)
    except Exception as exc:
        out[name] = dict(error=f"{type(exc).__name__}: {exc}")
print("NB2WORKFLOW-JSON:" + json.dumps(out, default=repr, sort_keys=True))
'''.replace("__PREDICATES__", repr(PREDICATES))


def notebooks() -> list[Path]:
    return sorted(NOTEBOOKS.glob("*.ipynb"))


def run_nb2workflow(python: Path, paths: list[Path] | None = None, timeout: float = 120,
                    processes: int = 2, memo: bool = True) -> dict:
    """nb2workflow's raw reading of each notebook, by notebook stem.

    The notebooks are split between ``processes`` subprocesses run at once (nb2workflow's
    ontology queries take most of the time, one core each)."""
    env = {"NB2W_MEMO": "1" if memo else "0"}
    return run_in_venv(python, RUNNER, [str(ontology_file())], paths or notebooks(),
                       "NB2WORKFLOW-JSON:", env, timeout, processes)


def run_in_venv(python: Path, script: str, args: list[str], paths: list[Path], marker: str,
                env: dict[str, str], timeout: float, processes: int) -> dict:
    """``script`` run by nb2workflow's venv over ``paths`` split between ``processes``
    subprocesses at once; each prints one JSON object after ``marker``, merged by key."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    environ.update(MPLBACKEND="Agg", GIT_TERMINAL_PROMPT="0", **env)
    chunks = [paths[i::processes] for i in range(processes) if paths[i::processes]]
    procs = [subprocess.Popen([str(python), "-c", script, *args, *map(str, chunk)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=environ, cwd=str(chunk[0].parent)) for chunk in chunks]
    result: dict = {}
    try:
        for proc in procs:
            stdout, stderr = proc.communicate(timeout=timeout)
            lines = [line for line in stdout.splitlines() if line.startswith(marker)]
            if not lines:
                raise RuntimeError(f"nb2workflow printed no result (exit {proc.returncode}):\n"
                                   f"{stderr[-3000:]}")
            result.update(json.loads(lines[-1][len(marker):]))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return dict(sorted(result.items()))


def _number_or_text(values: list) -> list:
    return sorted((repr(float(v)) if isinstance(v, (int, float)) and not isinstance(v, bool)
                   else str(v)) for v in values)


def _unit_name(unit: Any) -> str:
    text = str(unit)
    return text.rsplit("#", 1)[-1].rsplit(":", 1)[-1].lower()


def nb2workflow_view(raw: dict) -> dict:
    """nb2workflow's reading of one notebook in the comparable form."""
    if "error" in raw:
        return {"error": True}
    params = []
    for p in raw["parameters"]:
        kind = JSON_TYPE.get(p["python_type"], p["python_type"])
        # nb2workflow names xsd:list / xsd:dict as the "class" of list and dict parameters:
        # no such classes exist (in XSD or MMODA's ontology); astroflow gives them none.
        classes = [c for c in p["classes"]
                   if c not in (ODA + "optional", XSD + "list", XSD + "dict")]
        # A parameter annotated only `oda:optional` is reported with that marker as its
        # class; astroflow gives it the class of its type, as for unannotated ones.
        if not classes and kind in TYPE_CLASS:
            classes = [TYPE_CLASS[kind]]
        params.append(dict(name=p["name"], type=kind, default=p["default"],
                           optional=p["optional"], classes=sorted(classes),
                           predicates=_predicates(p["predicates"])))
    outputs = [dict(name=o["name"], classes=sorted(o["classes"]),
                    predicates=_predicates(o["predicates"])) for o in raw["outputs"]]
    return {"parameters": params, "outputs": outputs}


def _predicates(predicates: dict) -> dict:
    out = {}
    for name, values in predicates.items():
        if name == "unit":
            out[name] = [_unit_name(v) for v in values]
        elif name in ("lower_limit", "upper_limit", "allowed_value"):
            out[name] = _number_or_text(values)
        else:
            out[name] = [str(v) for v in values]
    return out


def astroflow_view(path: Path, expected: dict | None = None) -> dict:
    """astroflow's reading of one notebook, with the predicates nb2workflow reports
    (``expected``: the nb2workflow view, which says which predicates to show)."""
    from astroflow.errors import AstroflowError
    from astroflow.workflow import Workflow

    try:
        wf = Workflow.from_path(path)
    except AstroflowError:
        return {"error": True}
    wanted = {p["name"]: p["predicates"] for p in (expected or {}).get("parameters", [])}
    wanted_out = {o["name"]: o["predicates"] for o in (expected or {}).get("outputs", [])}
    params = []
    for p in wf.parameters.values():
        facts = {"label": [p.label], "description": [p.description],
                 "lower_limit": [p.minimum], "upper_limit": [p.maximum],
                 "allowed_value": list(p.enum) if p.enum is not None else [None],
                 "unit": [p.unit]}
        predicates = {}
        for name in wanted.get(p.name, {}):
            values = facts[name]
            predicates[name] = ([] if values == [None] else
                                [_unit_name(v) for v in values] if name == "unit" else
                                _number_or_text(values)
                                if name in ("lower_limit", "upper_limit", "allowed_value")
                                else [str(v) for v in values])
        params.append(dict(name=p.name, type=p.describe()["type"], default=p.default,
                           optional=p.optional,
                           classes=[p.ontology.uri] if p.ontology else [],
                           predicates=predicates))
    outputs = []
    for o in wf.outputs.values():
        predicates = {}
        for name in wanted_out.get(o.name, {}):
            value = {"label": o.label, "description": o.description}.get(name)
            predicates[name] = [] if value is None else [str(value)]
        outputs.append(dict(name=o.name, classes=[o.ontology.uri] if o.ontology else [],
                            predicates=predicates))
    return {"parameters": params, "outputs": outputs}


def differences(path: Path, raw: dict) -> list[str]:
    """Every field where astroflow's reading of ``path`` differs from nb2workflow's ``raw``."""
    theirs = nb2workflow_view(raw)
    ours = astroflow_view(path, theirs)
    if "error" in theirs or "error" in ours:
        return [] if ("error" in theirs) == ("error" in ours) else [
            f"{path.stem}: nb2workflow {'refuses' if 'error' in theirs else 'accepts'} it, "
            f"astroflow {'refuses' if 'error' in ours else 'accepts'} it"]
    found = []
    for section in ("parameters", "outputs"):
        names_theirs = [x["name"] for x in theirs[section]]
        names_ours = [x["name"] for x in ours[section]]
        if names_theirs != names_ours:
            found.append(f"{path.stem}: {section} {names_ours} != nb2workflow's {names_theirs}")
            continue
        for a, b in zip(ours[section], theirs[section], strict=True):
            for key in b:
                if key == "default" and _same_default(a[key], b[key]):
                    continue
                if a[key] != b[key]:
                    found.append(f"{path.stem}.{a['name']}: {key} {a[key]!r} != "
                                 f"nb2workflow's {b[key]!r}")
    return found


def _same_default(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, int) and not isinstance(b, bool):
        return a == b
    return a == b and type(a) is type(b)


def main() -> int:
    start = time.monotonic()
    python, reason = build_venv()
    if python is None:
        print(reason, file=sys.stderr)
        return 1
    built = time.monotonic() - start
    if "--venv" in sys.argv[1:]:  # only build the venv (e.g. before the test suite runs)
        print(f"nb2workflow {NB2WORKFLOW_VERSION} venv ready in {built:.1f} s: {python}")
        return 0
    start = time.monotonic()
    raw = run_nb2workflow(python, memo=False, timeout=1200)
    ran = time.monotonic() - start
    REFERENCE.parent.mkdir(parents=True, exist_ok=True)
    record = {"nb2workflow": NB2WORKFLOW_VERSION, "ontology": ontology_file().name,
              "notebooks": raw}
    REFERENCE.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    print(f"venv ready in {built:.1f} s; nb2workflow read {len(raw)} notebooks in {ran:.1f} s; "
          f"wrote {REFERENCE.relative_to(REPO)}")
    for path in notebooks():
        for line in differences(path, raw[path.stem]):
            print("DIFF", line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
