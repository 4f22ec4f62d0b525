"""Presentations: a chunk per PDF page and per PowerPoint slide, and plain errors for bad files."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pptx
import pytest
from fpdf import FPDF
from fpdf.enums import EncryptionMethod
from pptx.util import Inches

from services.agent.documents import Chunk
from services.agent.processors.presentation import read_pdf, read_pptx
from tests.services.agent.readers import unreadable


def make_pdf(path: Path, pages: list[str | None], **encryption: object) -> Path:
    """A PDF with one page per entry: its text, or for None only a rectangle (no text)."""
    pdf = FPDF()
    pdf.set_font("helvetica", size=12)
    for text in pages:
        pdf.add_page()
        if text is None:
            pdf.rect(10, 10, 50, 30)
        else:
            pdf.cell(text=text)
    if encryption:
        pdf.set_encryption(encryption_method=EncryptionMethod.RC4, **encryption)
    pdf.output(str(path))
    return path


# --- PDF ----------------------------------------------------------------------------------


def test_pdf_gives_one_page_chunk_per_page_with_its_number(tmp_path: Path) -> None:
    path = make_pdf(tmp_path / "a.pdf", ["Cells and tissues", "Photosynthesis", "Respiration"])
    assert read_pdf(path) == [
        Chunk("page", "Cells and tissues", {"page": 1}),
        Chunk("page", "Photosynthesis", {"page": 2}),
        Chunk("page", "Respiration", {"page": 3}),
    ]


def test_pdf_pages_without_text_are_skipped_and_keep_the_numbering(tmp_path: Path) -> None:
    path = make_pdf(tmp_path / "a.pdf", ["First", None, "Third"])
    assert read_pdf(path) == [Chunk("page", "First", {"page": 1}), Chunk("page", "Third", {"page": 3})]


def test_pdf_with_no_text_on_any_page_is_unreadable(tmp_path: Path) -> None:
    with unreadable("no text was found in the PDF (it may contain only scanned images)"):
        read_pdf(make_pdf(tmp_path / "a.pdf", [None, None]))


def test_corrupt_pdf_is_unreadable_in_plain_words(tmp_path: Path) -> None:
    path = tmp_path / "a.pdf"
    path.write_bytes(b"%PDF-" + bytes(range(256)) * 8)
    with unreadable("the PDF could not be read: it is damaged or not a PDF"):
        read_pdf(path)


def test_empty_pdf_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "a.pdf"
    path.write_bytes(b"")
    with unreadable("the PDF file is empty"):
        read_pdf(path)


def test_pdf_with_a_user_password_is_unreadable(tmp_path: Path) -> None:
    path = make_pdf(tmp_path / "a.pdf", ["secret"], owner_password="owner", user_password="reader")
    with unreadable("the PDF is password-protected"):
        read_pdf(path)


def test_pdf_encrypted_without_a_user_password_is_read(tmp_path: Path) -> None:
    # only an owner password (no printing, no copying): every viewer opens it, so do we
    path = make_pdf(tmp_path / "a.pdf", ["open to all"], owner_password="owner")
    assert read_pdf(path) == [Chunk("page", "open to all", {"page": 1})]


# --- PowerPoint ---------------------------------------------------------------------------

TITLE_AND_CONTENT, TITLE_ONLY, BLANK = 1, 5, 6


def make_pptx(path: Path) -> Path:
    deck = pptx.Presentation()
    first = deck.slides.add_slide(deck.slide_layouts[TITLE_AND_CONTENT])
    first.shapes.title.text = "The cell"
    body = first.placeholders[1].text_frame
    body.text = "Every living thing is made of cells"
    body.add_paragraph().text = "Cells come from cells"
    first.notes_slide.notes_text_frame.text = "Ask who has used a microscope."

    second = deck.slides.add_slide(deck.slide_layouts[TITLE_ONLY])
    second.shapes.title.text = "Organelles"
    table = second.shapes.add_table(3, 2, Inches(1), Inches(2), Inches(6), Inches(2)).table
    for r, row in enumerate([("Organelle", "Role"), ("Nucleus", "holds the DNA"), ("Ribosome", "")]):
        for c, text in enumerate(row):
            table.cell(r, c).text = text
    box = second.shapes.add_textbox(Inches(1), Inches(5), Inches(4), Inches(1))
    box.text_frame.text = "Source: the textbook"

    deck.slides.add_slide(deck.slide_layouts[BLANK])  # no text at all

    fourth = deck.slides.add_slide(deck.slide_layouts[BLANK])
    fourth.shapes.add_textbox(Inches(1), Inches(1), Inches(4), Inches(1)).text_frame.text = "A slide without a title"
    deck.save(str(path))
    return path


def test_pptx_gives_one_slide_chunk_per_slide_with_text(tmp_path: Path) -> None:
    assert [chunk.metadata for chunk in read_pptx(make_pptx(tmp_path / "a.pptx"))] == [
        {"slide": 1, "title": "The cell"},
        {"slide": 2, "title": "Organelles"},
        {"slide": 4, "title": None},
    ]


def test_pptx_slide_text_is_title_body_then_notes(tmp_path: Path) -> None:
    first = read_pptx(make_pptx(tmp_path / "a.pptx"))[0]
    assert first == Chunk(
        "slide",
        "The cell\nEvery living thing is made of cells\nCells come from cells\n\nNotes: Ask who has used a microscope.",
        {"slide": 1, "title": "The cell"},
    )


def test_pptx_table_rows_are_lines_of_cells(tmp_path: Path) -> None:
    second = read_pptx(make_pptx(tmp_path / "a.pptx"))[1]
    assert second.text == "Organelles\nOrganelle | Role\nNucleus | holds the DNA\nRibosome |\nSource: the textbook"


def test_pptx_slide_without_a_title_has_title_none(tmp_path: Path) -> None:
    last = read_pptx(make_pptx(tmp_path / "a.pptx"))[-1]
    assert last == Chunk("slide", "A slide without a title", {"slide": 4, "title": None})


def test_pptx_without_text_is_unreadable(tmp_path: Path) -> None:
    deck = pptx.Presentation()
    deck.slides.add_slide(deck.slide_layouts[BLANK])
    deck.save(str(tmp_path / "a.pptx"))
    with unreadable("no text was found in the presentation"):
        read_pptx(tmp_path / "a.pptx")


def test_corrupt_pptx_is_unreadable_in_plain_words(tmp_path: Path) -> None:
    path = tmp_path / "a.pptx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("[Content_Types].xml", b"\x00garbage<<")
        archive.writestr("ppt/presentation.xml", b"not xml at all")
    with unreadable("the PowerPoint file could not be read: it is damaged or not a .pptx"):
        read_pptx(path)


def test_pptx_that_is_not_a_zip_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "a.pptx"
    path.write_bytes(b"PK\x03\x04" + bytes(range(256)))
    with unreadable("the PowerPoint file could not be read: it is damaged or not a .pptx"):
        read_pptx(path)


def test_a_bug_of_ours_while_reading_a_pptx_is_no_damaged_file(tmp_path: Path, monkeypatch) -> None:
    # the file is sound: an error raised by our own code must fail the job as the bug it is,
    # not be told to the author as "the file is damaged"
    def broken(number, slide):
        raise AttributeError("a bug of ours")

    monkeypatch.setattr("services.agent.processors.presentation._slide", broken)
    with pytest.raises(AttributeError, match="a bug of ours"):
        read_pptx(make_pptx(tmp_path / "a.pptx"))


def test_a_bug_of_ours_while_reading_a_pdf_is_no_damaged_file(tmp_path: Path, monkeypatch) -> None:
    def broken(reader):
        raise TypeError("a bug of ours")
        yield

    monkeypatch.setattr("services.agent.processors.presentation._pdf_pages", broken)
    with pytest.raises(TypeError, match="a bug of ours"):
        read_pdf(make_pdf(tmp_path / "a.pdf", ["one page"]))
