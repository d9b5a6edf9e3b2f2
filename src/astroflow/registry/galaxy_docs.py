"""A Galaxy tool's ``<help>`` (reStructuredText) and ``<citations>``.

Help comes from the repository's ``galaxy_help.rst`` or ``galaxy_help.md`` when the author
wrote one for Galaxy, else from the notebook's description followed by the README.
Markdown is converted here (no pandoc on most machines) for the subset READMEs use:
headings, paragraphs, lists, code, links, emphasis and tables (kept as literal blocks).

Citations come from ``citations.bib`` (one ``bibtex`` citation per entry) and from the
notebook's ``# oda:reference`` statements: DOIs and DOI links become ``doi`` citations,
arXiv links their DataCite DOI, any other link a ``@misc`` BibTeX entry.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

HEADING_MARKS = "=-~^\"'"
DOI_SHAPE = re.compile(r"^10\.\d{4,9}/\S+$")
_DOI_IN = re.compile(r"^(?:doi:\s*|https?://(?:dx\.)?doi\.org/)(?P<doi>10\.\d{4,9}/\S+)$",
                     re.IGNORECASE)
_ARXIV = re.compile(r"^(?:arxiv:\s*|https?://arxiv\.org/(?:abs|pdf)/)(?P<id>\d{4}\.\d{4,5})"
                    r"(?:v\d+)?(?:\.pdf)?$", re.IGNORECASE)


@dataclass(frozen=True)
class Citation:
    type: str       # "doi" or "bibtex"
    text: str


# -- help ------------------------------------------------------------------------------------

def tool_help(root: Path, description: str | None, title: str) -> str:
    """The reStructuredText for ``<help>``."""
    for name in ("galaxy_help.rst", "galaxy_help.md"):
        path = root / name
        if path.is_file():
            text = path.read_text()
            return text.strip() if name.endswith(".rst") else markdown_to_rst(text)
    parts = [markdown_to_rst(description) if description else _escape(title)]
    readme = _readme(root)
    if readme is not None:
        text = readme.read_text()
        parts.append(text.strip() if readme.suffix == ".rst" else markdown_to_rst(text))
    return "\n\n".join(p for p in parts if p)


def _readme(root: Path) -> Path | None:
    for name in ("README.md", "README.rst", "README.txt", "README", "readme.md"):
        if (root / name).is_file():
            return root / name
    return None


def markdown_to_rst(text: str) -> str:
    """Markdown → reStructuredText for the subset READMEs use; the result is valid RST."""
    return _Converter(text.replace("\t", "    ").splitlines()).run()


_ITEM = re.compile(r"^(\s*)([-*+]|\d+[.)])\s+(.*)$")
_ATX = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_RULE = re.compile(r"(\*\s*){3,}|(-\s*){3,}|(_\s*){3,}")


class _Converter:
    """One pass over the Markdown lines, block by block."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.i = 0
        self.out: list[str] = []
        self.depths: list[int] = []            # Markdown heading levels currently open
        self.items: list[tuple[int, int]] = []  # open list levels: (Markdown indent, RST column)

    def run(self) -> str:
        while self.i < len(self.lines):
            self.block()
        while self.out and self.out[-1] == "":
            self.out.pop()
        return "\n".join(self.out)

    def block(self) -> None:
        line = self.lines[self.i]
        stripped = line.strip()
        following = self.lines[self.i + 1].strip() if self.i + 1 < len(self.lines) else ""
        item = _ITEM.match(line)
        atx = _ATX.match(line)
        if not stripped:
            self.blank()
            self.i += 1
        elif stripped.startswith(("```", "~~~")):
            self.fenced(stripped[:3])
        elif line.startswith("    ") and not self.items and (not self.out or self.out[-1] == ""):
            self.indented()
        elif stripped.startswith("|"):
            self.table()
        elif atx:
            self.heading(len(atx.group(1)), atx.group(2))
            self.i += 1
        elif following and re.fullmatch(r"=+|-+", following) and not item:
            self.heading(1 if following.startswith("=") else 2, stripped)
            self.i += 2
        elif _RULE.fullmatch(stripped):
            self.blank()
            self.i += 1
        elif item:
            self.item(item)
        else:
            self.paragraph()

    def blank(self) -> None:
        if self.out and self.out[-1] != "":
            self.out.append("")

    def fenced(self, fence: str) -> None:
        block = []
        self.i += 1
        while self.i < len(self.lines) and not self.lines[self.i].strip().startswith(fence):
            block.append(self.lines[self.i])
            self.i += 1
        self.i += 1
        self.literal(block)

    def indented(self) -> None:
        block = []
        while self.i < len(self.lines) and (self.lines[self.i].startswith("    ")
                                            or not self.lines[self.i].strip()):
            block.append(self.lines[self.i][4:])
            self.i += 1
        self.literal(block)

    def table(self) -> None:
        """Pipe tables stay readable as a literal block (RST grid tables are fragile)."""
        block = []
        while self.i < len(self.lines) and self.lines[self.i].strip().startswith("|"):
            block.append(self.lines[self.i].strip())
            self.i += 1
        self.literal(block)

    def literal(self, block: list[str]) -> None:
        while block and not block[-1].strip():
            block.pop()
        if not block:
            return
        self.items.clear()
        self.blank()
        self.out += ["::", ""]
        self.out += ["    " + b if b.strip() else "" for b in block]
        self.out.append("")

    def heading(self, level: int, text: str) -> None:
        """Section levels never jump: ``#`` then ``###`` is a section and its subsection."""
        while self.depths and self.depths[-1] >= level:
            self.depths.pop()
        self.depths.append(level)
        title = inline(text.strip()) or "Section"
        mark = HEADING_MARKS[min(len(self.depths), len(HEADING_MARKS)) - 1]
        self.items.clear()
        self.blank()
        self.out += [title, mark * max(len(title), 3), ""]

    def item(self, match: re.Match[str]) -> None:
        """A list item, nested under the open item whose Markdown indent is smaller."""
        indent, marker = len(match.group(1)), match.group(2)
        marker = "-" if marker in "-*+" else marker.rstrip(".)") + "."
        while self.items and self.items[-1][0] > indent:
            self.items.pop()
        sibling = bool(self.items) and self.items[-1][0] == indent
        if sibling:
            self.items.pop()
        column = self.items[-1][1] if self.items else 0
        previous = self.out[-1] if self.out else ""
        same_level = previous.strip() and len(previous) - len(previous.lstrip()) == column
        if not (sibling and same_level):
            self.blank()  # RST wants blank lines around a nested list
        self.items.append((indent, column + len(marker) + 1))
        self.i += 1
        text = " ".join([match.group(3).strip(), *self.continuation()])
        self.out.append(" " * column + f"{marker} {inline(text)}")

    def continuation(self) -> list[str]:
        """Lines that continue a list item or paragraph (no blank line, no new block)."""
        more = []
        while self.i < len(self.lines):
            line = self.lines[self.i]
            stripped = line.strip()
            if (not stripped or _ITEM.match(line) or _ATX.match(line)
                    or stripped.startswith(("```", "~~~", "|")) or _RULE.fullmatch(stripped)):
                break
            more.append(stripped.lstrip(">").strip())
            self.i += 1
        return more

    def paragraph(self) -> None:
        first = self.lines[self.i].strip().lstrip(">").strip()
        self.i += 1
        text = " ".join(t for t in [first, *self.continuation()] if t)
        self.items.clear()
        self.blank()
        self.out.append(inline(text))


_INLINE = re.compile(
    r"(?P<code>`+)(?P<code_text>.+?)(?P=code)"
    r"|!\[(?P<alt>[^\]]*)\]\([^)]*\)"
    r"|\[(?P<link>[^\]]+)\]\((?P<url>[^)\s]+)(?:\s+\"[^\"]*\")?\)"
    r"|<(?P<auto>https?://[^>\s]+)>"
    r"|(?P<strong>\*\*|__)(?P<strong_text>\S(?:.*?\S)?)(?P=strong)"
    r"|(?<![\w*])(?P<em>[*_])(?P<em_text>[^\s*_](?:[^*_]*?[^\s*_])?)(?P=em)(?![\w*])"
)


def inline(text: str) -> str:
    """Inline Markdown (code, links, emphasis) as RST, everything else escaped."""
    parts: list[str] = []
    pos = 0
    for match in _INLINE.finditer(text):
        parts.append(_escape(text[pos:match.start()]))
        if match["code"]:
            parts.append(_spaced(f"``{match['code_text'].strip()}``", text, match))
        elif match["alt"] is not None:
            parts.append(_escape(match["alt"]))
        elif match["link"]:
            label = re.sub(r"[`<>*]", "", match["link"]).strip() or match["url"]
            parts.append(_spaced(f"`{label} <{match['url']}>`__", text, match))
        elif match["auto"]:
            parts.append(match["auto"])
        elif match["strong"]:
            parts.append(_spaced(f"**{_escape(match['strong_text'])}**", text, match))
        else:
            parts.append(_spaced(f"*{_escape(match['em_text'])}*", text, match))
        pos = match.end()
    parts.append(_escape(text[pos:]))
    return "".join(parts)


def _spaced(markup: str, text: str, match: re.Match[str]) -> str:
    """Inline markup must stand apart from word characters on both sides in RST."""
    before = text[match.start() - 1] if match.start() > 0 else " "
    after = text[match.end()] if match.end() < len(text) else " "
    prefix = "\\ " if before.isalnum() else ""
    suffix = "\\ " if after.isalnum() else ""
    return prefix + markup + suffix


def _escape(text: str) -> str:
    """Characters RST would read as markup in plain text."""
    text = text.replace("\\", "\\\\")
    text = re.sub(r"([*`|])", r"\\\1", text)
    return re.sub(r"(\w)_(?=\W|$)", r"\1\\_", text)


# -- citations -------------------------------------------------------------------------------

def tool_citations(root: Path, references: Iterable[object], name: str) -> list[Citation]:
    """Citations from ``citations.bib`` and the notebook's reference statements, no repeats."""
    found: list[Citation] = []
    bib = root / "citations.bib"
    if bib.is_file():
        found += [Citation("bibtex", entry) for entry in bibtex_entries(bib.read_text())]
    for n, reference in enumerate(references, start=1):
        citation = reference_citation(str(reference), f"{_key(name)}_ref{n}")
        if citation is not None:
            found.append(citation)
    unique: dict[tuple[str, str], Citation] = {}
    for citation in found:
        unique.setdefault((citation.type, citation.text.lower()), citation)
    return list(unique.values())


def reference_citation(reference: str, key: str) -> Citation | None:
    reference = reference.strip().rstrip(".")
    if not reference:
        return None
    if DOI_SHAPE.match(reference):
        return Citation("doi", reference)
    match = _DOI_IN.match(reference)
    if match:
        return Citation("doi", match["doi"])
    match = _ARXIV.match(reference)
    if match:
        return Citation("doi", f"10.48550/arXiv.{match['id']}")
    if re.match(r"^https?://\S+$", reference):
        return Citation("bibtex", f"@misc{{{key},\n  title = {{{reference}}},\n"
                                  f"  howpublished = {{\\url{{{reference}}}}}\n}}")
    return Citation("bibtex", f"@misc{{{key},\n  title = {{{_bib_escape(reference)}}}\n}}")


def bibtex_entries(text: str) -> list[str]:
    """Each ``@type{...}`` entry of a BibTeX file (comments and ``@comment`` skipped)."""
    entries = []
    for match in re.finditer(r"@(\w+)\s*\{", text):
        if match.group(1).lower() in ("comment", "preamble", "string"):
            continue
        depth, end = 0, None
        for pos in range(match.end() - 1, len(text)):
            if text[pos] == "{":
                depth += 1
            elif text[pos] == "}":
                depth -= 1
                if depth == 0:
                    end = pos + 1
                    break
        if end is not None:
            entries.append(text[match.start():end].strip())
    return entries


def _key(name: str) -> str:
    return re.sub(r"\W+", "_", name).strip("_") or "workflow"


def _bib_escape(text: str) -> str:
    return text.replace("{", "(").replace("}", ")")
