"""MkDocs hooks: reference pages generated from the code itself, so they cannot drift.

``<!-- cli-reference -->`` becomes the help of every ``astroflow`` command (argparse, as the
terminal shows it); ``<!-- http-reference -->`` becomes the table of the server's operations
from its OpenAPI document (the same one ``/api/v1/openapi.json`` serves).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any


def on_page_markdown(markdown: str, **_: Any) -> str:
    if "<!-- cli-reference -->" in markdown:
        markdown = markdown.replace("<!-- cli-reference -->", cli_reference())
    if "<!-- http-reference -->" in markdown:
        markdown = markdown.replace("<!-- http-reference -->", http_reference())
    return markdown


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
