"""What a file is, judged by its extension and its first bytes, against its ``source_type``."""

from __future__ import annotations

import re
from pathlib import PurePosixPath

SNIFF_BYTES = 4096


def _zip(head: bytes) -> bool:
    return head.startswith(b"PK\x03\x04")


def _pdf(head: bytes) -> bool:
    return head.startswith(b"%PDF-")


def _text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # a multi-byte character cut by the sniff window is still text
        return exc.start >= len(head) - 3
    return True


def _vtt(head: bytes) -> bool:
    return head.removeprefix(b"\xef\xbb\xbf").startswith(b"WEBVTT")


_SRT = re.compile(rb"^\s*\d+\s*\r?\n\d{2}:\d{2}:\d{2}[,.]\d{3} --> \d{2}:\d{2}:\d{2}[,.]\d{3}")


def _srt(head: bytes) -> bool:
    return bool(_SRT.match(head.removeprefix(b"\xef\xbb\xbf")))


def _iso_media(head: bytes) -> bool:  # mp4, mov, m4a, 3gp: an 'ftyp' box first
    return head[4:8] == b"ftyp"


def _matroska(head: bytes) -> bool:  # mkv, webm
    return head.startswith(b"\x1a\x45\xdf\xa3")


def _riff(kind: bytes):
    return lambda head: head.startswith(b"RIFF") and head[8:12] == kind


def _mpeg_audio(head: bytes) -> bool:
    return head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0)


def _ogg(head: bytes) -> bool:
    return head.startswith(b"OggS")


def _flac(head: bytes) -> bool:
    return head.startswith(b"fLaC")


# source_type → extension → (content type, check of the first bytes, what we expected)
ACCEPTED = {
    "presentation": {
        ".pdf": ("application/pdf", _pdf, "a PDF file"),
        ".pptx": (
            "application/vnd.openxmlformats-officedocument.presentationml.presentation",
            _zip,
            "a PowerPoint (.pptx) file",
        ),
    },
    "text": {
        ".txt": ("text/plain; charset=utf-8", _text, "UTF-8 text"),
        ".md": ("text/markdown; charset=utf-8", _text, "UTF-8 Markdown"),
        ".html": ("text/html; charset=utf-8", _text, "UTF-8 HTML"),
        ".htm": ("text/html; charset=utf-8", _text, "UTF-8 HTML"),
        ".docx": (
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            _zip,
            "a Word (.docx) file",
        ),
    },
    "video": {
        ".vtt": ("text/vtt; charset=utf-8", _vtt, "a WebVTT subtitle file"),
        ".srt": ("application/x-subrip; charset=utf-8", _srt, "an SRT subtitle file"),
        ".mp4": ("video/mp4", _iso_media, "an MP4 video"),
        ".m4v": ("video/mp4", _iso_media, "an MP4 video"),
        ".mov": ("video/quicktime", _iso_media, "a QuickTime video"),
        ".m4a": ("audio/mp4", _iso_media, "an M4A audio file"),
        ".mkv": ("video/x-matroska", _matroska, "a Matroska video"),
        ".webm": ("video/webm", _matroska, "a WebM video"),
        ".avi": ("video/x-msvideo", _riff(b"AVI "), "an AVI video"),
        ".wav": ("audio/wav", _riff(b"WAVE"), "a WAV audio file"),
        ".mp3": ("audio/mpeg", _mpeg_audio, "an MP3 audio file"),
        ".ogg": ("audio/ogg", _ogg, "an Ogg audio file"),
        ".flac": ("audio/flac", _flac, "a FLAC audio file"),
    },
}


class Mismatch(ValueError):
    """The file is not what its source_type or its extension says."""


def extension(filename: str) -> str:
    return PurePosixPath(filename.lower()).suffix


def expected_for(source_type: str, filename: str) -> tuple[str, object, str]:
    """The (content type, sniffer, description) of this file name, or Mismatch naming the
    extensions that ``source_type`` accepts."""
    accepted = ACCEPTED.get(source_type)
    if accepted is None:
        raise Mismatch(f"source_type {source_type!r} takes a source_url, not a file")
    entry = accepted.get(extension(filename))
    if entry is None:
        raise Mismatch(f"a {source_type} file must be one of {', '.join(sorted(accepted))}; got {filename!r}")
    return entry


def check_content(source_type: str, filename: str, head: bytes) -> str:
    """The content type to store; Mismatch when the first bytes are not what was expected."""
    content_type, sniff, description = expected_for(source_type, filename)
    if not sniff(head[:SNIFF_BYTES]):
        raise Mismatch(f"file: expected {description} for {filename!r}, but its content is something else")
    return content_type
