"""Text materials: .txt, .md, .html and .docx files read into headings and paragraphs."""

from __future__ import annotations

import zipfile
from pathlib import Path

import docx
import pytest

from services.agent.documents import Chunk
from services.agent.processors import text as text_reader
from services.agent.processors.text import read_docx, read_html, read_markdown, read_txt
from tests.services.agent.readers import unreadable, write


def heading(text: str, level: int) -> Chunk:
    return Chunk("heading", text, {"level": level})


def paragraph(text: str) -> Chunk:
    return Chunk("paragraph", text)


# --- .txt ---------------------------------------------------------------------------------


def test_txt_paragraphs_are_the_blocks_between_blank_lines(tmp_path: Path) -> None:
    path = write(tmp_path, "a.txt", "First line\nstill the first paragraph.\r\n\r\n  \nSecond one.\n\n\n\nThird.\n")
    assert read_txt(path) == [
        paragraph("First line\nstill the first paragraph."),
        paragraph("Second one."),
        paragraph("Third."),
    ]


def test_txt_with_a_bom_reads_as_utf8(tmp_path: Path) -> None:
    path = write(tmp_path, "a.txt", "\ufeffÜber Größe.\n\nNaïve café.".encode())
    assert read_txt(path) == [paragraph("Über Größe."), paragraph("Naïve café.")]


def test_txt_that_is_not_utf8_is_unreadable(tmp_path: Path) -> None:
    path = write(tmp_path, "a.txt", "Über Größe".encode("latin-1"))
    with unreadable("the file is not UTF-8 text"):
        read_txt(path)


def test_empty_txt_has_no_text(tmp_path: Path) -> None:
    with unreadable("no text was found in the file"):
        read_txt(write(tmp_path, "a.txt", b""))


def test_blank_lines_only_txt_has_no_text(tmp_path: Path) -> None:
    with unreadable("no text was found in the file"):
        read_txt(write(tmp_path, "a.txt", "\n  \n\t\n"))


# --- .md ----------------------------------------------------------------------------------

MARKDOWN = """\
# Cell *biology*

An intro with **bold**, `code`, a [link](https://example.com) and ![a diagram](d.png).
It wraps onto a second line.

## Membranes

Text under the second heading.

### Transport

Passive & active &amp; more.
"""


def test_markdown_headings_keep_their_level_and_text_between_them_becomes_paragraphs(tmp_path: Path) -> None:
    assert read_markdown(write(tmp_path, "a.md", MARKDOWN)) == [
        heading("Cell biology", 1),
        paragraph("An intro with bold, code, a link and a diagram. It wraps onto a second line."),
        heading("Membranes", 2),
        paragraph("Text under the second heading."),
        heading("Transport", 3),
        paragraph("Passive & active & more."),
    ]


def test_markdown_lists_are_lines_with_bullets_or_numbers(tmp_path: Path) -> None:
    source = "- one\n- two\n  - nested *a*\n\n3. third\n4. fourth\n"
    assert read_markdown(write(tmp_path, "a.md", source)) == [
        paragraph("• one\n• two\n  • nested a"),
        paragraph("3. third\n4. fourth"),
    ]


def test_markdown_table_rows_are_lines_of_cells(tmp_path: Path) -> None:
    source = "| Organelle | Role |\n|---|---|\n| **Nucleus** | DNA |\n| Ribosome | proteins |\n"
    assert read_markdown(write(tmp_path, "a.md", source)) == [
        paragraph("Organelle | Role\nNucleus | DNA\nRibosome | proteins"),
    ]


def test_markdown_code_blocks_and_quotes_keep_their_text(tmp_path: Path) -> None:
    source = "```python\nx = 1\n\ny = 2\n```\n\n> A quote\n> on two lines\n\n---\n"
    assert read_markdown(write(tmp_path, "a.md", source)) == [
        paragraph("x = 1\n\ny = 2"),
        paragraph("A quote on two lines"),
    ]


def test_markdown_without_text_is_unreadable(tmp_path: Path) -> None:
    with unreadable("no text was found in the file"):
        read_markdown(write(tmp_path, "a.md", "---\n\n***\n"))


# --- .html --------------------------------------------------------------------------------

ARTICLE = """\
<!doctype html>
<html><head><title>Biology</title>
<style>body { color: red } .SECRET-STYLE {}</style>
<script>var SECRET_SCRIPT = "do not read";</script>
</head>
<body>
<nav><ul><li><a href="/">SECRET-NAV Home</a></li><li><a href="/about">SECRET-NAV About</a></li></ul></nav>
<main><article>
<h1>Photosynthesis</h1>
<p>Plants turn light, water and carbon dioxide into sugar and oxygen. This happens in the chloroplasts
of the leaf cells, which hold the green pigment chlorophyll.</p>
<h2>Light reactions</h2>
<p>The light reactions take place in the thylakoid membranes, where light energy splits water and makes ATP.</p>
<ul><li>Photosystem II</li><li>Photosystem I</li></ul>
<script>document.write("SECRET_SCRIPT inside the article");</script>
</article></main>
</body></html>
"""


def test_html_headings_and_paragraphs_come_from_the_article(tmp_path: Path) -> None:
    assert read_html(write(tmp_path, "a.html", ARTICLE)) == [
        heading("Photosynthesis", 1),
        paragraph(
            "Plants turn light, water and carbon dioxide into sugar and oxygen. This happens in the chloroplasts"
            " of the leaf cells, which hold the green pigment chlorophyll."
        ),
        heading("Light reactions", 2),
        paragraph(
            "The light reactions take place in the thylakoid membranes, where light energy splits water and makes ATP."
        ),
        paragraph("• Photosystem II\n• Photosystem I"),
    ]


def test_html_leaves_out_scripts_styles_and_navigation(tmp_path: Path) -> None:
    text = "\n".join(chunk.text for chunk in read_html(write(tmp_path, "a.html", ARTICLE)))
    assert "SECRET" not in text
    assert "color" not in text


def test_tiny_html_page_still_yields_its_heading_and_text(tmp_path: Path) -> None:
    page = (
        "<html><head><script>alert('SECRET')</script><style>p { margin: 0 }</style></head>"
        "<body><nav><a href='/'>SECRET menu</a></nav><h1>Hi</h1><p>A short page.</p></body></html>"
    )
    assert read_html(write(tmp_path, "a.html", page)) == [heading("Hi", 1), paragraph("A short page.")]


def test_html_with_text_outside_any_block_yields_it(tmp_path: Path) -> None:
    page = "<html><body><nav>SECRET menu</nav><div>Only a <b>div</b></div></body></html>"
    assert read_html(write(tmp_path, "a.htm", page)) == [paragraph("Only a div")]


def test_html_with_only_scripts_and_navigation_has_no_text(tmp_path: Path) -> None:
    page = "<html><head><title>T</title></head><body><script>var a = 1;</script><nav>Menu</nav></body></html>"
    with unreadable("no text was found in the file"):
        read_html(write(tmp_path, "a.html", page))


def test_empty_html_has_no_text(tmp_path: Path) -> None:
    with unreadable("no text was found in the file"):
        read_html(write(tmp_path, "a.html", b""))


def test_html_that_is_not_utf8_is_unreadable(tmp_path: Path) -> None:
    with unreadable("the file is not UTF-8 text"):
        read_html(write(tmp_path, "a.html", "<p>Größe</p>".encode("latin-1")))


# --- .docx --------------------------------------------------------------------------------


def make_docx(path: Path) -> Path:
    document = docx.Document()
    document.add_heading("Genetics", level=0)  # the Title style
    document.add_paragraph("Genes are made of DNA.")
    document.add_paragraph("   ")
    document.add_heading("Inheritance", level=1)
    document.add_paragraph("Traits pass from parents to children.")
    document.add_heading("Dominant alleles", level=2)
    table = document.add_table(rows=2, cols=2)
    for row, cells in zip(table.rows, [("Allele", "Effect"), ("A", "")], strict=True):
        for cell, text in zip(row.cells, cells, strict=True):
            cell.text = text
    document.add_heading("Mutations", level=3)
    document.add_paragraph("Changes in the sequence.")
    document.save(str(path))
    return path


def test_docx_headings_paragraphs_and_table_cells_in_order(tmp_path: Path) -> None:
    assert read_docx(make_docx(tmp_path / "a.docx")) == [
        heading("Genetics", 1),
        paragraph("Genes are made of DNA."),
        heading("Inheritance", 1),
        paragraph("Traits pass from parents to children."),
        heading("Dominant alleles", 2),
        paragraph("Allele"),
        paragraph("Effect"),
        paragraph("A"),
        heading("Mutations", 3),
        paragraph("Changes in the sequence."),
    ]


def test_docx_merged_table_cell_is_read_once(tmp_path: Path) -> None:
    document = docx.Document()
    table = document.add_table(rows=2, cols=2)
    merged = table.cell(0, 0).merge(table.cell(0, 1))
    merged.text = "Spans two columns"
    table.cell(1, 0).text = "left"
    table.cell(1, 1).text = "right"
    document.save(str(tmp_path / "a.docx"))
    assert read_docx(tmp_path / "a.docx") == [paragraph("Spans two columns"), paragraph("left"), paragraph("right")]


def test_docx_without_text_is_unreadable(tmp_path: Path) -> None:
    document = docx.Document()
    document.add_paragraph("")
    document.save(str(tmp_path / "a.docx"))
    with unreadable("no text was found in the file"):
        read_docx(tmp_path / "a.docx")


def test_corrupt_docx_is_unreadable_in_plain_words(tmp_path: Path) -> None:
    path = tmp_path / "a.docx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("[Content_Types].xml", b"\x00garbage<<")
        archive.writestr("word/document.xml", b"not xml at all")
    with unreadable("the Word file could not be read: it is damaged or not a .docx"):
        read_docx(path)


def test_empty_docx_is_unreadable(tmp_path: Path) -> None:
    with unreadable("the Word file could not be read: it is damaged or not a .docx"):
        read_docx(write(tmp_path, "a.docx", b""))


def test_a_bug_of_ours_while_reading_a_docx_is_no_damaged_file(tmp_path: Path, monkeypatch) -> None:
    document = docx.Document()
    document.add_paragraph("A sound file")
    document.save(str(tmp_path / "a.docx"))

    def broken(blocks):
        raise KeyError("a bug of ours")
        yield

    monkeypatch.setattr("services.agent.processors.text._docx_blocks", broken)
    with pytest.raises(KeyError, match="a bug of ours"):
        read_docx(tmp_path / "a.docx")


def with_entity(source: Path, target: Path) -> Path:
    """``source`` whose document declares an entity and uses it inside a paragraph's text."""
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as out:
        for item in original.infolist():
            data = original.read(item.filename)
            if item.filename == "word/document.xml":
                head, body = data.split(b"?>", 1)
                data = (
                    head
                    + b'?><!DOCTYPE w:document [<!ENTITY co "Company">]>'
                    + body.replace(b"Genes are made of DNA.", b"Genes &co; are made of DNA.")
                )
            out.writestr(item, data)
    return target


def test_docx_text_after_an_entity_is_kept(tmp_path: Path) -> None:
    chunks = read_docx(with_entity(make_docx(tmp_path / "a.docx"), tmp_path / "entity.docx"))
    assert paragraph("Genes are made of DNA.") in [Chunk(c.kind, " ".join(c.text.split())) for c in chunks]


def test_html_nested_deeper_than_libxml2s_default_is_read_whole(tmp_path: Path) -> None:
    page = "<html><body>" + "<div>" * 1000 + "<p>Deep inside.</p>" + "</div>" * 1000 + "<p>After it.</p></body></html>"
    assert read_html(write(tmp_path, "deep.html", page)) == [paragraph("Deep inside."), paragraph("After it.")]


def test_html_nested_past_any_limit_says_so_not_that_it_has_no_text(tmp_path: Path) -> None:
    page = "<html><body>" + "<div>" * 5000 + "<p>Deep inside.</p>" + "</div>" * 5000 + "</body></html>"
    with unreadable("the HTML file nests its elements more than 2048 levels deep"):
        read_html(write(tmp_path, "deeper.html", page))


def test_txt_is_read_in_bounded_steps_even_without_line_breaks(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(text_reader, "LINE_MAX_CHARS", 10)
    monkeypatch.setattr(text_reader, "PARAGRAPH_MAX_CHARS", 25)
    chunks = read_txt(write(tmp_path, "long.txt", "x" * 60 + "\n\nshort\n"))
    assert [len(c.text) for c in chunks] == [30, 30, 5]


def test_markdown_or_html_past_what_is_read_at_once_is_refused_before_reading(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(text_reader, "WHOLE_READ_MAX_BYTES", 100)
    with unreadable(
        "a Markdown file of more than 0 MiB is more than can be read at once: split it, or send its text as .txt"
    ):
        read_markdown(write(tmp_path, "big.md", "# Title\n\n" + "word " * 50))
