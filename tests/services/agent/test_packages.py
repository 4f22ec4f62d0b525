"""Zip bombs and oversized packages (.docx, .pptx) are refused as "too large when unpacked"
before python-docx or python-pptx opens them, by counting what each member unpacks to."""

from __future__ import annotations

import resource
from pathlib import Path

import docx
import pytest

from bench.ingest import zip_bomb
from services.agent.processors import packages
from services.agent.processors.presentation import read_pptx
from services.agent.processors.text import read_docx
from tests.services.agent.readers import unreadable
from tests.services.agent.test_presentation import make_pptx
from tests.services.agent.test_text import make_docx


def bomb(make: object, target: Path, member: str, size: int) -> Path:
    """A file ``make`` writes, with ``member`` replaced by ``size`` deflated bytes of one value
    (the benchmark's hostile inputs, made the same way)."""
    zip_bomb(make, member, size)(target)
    return target


def test_a_docx_that_unpacks_to_far_more_than_it_weighs_is_too_large_and_never_opened(tmp_path, monkeypatch):
    bombed = bomb(make_docx, tmp_path / "bomb.docx", "word/document.xml", 40 * 1024**2)
    assert bombed.stat().st_size < 1024 * 1024
    opened = []
    monkeypatch.setattr(docx, "Document", lambda *args: opened.append(args))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with unreadable(
        "the Word file is too large when unpacked: its part word/document.xml unpacks to over 100 times its packed size"
    ):
        read_docx(bombed)
    assert opened == []
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 64 * 1024  # KiB: read a MiB at a time


def test_a_pptx_part_unpacking_to_a_thousand_times_its_size_is_refused(tmp_path):
    bombed = bomb(make_pptx, tmp_path / "bomb.pptx", "ppt/media/image9.png", 8 * 1024**2)
    with unreadable(
        "the PowerPoint file is too large when unpacked: its part ppt/media/image9.png unpacks to over 100 times"
        " its packed size"
    ):
        read_pptx(bombed)


def test_an_xml_part_over_its_budget_is_refused_whatever_its_ratio(tmp_path, monkeypatch):
    monkeypatch.setattr(packages, "MAX_XML_BYTES", 16 * 1024)
    with pytest.raises(
        packages.TooLargeUnpacked,
        match=r"^the Word file is too large when unpacked: its part .*\.xml"
        r" is over 16 KiB$",
    ):
        read_docx(make_docx(tmp_path / "real.docx"))


def test_a_package_over_the_whole_budget_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(packages, "MAX_UNPACKED_BYTES", 64 * 1024)
    with unreadable("the Word file is too large when unpacked: over 64 KiB"):
        read_docx(make_docx(tmp_path / "real.docx"))


def test_a_real_document_is_read_as_before(tmp_path):
    assert read_docx(make_docx(tmp_path / "real.docx"))


@pytest.mark.parametrize("content", [b"PK\x03\x04 not really a zip", b"plain text"])
def test_what_is_not_a_zip_is_left_to_the_library_to_call_damaged(tmp_path, content):
    path = tmp_path / "broken.docx"
    path.write_bytes(content)
    with unreadable("the Word file could not be read: it is damaged or not a .docx"):
        read_docx(path)
