"""The reader for an uploaded file, chosen by its source_type and extension."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

from libs.sources.filetypes import ACCEPTED, extension  # one declaration of what each source_type accepts
from services.agent.documents import Chunk
from services.agent.processors.errors import NotConfigured, UnreadableMaterial

NO_SPEECH_TO_TEXT = (
    "audio and video need a speech-to-text provider: set OPENAI_API_KEY (and OPENAI_BASE_URL for a compatible server)"
)

# Readers by module and function name: a reader's libraries (python-docx, lxml, trafilatura,
# pypdf, python-pptx, …) are imported by the first file that needs them, so a worker that is
# waiting for jobs does not hold them all in memory.
_READERS: dict[str, dict[str, str]] = {
    "text": {
        ".txt": "text.read_txt",
        ".md": "text.read_markdown",
        ".html": "text.read_html",
        ".htm": "text.read_html",
        ".docx": "text.read_docx",
    },
    "presentation": {".pdf": "presentation.read_pdf", ".pptx": "presentation.read_pptx"},
    "video": {".vtt": "subtitles.read_vtt", ".srt": "subtitles.read_srt"},
}


def _reader(name: str) -> Callable[[Path], list[Chunk]]:
    module, function = name.split(".")
    return getattr(importlib.import_module(f"services.agent.processors.{module}"), function)


def extract_file(
    source_type: str,
    filename: str,
    path: Path,
    *,
    transcribe: Callable[[Path], list[Chunk]] | None = None,
) -> list[Chunk]:
    """The document of the file at ``path``, uploaded as ``filename`` with ``source_type``.
    Audio and video go to ``transcribe``; without one they raise :class:`NotConfigured`.
    A file the upload checks would have refused (another type or extension) is
    :class:`UnreadableMaterial`."""
    suffix = extension(filename)
    reader_name = _READERS.get(source_type, {}).get(suffix)
    reader = _reader(reader_name) if reader_name else None
    if reader is None and source_type == "video" and suffix in ACCEPTED["video"]:
        if transcribe is None:
            raise NotConfigured(NO_SPEECH_TO_TEXT)
        reader = transcribe
    if reader is None:
        raise UnreadableMaterial(f"a {source_type} material cannot be read from a {suffix or 'nameless'} file")
    if path.stat().st_size == 0:
        raise UnreadableMaterial("the file is empty")
    return reader(path)
