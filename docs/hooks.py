"""MkDocs hooks: pages made from what the repository already says, so they cannot drift.

``<!-- cli-reference -->`` becomes the help of every ``astroflow`` command (argparse, as the
terminal shows it); ``<!-- http-reference -->`` becomes the table of the server's operations
from its OpenAPI document (the same one ``/api/v1/openapi.json`` serves); ``<!-- readme: Title
-->`` becomes that ``## Title`` section of README.md (headings one level up, links made to
work from the site); ``<!-- service: NAME -->`` becomes ``workflows/NAME/README.md``, the
service's method and validation.
"""

from __future__ import annotations

import argparse
import re
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
# Where each README section is published (the guide's pages, in the site's root).
GUIDE = {"Two commands": "quickstart.md", "Five-minute quickstart": "quickstart.md",
         "The portal": "portal.md", "Bundled science services": "services.md",
         "The server": "server.md", "Security model": "security.md",
         "Scaling out": "scaling.md", "Live workflows": "live-workflows.md",
         "Coming from MMODA": "mmoda.md", "Python client and command line": "client.md",
         "Speed": "speed.md", "Development": "development.md"}
_MARKER = re.compile(r"<!-- (readme|service): ([^>]+?) -->")


def on_page_markdown(markdown: str, page: Any = None, **_: Any) -> str:
    if "<!-- cli-reference -->" in markdown:
        markdown = markdown.replace("<!-- cli-reference -->", cli_reference())
    if "<!-- http-reference -->" in markdown:
        markdown = markdown.replace("<!-- http-reference -->", http_reference())
    here = page.file.src_uri if page is not None else ""
    return _MARKER.sub(lambda m: _included(m.group(1), m.group(2).strip(), here), markdown)


def _included(kind: str, name: str, here: str) -> str:
    if kind == "service":
        return (REPO / "workflows" / name / "README.md").read_text(encoding="utf-8")
    return _site_links(_raise_headings(readme_sections()[name]), here)


@cache
def readme_sections() -> dict[str, str]:
    """README.md's ``## `` sections by title (a title is matched up to its first " (")."""
    sections: dict[str, str] = {}
    title = None
    for line in (REPO / "README.md").read_text(encoding="utf-8").splitlines(keepends=True):
        if line.startswith("## "):
            title = line[3:].split(" (")[0].strip()
            sections[title] = ""
        if title is not None:
            sections[title] += line
    return sections


def _raise_headings(text: str) -> str:
    """``## Title`` becomes the page's ``# Title``, ``### `` its ``## `` and so on."""
    return re.sub(r"^#(#+) ", r"\1 ", text, flags=re.MULTILINE)


def _slug(title: str) -> str:
    """Python-Markdown's toc slug: the anchor a heading gets."""
    text = re.sub(r"[^\w\s-]", "", title.strip().lower())
    return re.sub(r"[-\s]+", "-", text).strip("-")


@cache
def _anchors() -> dict[str, str]:
    """Heading anchor → the guide page that holds it."""
    found: dict[str, str] = {}
    for title, text in readme_sections().items():
        page = GUIDE.get(title)
        for heading in re.findall(r"^#+ (.+)$", text, flags=re.MULTILINE):
            if page:
                found.setdefault(_slug(heading), page)
    return found


def _site_links(text: str, here: str) -> str:
    """README links as the site needs them: pictures under docs/ by their name, anchors to the
    page that holds them, repository files (CHANGELOG.md, …) named, not linked."""
    def rewrite(match: re.Match[str]) -> str:
        label, target = match.group(1), match.group(2)
        if target.startswith(("http://", "https://", "mailto:")):
            return match.group(0)
        if target.startswith("docs/"):
            return f"[{label}]({target.removeprefix('docs/')})"
        if target.startswith("#"):
            page = _anchors().get(target[1:])
            return f"[{label}]({'' if page in (None, here) else page}{target})"
        return f"{label} (`{target}` in the repository)"

    return re.sub(r"(?<!!)\[([^\]]*)\]\(([^)\s]+)\)", rewrite,
                  re.sub(r"!\[([^\]]*)\]\(docs/([^)]+)\)", r"![\1](\2)", text))


def cli_reference() -> str:
    from astroflow.cli import build_parser

    sections: list[str] = []

    def walk(parser: argparse.ArgumentParser, depth: int) -> None:
        sections.append(f"{'#' * depth} `{parser.prog}`\n\n```text\n{parser.format_help()}```\n")
        for action in parser._actions:  # argparse keeps subcommands only here
            if isinstance(action, argparse._SubParsersAction):
                for child in dict.fromkeys(action.choices.values()):  # aliases point to one
                    walk(child, min(depth + 1, 4))

    walk(build_parser(), 2)
    return "\n".join(sections)


def http_reference() -> str:
    from astroflow.server.app import create_app
    from astroflow.server.config import ServerConfig

    with tempfile.TemporaryDirectory() as folder:
        schema = create_app(ServerConfig(data_dir=Path(folder), services=[])).openapi()
    rows = ["| Method | Path | What it does |", "|---|---|---|"]
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            summary = (operation.get("summary") or "").replace("|", "\\|")
            rows.append(f"| {method.upper()} | `{path}` | {summary} |")
    return "\n".join(rows)
