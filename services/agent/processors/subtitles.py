"""Subtitles (.vtt, .srt) as one ``transcript`` chunk per cue."""

from __future__ import annotations

import html
import logging
import re
from pathlib import Path

import webvtt
from webvtt.errors import MalformedCaptionError, MalformedFileError

from services.agent.documents import Chunk
from services.agent.processors.errors import UnreadableMaterial

log = logging.getLogger(__name__)

NOT_UTF8 = "the subtitle file could not be read: it is not UTF-8 text"
NO_CUES = "no text was found in the subtitle file"
_MALFORMED = {
    "vtt": "the subtitle file could not be read: it is not a valid WebVTT file",
    "srt": "the subtitle file could not be read: it is not a valid SRT file",
}
MAX_BYTES = 16 * 1024**2
# SRT files from many editors carry ASS override codes such as {\an8} or {\i1}
_ASS_CODES = re.compile(r"\{\\[^}]*\}")


def read_vtt(path: Path) -> list[Chunk]:
    """A WebVTT file: one ``transcript`` chunk per cue with text."""
    return _read(path, "vtt")


def read_srt(path: Path) -> list[Chunk]:
    """An SRT file: one ``transcript`` chunk per cue with text."""
    return _read(path, "srt")


def _read(path: Path, fmt: str) -> list[Chunk]:
    if path.stat().st_size > MAX_BYTES:
        # webvtt-py reads a file whole and copies a cue's text several times over: a 50 MB cue
        # needed over 512 MiB. Three hours of subtitles are 1-2 MB.
        raise UnreadableMaterial(f"a subtitle file of more than {MAX_BYTES // 1024**2} MiB is more than can be read")
    try:
        # utf-8-sig: a BOM is fine; strict decoding, so a file in another encoding says so
        with path.open(encoding="utf-8-sig", errors="strict", newline="") as file:
            captions = webvtt.from_buffer(file, format=fmt).captions
    except UnicodeDecodeError:
        raise UnreadableMaterial(NOT_UTF8) from None
    except (MalformedFileError, MalformedCaptionError, ValueError):
        log.warning("webvtt could not parse %s", path.name, exc_info=True)
        raise UnreadableMaterial(_MALFORMED[fmt]) from None
    chunks = []
    for number, caption in enumerate(captions, start=1):
        start, end = caption.start_time.in_milliseconds(), caption.end_time.in_milliseconds()
        if end < start:  # a timecode the structure would cite, pointing backwards: refused, not stored
            raise UnreadableMaterial(
                f"the subtitle file's cue {number} ends ({caption.end}) before it starts ({caption.start})"
            )
        text = cue_text(caption.text)
        if text:
            chunks.append(Chunk("transcript", text, {"start_seconds": start / 1000, "end_seconds": end / 1000}))
    if not chunks:
        raise UnreadableMaterial(NO_CUES)
    return chunks


def cue_text(text: str) -> str:
    """A cue's text (webvtt has removed its tags) as one line: ASS codes removed, entities
    decoded, lines and runs of spaces joined by one space."""
    return " ".join(html.unescape(_ASS_CODES.sub("", text)).split())
