"""What a processor raises when a material cannot be turned into a document."""

from __future__ import annotations

import traceback
from pathlib import Path
from types import ModuleType

_OUR_CODE = Path(__file__).resolve().parents[3]  # the repository: services/, libs/


class UnreadableMaterial(Exception):
    """Permanent: the file or page itself is the problem (corrupt, empty, not what its type
    says, no text at all). The message is shown to a person as the material's error, so it
    says what was wrong with the material in plain words, never an exception's name."""


class SourceUnavailable(Exception):
    """Transient: a service the processor depends on (a web server, the speech-to-text
    provider) failed in a way that may pass: network errors, timeouts, 429, 5xx. The job is
    retried with backoff; after the last try the message becomes the material's error."""


class NotConfigured(UnreadableMaterial):
    """The material needs a provider the operator has not configured; the message names the
    setting (e.g. OPENAI_API_KEY)."""


def raised_by(exc: BaseException, *libraries: ModuleType) -> bool:
    """Whether ``exc`` comes from inside one of ``libraries`` rather than from our own code: of
    the frames it passed through, the innermost that is either theirs or ours is theirs (the
    standard library's frames between count for neither, so zipfile or zlib failing under
    python-docx is python-docx's). A reader maps only these to "the file is damaged": a bug of
    ours must fail the job as one, not pass for a broken file the author can do nothing about."""
    folders = [str(Path(library.__file__).resolve().parent) for library in libraries if library.__file__]
    for frame, _ in reversed(list(traceback.walk_tb(exc.__traceback__))):
        if not Path(frame.f_code.co_filename).is_absolute():
            continue  # a compiled extension's source name ("src/lxml/parser.pxi", "<string>")
        filename = str(Path(frame.f_code.co_filename).resolve())
        if any(filename.startswith(folder) for folder in folders):
            return True
        if filename.startswith(str(_OUR_CODE)) and "/site-packages/" not in filename:
            return False
    return False
