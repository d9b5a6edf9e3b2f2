"""A Galaxy tool's ``<requirements>``: conda packages from the repository and the notebook.

Galaxy resolves requirements as conda packages (conda-forge, bioconda) with an exact
version or none. The repository's own declarations come first (``environment.yml`` conda
part, then ``requirements.txt``, the pip part of ``environment.yml`` and ``pyproject.toml``);
an exact pin (``==1.2.3``, ``=1.2``) becomes the version, a range cannot be said and is
dropped. Modules the notebook imports that no file declares are added under their conda
name when the mapping is well known, and reported otherwise.
"""

from __future__ import annotations

import logging
import re
import sys
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

log = logging.getLogger("astroflow.registry.galaxy")

DEFAULT_PYTHON = "3.11"

# PyPI distributions whose conda-forge package has another name.
PYPI_TO_CONDA = {
    "torch": "pytorch", "tables": "pytables", "opencv-python": "opencv",
    "opencv-python-headless": "opencv", "msgpack": "msgpack-python",
    "typing-extensions": "typing_extensions", "pyqt5": "pyqt",
}
# Import names that differ from their (conda) package name.
IMPORT_TO_PACKAGE = {
    "yaml": "pyyaml", "sklearn": "scikit-learn", "skimage": "scikit-image", "PIL": "pillow",
    "cv2": "opencv", "bs4": "beautifulsoup4", "dateutil": "python-dateutil",
    "oda_api": "oda-api", "IPython": "ipython", "mpl_toolkits": "matplotlib", "erfa": "pyerfa",
    "attr": "attrs", "jwt": "pyjwt", "Bio": "biopython", "tables": "pytables",
    "torch": "pytorch", "ligo": "ligo-segments", "pyvo": "pyvo", "fitsio": "fitsio",
}
# Import names that are the package name on conda-forge as well: scientific Python's usual set.
KNOWN_PACKAGES = frozenset({
    "numpy", "scipy", "astropy", "matplotlib", "pandas", "requests", "h5py", "healpy",
    "regions", "photutils", "gammapy", "seaborn", "numba", "emcee", "corner", "lmfit",
    "iminuit", "reproject", "sunpy", "specutils", "astroquery", "xarray", "dask", "networkx",
    "sympy", "shapely", "tqdm", "rdflib", "plotly", "bokeh", "joblib", "statsmodels", "lxml",
    "sqlalchemy", "numexpr", "pyarrow", "ultranest", "dynesty", "nbformat", "jupytext",
    "mhealpy", "astroplan", "pyregion", "aplpy", "ephem", "skyfield", "spiceypy", "uncertainties",
    "pint", "xmltodict", "click", "jinja2", "httpx", "aiohttp", "numdifftools", "cython",
    "pymc", "arviz", "sherpa", "naima", "threeML", "astromodels", "pyxspec", "ipywidgets",
})


@dataclass(frozen=True, order=True)
class CondaRequirement:
    """One ``<requirement type="package">``."""

    name: str
    version: str | None = None


@dataclass
class Requirements:
    """What a tool needs, and the imports nobody could name a package for."""

    packages: list[CondaRequirement] = field(default_factory=list)
    unresolved_imports: list[str] = field(default_factory=list)


def conda_name(pypi_name: str) -> str:
    canonical = re.sub(r"[-_.]+", "-", pypi_name).lower()
    return PYPI_TO_CONDA.get(canonical, canonical)


def repository_requirements(root: Path) -> tuple[list[CondaRequirement], str | None]:
    """Packages declared by the repository, and the Python version it asks for (if any)."""
    found: list[CondaRequirement] = []
    python: str | None = None
    environment = _first(root, ("environment.yml", "environment.yaml"))
    if environment is not None:
        conda, pip, python = _environment_file(environment)
        found += conda + pip
    requirements_txt = root / "requirements.txt"
    if requirements_txt.is_file():
        found += pip_requirements(requirements_txt.read_text().splitlines(), requirements_txt)
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        deps, requires_python = _pyproject(pyproject)
        found += deps
        python = python or requires_python
    return found, python


def tool_requirements(root: Path, imports: Iterable[str], *, extra: Iterable[str] = (),
                      local: Iterable[str] = ()) -> Requirements:
    """Everything the generated script needs, first declaration of a package winning.

    ``imports`` are the notebook's top-level imported modules, ``local`` those that are
    the repository's own code (copied next to the script), ``extra`` packages the script's
    runtime needs for its outputs (e.g. astropy to write FITS).
    """
    declared, python = repository_requirements(root)
    chosen: dict[str, CondaRequirement] = {}
    for requirement in declared:
        chosen.setdefault(requirement.name, requirement)
    unresolved = []
    skip = set(local) | {"astroflow", "__future__"} | set(sys.stdlib_module_names)
    for module in sorted({m.split(".")[0] for m in imports} - skip):
        package = import_package(module)
        if package is None:
            unresolved.append(module)
            continue
        chosen.setdefault(package, CondaRequirement(package))
    for package in extra:
        chosen.setdefault(package, CondaRequirement(package))
    if unresolved:
        log.warning("no conda package known for the imports %s; declare them in "
                    "requirements.txt", ", ".join(unresolved))
    packages = [CondaRequirement("python", python_version(python))]
    packages += sorted(chosen.values())
    return Requirements(packages=packages, unresolved_imports=unresolved)


def import_package(module: str) -> str | None:
    if module in IMPORT_TO_PACKAGE:
        return IMPORT_TO_PACKAGE[module]
    if module in KNOWN_PACKAGES:
        return module.lower()
    return None


def python_version(spec: str | None) -> str:
    """A ``major.minor`` conda can install: the default when the spec allows it."""
    if not spec:
        return DEFAULT_PYTHON
    spec = spec.strip()
    if re.fullmatch(r"\d+\.\d+(\.\d+)?(\.\*)?", spec):
        return ".".join(spec.removesuffix(".*").split(".")[:2])
    try:
        allowed = SpecifierSet(spec)
    except InvalidSpecifier:
        return DEFAULT_PYTHON
    if Version(DEFAULT_PYTHON) in allowed:
        return DEFAULT_PYTHON
    for clause in allowed:
        if clause.operator in (">=", "==", "~=", ">"):
            try:
                version = Version(clause.version.removesuffix(".*"))
            except InvalidVersion:
                continue
            return f"{version.major}.{version.minor}"
    return DEFAULT_PYTHON


def pip_requirements(lines: Iterable[str], source: Path | None = None) -> list[CondaRequirement]:
    """``requirements.txt`` lines as conda packages; options, URLs and paths are skipped."""
    found = []
    for raw in lines:
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith(("#", "-", ".", "/")) or "://" in line:
            if line and not line.startswith("#"):
                log.info("%s: %r is not a conda package, skipped", source or "requirements", line)
            continue
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            log.warning("%s: cannot read requirement %r", source or "requirements", line)
            continue
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        found.append(CondaRequirement(conda_name(requirement.name), _pinned(requirement.specifier)))
    return found


def _pinned(specifier: SpecifierSet) -> str | None:
    clauses = list(specifier)
    if len(clauses) == 1 and clauses[0].operator in ("==", "==="):
        return clauses[0].version.removesuffix(".*")
    return None


_CONDA_SPEC = re.compile(r"^(?:[\w.-]+::)?(?P<name>[A-Za-z0-9_.\-]+)\s*(?P<rest>.*)$")


def conda_requirement(spec: str) -> CondaRequirement | None:
    """``numpy=1.26``, ``numpy==1.26.4``, ``conda-forge::numpy 1.26``, ``numpy>=1`` (unpinned)."""
    match = _CONDA_SPEC.match(spec.strip())
    if match is None:
        return None
    name, rest = match["name"].lower(), match["rest"].strip()
    version = None
    pinned = re.fullmatch(r"(?:==?)?\s*([0-9][0-9A-Za-z.]*?)(?:\.?\*)?(?:\s+\S+)?", rest)
    if rest and pinned:
        version = pinned.group(1)
    return CondaRequirement(name, version)


def _environment_file(path: Path) -> tuple[list[CondaRequirement], list[CondaRequirement],
                                           str | None]:
    import yaml

    data = yaml.safe_load(path.read_text()) or {}
    conda: list[CondaRequirement] = []
    pip: list[CondaRequirement] = []
    python = None
    for entry in data.get("dependencies") or []:
        if isinstance(entry, dict):
            pip += pip_requirements(entry.get("pip") or [], path)
            continue
        requirement = conda_requirement(str(entry))
        if requirement is None or requirement.name == "pip":
            continue
        if requirement.name == "python":
            python = requirement.version or _range_of(str(entry))
            continue
        conda.append(requirement)
    return conda, pip, python


def _range_of(entry: str) -> str | None:
    match = re.search(r"([<>=!~].*)$", entry.replace(" ", ""))
    return match.group(1) if match else None


def _pyproject(path: Path) -> tuple[list[CondaRequirement], str | None]:
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        log.warning("%s: not valid TOML (%s)", path, exc)
        return [], None
    project = data.get("project") or {}
    return pip_requirements(project.get("dependencies") or [], path), project.get("requires-python")


def _first(root: Path, names: Iterable[str]) -> Path | None:
    for name in names:
        if (root / name).is_file():
            return root / name
    return None
