"""Real Git repositories holding a small live workflow, committed the way authors do."""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

import nbformat

SERVICE = textwrap.dedent('''
    # %% [markdown]
    # # Greeting
    # Says hello, in the version of the repository that serves.

    # %% tags=["parameters"]
    name = "world"  # oda:String

    # %%
    {body}

    # %% tags=["outputs"]
    greeting  # oda:String
''')


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True,
                          env={"GIT_AUTHOR_NAME": "a", "GIT_AUTHOR_EMAIL": "a@b",
                               "GIT_COMMITTER_NAME": "a", "GIT_COMMITTER_EMAIL": "a@b",
                               "HOME": str(repo)}).stdout.strip()


def checking_notebook(body: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell(body))
    return nb


def commit(repo: Path, message: str, *, body: str = 'greeting = f"hello {name} v1"',
           test_body: str = "assert 1 + 1 == 2", requirements: str = "",
           topics: tuple[str, ...] = ("live-workflow-public",)) -> str:
    (repo / "greeting.py").write_text(SERVICE.format(body=body))
    nbformat.write(checking_notebook(test_body), repo / "test_greeting.ipynb")
    (repo / "requirements.txt").write_text(requirements)
    (repo / "astroflow.yaml").write_text(json.dumps({"topics": list(topics)}))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def new_repo(path: Path) -> Path:
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    return path
