"""A service repository's README.md as a web page, rendered on the server and safe to show.

Workflow repositories are written by other people, so their README is untrusted text:
markdown-it renders it with raw HTML switched off (``<script>`` and every other tag come out
as visible text) and its link check refuses ``javascript:``, ``vbscript:``, ``file:`` and
non-image ``data:`` URLs. The page also carries a Content-Security-Policy that allows no
script at all, so a mistake in either still runs nothing.
"""

from __future__ import annotations

import html
from functools import lru_cache
from pathlib import Path

from markdown_it import MarkdownIt

README_NAMES = ("README.md", "Readme.md", "readme.md", "README.markdown")
MAX_README_BYTES = 1_000_000
# No script, no frames, no forms; pictures only from this server or inline.
CSP = ("default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'self'")

_STYLE = """
body { margin: 0; background: #f3f5f9; color: #1d2733;
  font: 15px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
header { background: #0f2a4d; color: #fff; padding: 10px 16px; }
header a { color: #d6e4f7; }
main { max-width: 860px; margin: 16px auto; padding: 20px 24px; background: #fff;
  border: 1px solid #dde3ea; border-radius: 8px; overflow-wrap: anywhere; }
a { color: #1f63d6; }
pre { background: #0f172a; color: #e2e8f0; padding: 12px 14px; border-radius: 6px; overflow: auto; }
code { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 13px; }
:not(pre) > code { background: #f1f3f6; padding: 1px 4px; border-radius: 4px; }
table { border-collapse: collapse; display: block; overflow-x: auto; }
th, td { border: 1px solid #dde3ea; padding: 4px 8px; text-align: left; }
img { max-width: 100%; }
:focus-visible { outline: 3px solid #1f63d6; outline-offset: 2px; }
header :focus-visible { outline-color: #ffd166; }
@media (max-width: 600px) { main { margin: 0; border-radius: 0; padding: 14px 12px; } }
"""


def find_readme(folder: Path) -> Path | None:
    """The README.md at the root of a service's repository, if it has one."""
    for name in README_NAMES:
        path = folder / name
        if path.is_file():
            return path
    return None


@lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])


def render_markdown(text: str) -> str:
    """Markdown → HTML fragment with every raw HTML tag shown as text."""
    return _markdown().render(text)


def readme_page(path: Path, *, title: str, service: str) -> str:
    """A whole HTML page: the rendered README under a bar linking back to the service's form."""
    data = path.read_bytes()[:MAX_README_BYTES]
    body = render_markdown(data.decode("utf-8", errors="replace"))
    back = f"../../#/service/{html.escape(service, quote=True)}"
    name = html.escape(title)
    return (
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"<title>{name} · README · astroflow</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        f"<header><a href=\"{back}\">← {name}: back to the form</a></header>\n"
        f"<main aria-label=\"README of {name}\">\n{body}</main>\n</body>\n</html>\n")


def missing_page(message: str) -> str:
    """The page shown when there is no such service or it has no README."""
    text = html.escape(message)
    return ("<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>Not found · astroflow</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
            f"<main><h1>Not found</h1><p>{text}</p><p><a href=\"../../\">The portal</a></p></main>\n"
            "</body>\n</html>\n")
