"""Presentations (.pdf, .pptx) as one chunk per page or slide."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from pathlib import Path

import pptx
import pypdf
from pptx.enum.shapes import MSO_SHAPE_TYPE
from pptx.shapes.base import BaseShape
from pypdf import PasswordType, PdfReader
from pypdf.errors import DependencyError, EmptyFileError, FileNotDecryptedError

from services.agent.documents import Chunk
from services.agent.processors import packages
from services.agent.processors.errors import UnreadableMaterial, raised_by

log = logging.getLogger(__name__)

PDF_DAMAGED = "the PDF could not be read: it is damaged or not a PDF"
PDF_PASSWORD = "the PDF is password-protected"  # noqa: S105 (a message, not a password)
PDF_EMPTY = "the PDF file is empty"
PDF_NO_TEXT = "no text was found in the PDF (it may contain only scanned images)"
PPTX_DAMAGED = "the PowerPoint file could not be read: it is damaged or not a .pptx"
PPTX_NO_TEXT = "no text was found in the presentation"


# --- PDF ----------------------------------------------------------------------------------


def read_pdf(path: Path) -> list[Chunk]:
    """One ``page`` chunk per page that has text, ``metadata={"page": n}`` (1-based)."""
    with path.open("rb") as file:  # a stream, so pypdf reads objects as it needs them
        chunks = list(_pdf_pages(_open_pdf(file, path)))
    if not chunks:
        raise UnreadableMaterial(PDF_NO_TEXT)
    return chunks


def _open_pdf(file, path: Path) -> PdfReader:
    try:
        reader = PdfReader(file)
        # an encrypted PDF with an empty user password opens for anyone, as in any viewer
        if reader.is_encrypted and reader.decrypt("") == PasswordType.NOT_DECRYPTED:
            raise UnreadableMaterial(PDF_PASSWORD)
        return reader
    except UnreadableMaterial:
        raise
    except FileNotDecryptedError:
        raise UnreadableMaterial(PDF_PASSWORD) from None
    except EmptyFileError:
        raise UnreadableMaterial(PDF_EMPTY) from None
    except DependencyError:
        log.warning("pypdf lacks a dependency to decrypt %s", path.name, exc_info=True)
        raise UnreadableMaterial("the PDF is encrypted in a way that cannot be read") from None
    except Exception as exc:
        if not raised_by(exc, pypdf):
            raise
        log.warning("pypdf could not open %s", path.name, exc_info=True)
        raise UnreadableMaterial(PDF_DAMAGED) from None


def _pdf_pages(reader: PdfReader) -> Iterator[Chunk]:
    try:
        count = len(reader.pages)
    except Exception as exc:
        if not raised_by(exc, pypdf):
            raise
        log.warning("pypdf could not read the page tree", exc_info=True)
        raise UnreadableMaterial(PDF_DAMAGED) from None
    for number in range(1, count + 1):
        try:
            text = reader.pages[number - 1].extract_text().strip()
        except Exception as exc:
            if not raised_by(exc, pypdf):
                raise
            # one broken page should not cost the reader the other hundred
            log.warning("pypdf could not read the text of page %d", number, exc_info=True)
            continue
        if text:
            yield Chunk("page", text, {"page": number})


# --- PowerPoint ---------------------------------------------------------------------------


def read_pptx(path: Path) -> list[Chunk]:
    """One ``slide`` chunk per slide with text, ``metadata={"slide": n, "title": title or None}``:
    the title, every text frame, table rows (cells between bars), then the speaker notes after a
    blank line, marked ``Notes:``."""
    packages.check_package(path, "the PowerPoint file")
    try:
        presentation = pptx.Presentation(str(path))
        slides = (_slide(number, slide) for number, slide in enumerate(presentation.slides, start=1))
        chunks = [chunk for chunk in slides if chunk is not None]
    except Exception as exc:
        if not raised_by(exc, pptx):
            raise
        log.warning("python-pptx could not read %s", path.name, exc_info=True)
        raise UnreadableMaterial(PPTX_DAMAGED) from None
    if not chunks:
        raise UnreadableMaterial(PPTX_NO_TEXT)
    return chunks


def _slide(number: int, slide) -> Chunk | None:
    title_shape = slide.shapes.title
    title = _frame_text(title_shape) if title_shape is not None else ""
    lines = [title] if title else []
    lines += [line for shape in slide.shapes if shape != title_shape for line in _shape_lines(shape)]
    text = "\n".join(lines)
    notes_frame = slide.notes_slide.notes_text_frame if slide.has_notes_slide else None
    notes = _clean(notes_frame.text) if notes_frame is not None else ""
    if notes:
        text = f"{text}\n\nNotes: {notes}" if text else f"Notes: {notes}"
    if not text:
        return None
    return Chunk("slide", text, {"slide": number, "title": title or None})


def _shape_lines(shape: BaseShape) -> Iterable[str]:
    if shape.shape_type == MSO_SHAPE_TYPE.GROUP:
        return [line for inner in shape.shapes for line in _shape_lines(inner)]
    if shape.has_text_frame:
        text = _frame_text(shape)
        return [text] if text else []
    if getattr(shape, "has_table", False):
        rows = (" | ".join(_clean(cell.text) for cell in row.cells).rstrip() for row in shape.table.rows)
        return [row for row in rows if row.strip(" |")]
    return []


def _frame_text(shape: BaseShape) -> str:
    return _clean(shape.text_frame.text) if shape.has_text_frame else ""


def _clean(text: str) -> str:
    # python-pptx gives a line break inside a paragraph as a vertical tab
    lines = (line.strip() for line in text.replace("\v", "\n").split("\n"))
    return "\n".join(line for line in lines if line)
