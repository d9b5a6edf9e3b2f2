"""One virtual environment per distinct requirement set, built once and reused.

A workflow repository states what it needs in ``requirements.txt``, ``pyproject.toml``
(``[project] dependencies``) or the pip part of ``environment.yml``. Repositories with the
same needs share an environment (keyed by the normalised requirement list). The environment
layers on top of astroflow's own: its ``.pth`` adds astroflow's site-packages *after* its own,
so the warm parent can start (it imports astroflow, IPython, numpy) while whatever the
repository pins wins. Builds use ``uv`` when it is on PATH, else pip; a build happens in a
temporary folder renamed into place, so a half-built environment is never used.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from astroflow.errors import AstroflowError


class EnvironmentError_(AstroflowError):
    """An environment that could not be built; carries the build log's tail."""

    def __init__(self, message: str, log: str = "") -> None:
        super().__init__(message)
        self.log = log


@dataclass(frozen=True)
class Environment:
    key: str
    python: str
    requirements: tuple[str, ...]


def requirements_of(repo: Path) -> tuple[str, ...]:
    """The repository's pip requirements, normalised (sorted, stripped, comments dropped)."""
    found: list[str] = []
    req = repo / "requirements.txt"
    if req.is_file():
        found += _requirement_lines(req.read_text())
    pyproject = repo / "pyproject.toml"
    if pyproject.is_file():
        try:
            data = tomllib.loads(pyproject.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise EnvironmentError_(f"pyproject.toml is not valid TOML: {exc}") from exc
        found += [str(d).strip() for d in data.get("project", {}).get("dependencies", [])]
    env_yml = repo / "environment.yml"
    if env_yml.is_file():
        import yaml

        data = yaml.safe_load(env_yml.read_text()) or {}
        for dep in data.get("dependencies", []) or []:
            if isinstance(dep, dict) and isinstance(dep.get("pip"), list):
                found += [str(d).strip() for d in dep["pip"]]
    return canonical_requirements(found)


def canonical_requirements(lines: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Each requirement in one spelling (PEP 503 name, packaging's specifier order), sorted,
    without duplicates: ``numpy >= 1`` and ``NumPy>=1`` then share one environment."""
    return tuple(sorted({canonical_requirement(line) for line in lines if line.strip()}))


def canonical_requirement(line: str) -> str:
    """One requirement in packaging's spelling; a line packaging cannot read (a pip option,
    a path) stays as written, stripped, for pip to judge."""
    try:
        requirement = Requirement(line.strip())
    except InvalidRequirement:
        return line.strip()
    requirement.name = canonicalize_name(requirement.name)
    return str(requirement)


def _requirement_lines(text: str) -> list[str]:
    lines = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if line and not line.startswith(("-r ", "--requirement")):
            lines.append(line)
    return lines


def environment_key(requirements: tuple[str, ...]) -> str:
    """The environment's folder name: the same for any spelling of the same requirements."""
    payload = "\n".join(canonical_requirements(requirements)) + f"\npython {sys.version_info[:2]}"
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def ensure_environment(requirements: tuple[str, ...], root: Path,
                       satisfied_by_base: bool = False) -> Environment:
    """The environment for these requirements, built now if it does not exist yet.

    With ``satisfied_by_base`` (every requirement already importable in astroflow's own
    environment, as for the bundled services), astroflow's interpreter is used as is.
    """
    if not requirements or satisfied_by_base:
        return Environment("base", sys.executable, requirements)
    key = environment_key(requirements)
    final = root / key
    python = final / "bin" / "python"
    if (final / ".ready").exists():
        return Environment(key, str(python), requirements)
    root.mkdir(parents=True, exist_ok=True)
    building = root / f".{key}.{os.getpid()}"
    shutil.rmtree(building, ignore_errors=True)
    log_path = building.with_suffix(".log")
    with open(log_path, "w") as log:
        try:
            _run([sys.executable, "-m", "venv", "--without-pip", str(building)], log)
            _layer_on_base(building)
            req_file = building / "requirements.txt"
            req_file.write_text("\n".join(requirements) + "\n")
            _install(building / "bin" / "python", req_file, log)
            (building / ".ready").write_text(key)
        except (subprocess.CalledProcessError, OSError) as exc:
            log.flush()
            tail = _tail(log_path)
            shutil.rmtree(building, ignore_errors=True)
            raise EnvironmentError_(f"could not build the environment: {exc}", tail) from exc
    try:
        building.rename(final)
    except OSError:  # another process built the same environment meanwhile
        shutil.rmtree(building, ignore_errors=True)
    if log_path.exists():
        shutil.move(str(log_path), str(final / "build.log"))
    return Environment(key, str(python), requirements)


def _layer_on_base(env: Path) -> None:
    """astroflow's own site-packages after the environment's, with their .pth files processed."""
    purelib = Path(sysconfig.get_paths(vars={"base": str(env), "platbase": str(env)})["purelib"])
    purelib.mkdir(parents=True, exist_ok=True)
    base = sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})
    lines = [f"import site; site.addsitedir({path!r})" for path in base]
    (purelib / "_astroflow_base.pth").write_text("\n".join(lines) + "\n")


def _install(python: Path, requirements: Path, log) -> None:
    uv = shutil.which("uv")
    if uv:
        _run([uv, "pip", "install", "--python", str(python), "-r", str(requirements)], log)
    else:
        _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
              "--disable-pip-version-check", "-r", str(requirements)], log)


def _run(command: list[str], log) -> None:
    log.write("$ " + " ".join(command) + "\n")
    log.flush()
    subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, check=True, timeout=1800)


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def base_satisfies(requirements: tuple[str, ...]) -> bool:
    """Is every requirement already met by astroflow's own environment?"""
    from importlib.metadata import PackageNotFoundError, version

    from packaging.requirements import InvalidRequirement, Requirement

    for line in requirements:
        try:
            req = Requirement(line)
        except InvalidRequirement:
            return False
        if req.url:
            return False
        try:
            installed = version(req.name)
        except PackageNotFoundError:
            return False
        if req.specifier and not req.specifier.contains(installed, prereleases=True):
            return False
    return True
