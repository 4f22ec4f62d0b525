"""Text materials (.txt, .md, .html/.htm, .docx) as a document of headings and paragraphs."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path

import docx
import lxml.etree
import lxml.html
import trafilatura
from docx.oxml.ns import qn
from docx.table import Table
from docx.text.paragraph import Paragraph
from markdown_it import MarkdownIt
from markdown_it.tree import SyntaxTreeNode

from services.agent.documents import Chunk
from services.agent.processors import packages
from services.agent.processors.errors import UnreadableMaterial, raised_by

log = logging.getLogger(__name__)

NO_TEXT = "no text was found in the file"
NOT_UTF8 = "the file is not UTF-8 text"

# Markdown and HTML are parsed whole, and their trees take many times the file (a 50 MB page
# took 3.5 GB): past this they are refused before a byte is read. A .txt is read line by line.
WHOLE_READ_MAX_BYTES = 16 * 1024**2
# A line is read in pieces of at most this many characters, and a paragraph that runs on
# past PARAGRAPH_MAX_CHARS is ended there: a file with no line breaks is read in bounded steps.
LINE_MAX_CHARS = 64 * 1024
PARAGRAPH_MAX_CHARS = 1024**2
_SPACES = re.compile(r"\s+")
_HEADING_STYLE = re.compile(r"heading ([1-9])", re.IGNORECASE)
_MARKDOWN = MarkdownIt("commonmark").enable(["table", "strikethrough"])
# huge_tree: libxml2 otherwise stops at 256 levels of nesting and drops everything deeper (and
# after), so a page of nested divs came out as "no text was found". Memory stays bounded by
# the reader's child process (processors/isolation.py), not by this limit.
_HTML_PARSER = lxml.html.HTMLParser(encoding="utf-8", huge_tree=True)
_HTML_MAX_DEPTH = 2048  # libxml2's with huge_tree


def _paragraph(text: str) -> Chunk:
    return Chunk("paragraph", text)


def _heading(text: str, level: int) -> Chunk:
    # Word has Heading 7-9, the document model stops at 6
    return Chunk("heading", text, {"level": min(max(level, 1), 6)})


def _some(chunks: list[Chunk], message: str = NO_TEXT) -> list[Chunk]:
    if not chunks:
        raise UnreadableMaterial(message)
    return chunks


def _squash(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


def read_utf8(path: Path, *, what: str) -> str:
    """The file's text, read whole (markdown-it and lxml parse whole documents): UTF-8 with or
    without a BOM, anything else is :class:`UnreadableMaterial`, and so is a file over
    WHOLE_READ_MAX_BYTES (``what`` names its kind in the message). Line ends become ``\\n``."""
    if path.stat().st_size > WHOLE_READ_MAX_BYTES:
        raise UnreadableMaterial(
            f"{what} of more than {WHOLE_READ_MAX_BYTES // 1024**2} MiB is more than can be read at once:"
            " split it, or send its text as .txt"
        )
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UnreadableMaterial(NOT_UTF8) from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def utf8_lines(path: Path) -> Iterator[str]:
    """The file's lines, decoded as they are read (never the whole file in memory), ``\\n``
    ending each, a line longer than LINE_MAX_CHARS in pieces of that length; UTF-8 with or
    without a BOM, anything else is :class:`UnreadableMaterial`."""
    try:
        with path.open(encoding="utf-8-sig", errors="strict", newline=None) as lines:
            while line := lines.readline(LINE_MAX_CHARS):
                yield line
    except UnicodeDecodeError:
        raise UnreadableMaterial(NOT_UTF8) from None


# --- plain text ---------------------------------------------------------------------------


def read_txt(path: Path) -> list[Chunk]:
    """A plain text file, read line by line: one ``paragraph`` per block of lines between blank
    lines."""
    chunks, block = [], []
    for line in utf8_lines(path):
        if line.strip(" \t\f\v\n"):  # a line of only these is blank
            block.append(line)
            if len(block) * LINE_MAX_CHARS > PARAGRAPH_MAX_CHARS and sum(map(len, block)) > PARAGRAPH_MAX_CHARS:
                chunks.append(_paragraph("".join(block).strip()))  # no blank line for a long while
                block = []
        elif block:
            chunks.append(_paragraph("".join(block).strip()))
            block = []
    if block:
        chunks.append(_paragraph("".join(block).strip()))
    return _some(chunks)


# --- Markdown -----------------------------------------------------------------------------


def read_markdown(path: Path) -> list[Chunk]:
    """A Markdown file: headings as ``heading`` chunks with their level, each block between them
    (paragraph, list, code, table, quote) as a ``paragraph`` in plain text, no Markdown syntax."""
    return _some(markdown_chunks(read_utf8(path, what="a Markdown file")))


def markdown_chunks(source: str) -> list[Chunk]:
    """The chunks of a Markdown text (see :func:`read_markdown`); empty if it has no text."""
    return list(_md_blocks(SyntaxTreeNode(_MARKDOWN.parse(source)).children))


def _md_blocks(nodes: list[SyntaxTreeNode]) -> Iterator[Chunk]:
    for node in nodes:
        if node.type == "heading":
            text = _md_inline(node.children[0]).strip()
            if text:
                yield _heading(text, int(node.tag[1]))
        elif node.type == "blockquote":
            yield from _md_blocks(node.children)
        else:
            text = "\n".join(_md_lines(node)).strip()
            if text:
                yield _paragraph(text)


def _md_lines(node: SyntaxTreeNode, indent: str = "") -> list[str]:
    """A block as lines of readable text: list items marked with a bullet or their number,
    nested ones indented, table rows with cells between bars."""
    if node.type in ("paragraph", "heading"):
        return [indent + line for line in _md_inline(node.children[0]).strip().split("\n")]
    if node.type in ("fence", "code_block"):
        return [indent + line for line in node.content.rstrip("\n").split("\n")]
    if node.type in ("bullet_list", "ordered_list"):
        start = int(node.attrs.get("start", 1))
        lines = []
        for number, item in enumerate(node.children, start=start):
            marker = "• " if node.type == "bullet_list" else f"{number}. "
            item_lines = [line for child in item.children for line in _md_lines(child, indent + "  ")]
            if item_lines:
                # the first line of the item carries its marker instead of the indent
                item_lines[0] = indent + marker + item_lines[0].removeprefix(indent + "  ")
            lines.extend(item_lines)
        return lines
    if node.type == "table":
        return [
            indent + " | ".join(_md_inline(cell.children[0]).strip() for cell in row.children if cell.children)
            for section in node.children
            for row in section.children
        ]
    if node.type == "blockquote":
        return [line for child in node.children for line in _md_lines(child, indent)]
    if node.type == "html_block":
        return [indent + line for line in _html_fragment_text(node.content).split("\n") if line]
    return []  # hr and anything without text


def _md_inline(node: SyntaxTreeNode) -> str:
    """The text of an inline run: emphasis, links and images (their alt text) reduced to words."""
    parts = []
    for child in node.children:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type == "softbreak":
            parts.append(" ")
        elif child.type == "hardbreak":
            parts.append("\n")
        elif child.type != "html_inline":
            parts.append(_md_inline(child))
    return "".join(parts)


def _html_fragment_text(fragment: str) -> str:
    try:
        element = lxml.html.fragment_fromstring(fragment, create_parent="div")
    except (lxml.etree.ParserError, ValueError):
        return ""
    for unwanted in element.xpath(".//script | .//style"):
        unwanted.drop_tree()
    return "\n".join(line for line in (_squash(line) for line in element.text_content().split("\n")) if line)


# --- HTML ---------------------------------------------------------------------------------

# never lesson content; dropped before trafilatura too, because on short pages its last-resort
# extractor takes the whole body, menus included
_NOT_CONTENT = "//script | //style | //noscript | //template | //nav"
_FALLBACK_BLOCKS = {"p", "li", "pre", "blockquote", "td", "th", "dt", "dd", "figcaption", "caption"}
_FALLBACK_HEADINGS = {f"h{n}": n for n in range(1, 7)}


def read_html(path: Path) -> list[Chunk]:
    """An HTML page's readable text, without scripts, styles or navigation: headings and
    paragraphs as trafilatura finds them, or, on a page too small for it, the body's own
    headings and text blocks."""
    source = read_utf8(path, what="an HTML file")
    if not source.strip():
        raise UnreadableMaterial(NO_TEXT)
    try:
        tree = lxml.html.document_fromstring(source.encode(), parser=_HTML_PARSER)
    except (lxml.etree.ParserError, ValueError):
        log.warning("lxml could not parse %s", path.name, exc_info=True)
        raise UnreadableMaterial("the HTML file could not be read") from None
    if any(error.type_name == "ERR_RESOURCE_LIMIT" for error in _HTML_PARSER.error_log):
        # libxml2 stopped reading at its depth limit: the text past it is lost, so say why
        raise UnreadableMaterial(f"the HTML file nests its elements more than {_HTML_MAX_DEPTH} levels deep")
    for element in tree.xpath(_NOT_CONTENT):
        element.drop_tree()
    extracted = trafilatura.extract(
        lxml.html.tostring(tree, encoding="unicode"),
        output_format="xml",
        include_comments=False,
        include_tables=True,
        include_images=False,
        include_links=False,
    )
    chunks = _trafilatura_chunks(extracted) if extracted else []
    fallback = _fallback_chunks(tree)
    # on a small page trafilatura's rescue returns the body as one run of words; the body's own
    # blocks carry the same words with their headings
    if not chunks or _words(chunks) == _words(fallback):
        chunks = fallback
    return _some(chunks)


def _words(chunks: list[Chunk]) -> list[str]:
    return " ".join(chunk.text for chunk in chunks).split()


def _trafilatura_chunks(xml: str) -> list[Chunk]:
    main = lxml.etree.fromstring(xml.encode()).find("main")
    if main is None:
        return []
    chunks = []
    for element in main:
        if element.tag == "head":
            text = _squash("".join(element.itertext()))
            rend = element.get("rend") or ""
            level = int(rend[1]) if re.fullmatch(r"h[1-6]", rend) else 2
            if text:
                chunks.append(_heading(text, level))
        else:
            text = "\n".join(_xml_lines(element)).strip()
            if text:
                chunks.append(_paragraph(text))
    return chunks


def _xml_lines(element: lxml.etree._Element, indent: str = "") -> list[str]:
    """trafilatura's XML (p, list/item, table/row/cell, code, quote, lb) as lines of text."""
    if element.tag == "list":
        lines = []
        for number, item in enumerate(element.iterfind("item"), start=1):
            marker = f"{number}. " if element.get("rend") == "ol" else "• "
            own = _squash(_own_text(item))
            if own:
                lines.append(indent + marker + own)
            for sublist in item.iterfind("list"):
                lines.extend(_xml_lines(sublist, indent + "  "))
        return lines
    if element.tag == "table":
        return [
            indent + " | ".join(_squash("".join(cell.itertext())) for cell in row.iterfind("cell"))
            for row in element.iterfind("row")
        ]
    if element.tag == "code":
        return ["".join(element.itertext()).strip("\n")]
    return [indent + _squash(line) for line in _own_text(element, lb="\n").split("\n") if line.strip()]


def _own_text(element: lxml.etree._Element, lb: str = " ") -> str:
    """The element's text without that of its nested lists; ``lb`` elements become ``lb``."""
    parts = [element.text or ""]
    for child in element:
        if child.tag == "lb":
            parts.append(lb)
        elif child.tag != "list":
            parts.append("".join(child.itertext()))
        parts.append(child.tail or "")
    return "".join(parts)


def _fallback_chunks(tree: lxml.html.HtmlElement) -> list[Chunk]:
    """Headings and text blocks of the body, in order; the body's text as one paragraph if it
    has no such blocks (e.g. text straight in a ``div``)."""
    body = tree.find("body")
    if body is None:
        return []
    chunks = []
    for element in body.iter(*_FALLBACK_HEADINGS, *_FALLBACK_BLOCKS):
        # a block inside a block taken already (a p in a li) is part of its text
        if any(parent.tag in _FALLBACK_BLOCKS for parent in element.iterancestors()):
            continue
        text = _squash(element.text_content())
        if text:
            level = _FALLBACK_HEADINGS.get(element.tag)
            chunks.append(_heading(text, level) if level else _paragraph(text))
    if not chunks and (text := _squash(body.text_content())):
        chunks.append(_paragraph(text))
    return chunks


# --- Word ---------------------------------------------------------------------------------


def read_docx(path: Path) -> list[Chunk]:
    """A Word document in order: paragraphs styled as a heading (``Title``, ``Heading 1``…) as
    ``heading`` chunks, other paragraphs and each table cell as ``paragraph`` chunks."""
    packages.check_package(path, "the Word file")
    try:
        document = docx.Document(str(path))
        _keep_text_around_entities(document.element)
        chunks = list(_docx_blocks(document.iter_inner_content()))
    except Exception as exc:
        if not raised_by(exc, docx):
            raise
        log.warning("python-docx could not read %s", path.name, exc_info=True)
        raise UnreadableMaterial("the Word file could not be read: it is damaged or not a .docx") from None
    return _some(chunks)


def _keep_text_around_entities(root: lxml.etree._Element) -> None:
    """python-docx parses without resolving entities (rightly: an external one could read a
    local file), and a run's text then stopped at the first reference, losing what followed.
    The text around each reference is kept; the reference itself, unknown, is dropped."""
    for element in root.iter(qn("w:t")):
        entities = [child for child in element if isinstance(child, lxml.etree._Entity)]
        if entities:
            element.text = (element.text or "") + "".join(entity.tail or "" for entity in entities)
            for entity in entities:
                element.remove(entity)


def _docx_blocks(blocks: Iterator[Paragraph | Table]) -> Iterator[Chunk]:
    for block in blocks:
        if isinstance(block, Table):
            yield from _docx_table(block)
            continue
        text = block.text.strip()
        if not text:
            continue
        style = block.style.name if block.style is not None else ""
        if style == "Title":
            yield _heading(text, 1)
        elif match := _HEADING_STYLE.fullmatch(style):
            yield _heading(text, int(match.group(1)))
        else:
            yield _paragraph(text)


def _docx_table(table: Table) -> Iterator[Chunk]:
    seen = set()
    for row in table.rows:
        for cell in row.cells:
            # a merged cell comes back once for every grid column it spans
            if cell._tc in seen:
                continue
            seen.add(cell._tc)
            text = "\n".join(p.text.strip() for p in cell.paragraphs if p.text.strip())
            if text:
                yield _paragraph(text)
            for nested in cell.tables:
                yield from _docx_table(nested)
