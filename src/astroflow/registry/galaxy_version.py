"""A Galaxy tool version for a workflow: ``<version of the workflow>+galaxy<N>``.

Galaxy (and the Tool Shed) compare tool versions as PEP 440 versions, and the
``+galaxyN`` suffix numbers revisions of the wrapper around one version of the software.
The workflow's version comes, in order, from what its author states: the notebook's
``# oda:version``, then the repository's Git tags (``git describe``: ``v1.2.0`` →
``1.2.0``, three commits later ``1.2.0.post3``), then the number of commits that touched
the repository folder (``0.0.dev42``), and outside Git the notebook's content hash.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from packaging.version import InvalidVersion, Version

GALAXY_SUFFIX = "+galaxy0"
# A commit id (some, like ``1234567c8901``, even parse as PEP 440 versions).
COMMIT_ID = re.compile(r"[0-9a-f]{7,40}")


@dataclass(frozen=True)
class GitState:
    """Where a repository folder stands in Git."""

    commit: str
    tag: str | None
    distance: int          # commits since the tag
    commits: int           # commits that touched the folder


def tool_version(*, explicit: str | None, declared: object, root: Path, content: str) -> str:
    """The ``version`` attribute of the tool.

    An ``explicit`` version is used when it is a PEP 440 version; anything else, and any
    commit id, cannot be ordered by Galaxy, so the version is derived as usual and the
    explicit text only replaces the content hash as the last resort's label.
    """
    label = content
    if explicit and explicit.strip():
        normalised = _normalise(explicit)
        if _is_pep440(normalised) and not COMMIT_ID.fullmatch(explicit.strip()):
            return _with_suffix(normalised)
        label = re.sub(r"[^A-Za-z0-9]+", ".", explicit.strip()).strip(".").lower() or content
    if isinstance(declared, (str, int, float)) and str(declared).strip():
        return _with_suffix(_normalise(str(declared)))
    state = git_state(root)
    if state is not None:
        base = _from_git(state)
        if base is not None:
            return base + GALAXY_SUFFIX
    return f"0.0.0+{label}.galaxy0"


def _from_git(state: GitState) -> str | None:
    if state.tag is not None:
        tag = _normalise(state.tag)
        candidate = tag if state.distance == 0 else f"{tag}.post{state.distance}"
        if _is_pep440(candidate):
            return str(Version(candidate))
    if state.commits > 0:
        return f"0.0.dev{state.commits}"
    return None


def _with_suffix(version: str) -> str:
    return version if "+galaxy" in version else version + GALAXY_SUFFIX


def _normalise(version: str) -> str:
    """``v1.2`` and ``V1.2`` are ``1.2``; a PEP 440 version is written canonically."""
    version = re.sub(r"^[vV](?=\d)", "", version.strip())
    return str(Version(version)) if _is_pep440(version) else version


def _is_pep440(version: str) -> bool:
    try:
        Version(version)
    except InvalidVersion:
        return False
    return True


def git_state(root: Path) -> GitState | None:
    """The Git facts of ``root`` (any folder inside a work tree), or None outside Git."""
    commit = _git(root, "rev-parse", "HEAD")
    if commit is None:
        return None
    tag, distance = None, 0
    described = _git(root, "describe", "--tags", "--long", "--abbrev=12")
    if described:
        match = re.fullmatch(r"(?P<tag>.+)-(?P<distance>\d+)-g[0-9a-f]+", described)
        if match:
            tag, distance = match["tag"], int(match["distance"])
    count = _git(root, "rev-list", "--count", "HEAD", "--", ".")
    return GitState(commit=commit, tag=tag, distance=distance,
                    commits=int(count) if count and count.isdigit() else 0)


def _git(root: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                              timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None
