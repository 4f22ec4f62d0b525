"""The material form read from the socket: its fields checked, its file streamed into S3."""

from __future__ import annotations

import contextlib
import logging
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field

import falcon
from botocore.exceptions import BotoCoreError, ClientError
from falcon.media.multipart import BodyPart, MultipartParseError

from libs.errors import Invalid, Unavailable
from libs.platform.storage import Storage
from libs.sources import filetypes, urlpolicy
from libs.store import materials
from services.uploads.multipart_upload import MIN_THROUGHPUT, MultipartWriter, longest_upload_seconds
from services.uploads.upload_janitor import UploadJanitor

log = logging.getLogger(__name__)

READ_SIZE = 1024 * 1024
# Room for the form's boundaries, part headers and text fields next to the file itself.
FORM_OVERHEAD = 64 * 1024
FIELDS = ("source_type", "file", "source_url", "section", "position")
MAX_NAME = 64
# Falcon's own limit on one part's headers (MultipartParseOptions.max_body_part_headers_size).
MAX_PART_HEADERS = 8192


def too_large(limit: int) -> falcon.HTTPContentTooLarge:
    return falcon.HTTPContentTooLarge(title="Payload too large", description=f"file: the upload limit is {limit} bytes")


def too_slow(seconds: float) -> falcon.HTTPError:
    return falcon.HTTPError(
        falcon.HTTP_408,
        title="Request timeout",
        description=f"file: the upload took over {seconds:.0f} s; send at least {MIN_THROUGHPUT // 1024} KiB/s",
    )


def _malformed(description: str) -> falcon.HTTPBadRequest:
    return falcon.HTTPBadRequest(title="Malformed form", description=description)


def check_request(req: falcon.Request, max_upload_bytes: int) -> None:
    """What the headers alone can refuse, before a byte of the body is read."""
    if req.content_length is None:
        # Falcon's form parser needs the length, and it lets us refuse big files unread
        raise falcon.HTTPLengthRequired(
            title="Length required", description="Send the form with a Content-Length header."
        )
    if req.content_length > max_upload_bytes + FORM_OVERHEAD:
        raise too_large(max_upload_bytes)
    if not (req.content_type or "").startswith("multipart/form-data"):
        raise falcon.HTTPUnsupportedMediaType(
            title="Unsupported media type", description="Send the material as multipart/form-data."
        )


@dataclass
class Form:
    """What the multipart form said, and the S3 upload its file went to."""

    source_type: str | None = None
    source_url: str | None = None
    section: str | None = None
    position: int | None = None
    filename: str | None = None
    content_type: str | None = None
    writer: MultipartWriter | None = None
    planned_key: str | None = None  # where the file's multipart upload was asked for
    size: int | None = None
    head: bytes = b""  # the file's first bytes, checked once source_type is known
    seen: set[str] = field(default_factory=set)

    @property
    def key(self) -> str | None:
        return self.writer.key if self.writer else None

    @property
    def sha256(self) -> str | None:
        return self.writer.sha256 if self.writer else None

    def discard(self, storage: Storage, janitor: UploadJanitor | None) -> None:
        """Leave nothing of the file behind: abort its upload (through ``janitor`` once S3
        answers again, if it fails now), or delete the object it became."""
        writer = self.writer
        if writer is None:
            if self.planned_key is not None and janitor is not None:
                # asked for and never answered: S3 may have made it all the same
                janitor.abort_later(self.planned_key, None)
            return
        if not writer.finished:
            try:
                writer.abort()
            except Exception:
                if janitor is None:
                    log.exception("could not abort the upload of %s", writer.key)
                else:
                    janitor.abort_later(writer.key, writer.upload_id)
            return
        try:
            storage.delete_objects([writer.key])
        except Exception:
            log.exception("could not discard the upload of %s", writer.key)


def receive(
    req: falcon.Request,
    storage: Storage,
    *,
    key_for: Callable[[str], str],
    max_upload_bytes: int,
    janitor: UploadJanitor | None,
) -> Form:
    """Read the form from the request, streaming its file to the object ``key_for(filename)``,
    and complete the upload. On any failure nothing is kept, and the error says what was
    wrong with the request (4xx) or that storage failed (503)."""
    form = Form()
    # cut at the longest an upload may run, so the janitor's sweep never meets a live one
    deadline = time.monotonic() + longest_upload_seconds(max_upload_bytes)
    try:
        try:
            for part in req.get_media():
                _read_part(part, form, storage, key_for, max_upload_bytes, deadline)
        except MultipartParseError as exc:
            raise _malformed(_describe_parse_error(exc)) from None
        except falcon.HTTPInvalidHeader:
            raise _malformed("form: the Content-Type header needs a boundary of 1 to 70 characters") from None
        _check_form(form)
        if form.writer:
            form.size = form.writer.complete()
    except falcon.HTTPContentTooLarge:
        form.discard(storage, janitor)
        _drain(req)  # at most FORM_OVERHEAD is left: read it, so the answer reaches the client
        raise
    except (BotoCoreError, ClientError) as exc:
        form.discard(storage, janitor)
        log.error("storage failed during an upload to %s: %s", form.key, exc)
        raise Unavailable("Storage is unavailable; nothing was kept. Try the upload again.") from None
    except BaseException:
        form.discard(storage, janitor)
        raise
    return form


_PARSE_ERRORS = {
    "incomplete body part headers": f"form: a part's headers are incomplete or longer than {MAX_PART_HEADERS} bytes",
    "unexpected form structure": "form: the body does not follow the multipart boundaries it announced",
    "maximum number of form body parts exceeded": "form: too many parts",
}


def _describe_parse_error(exc: MultipartParseError) -> str:
    # Falcon's descriptions are mapped to ours: they may quote what the client sent.
    return _PARSE_ERRORS.get(exc.description or "", "form: the multipart body is malformed")


def _part_names(part: BodyPart) -> tuple[str, str | None]:
    """The part's field name and file name, as checked text."""
    try:
        name, filename = part.name, part.filename
    except UnicodeDecodeError:
        raise Invalid(
            "file: a part's Content-Disposition (its name or filename) is not UTF-8 text", field="file"
        ) from None
    except MultipartParseError:  # a filename* in a charset it is not written in
        raise Invalid("file: the filename* parameter is not valid text in its charset", field="file") from None
    if not name:
        raise Invalid('form: a part has no name (Content-Disposition: form-data; name="…")', field="form")
    if name not in FIELDS:
        shown = name if len(name) <= MAX_NAME and name.isprintable() else "a part"
        raise Invalid(f"{shown}: unknown field (expected {', '.join(FIELDS)})", field=shown)
    return name, filename


def _read_part(
    part: BodyPart,
    form: Form,
    storage: Storage,
    key_for: Callable[[str], str],
    max_upload_bytes: int,
    deadline: float,
) -> None:
    name, filename = _part_names(part)
    if name in form.seen:
        raise Invalid(f"{name}: given more than once", field=name)
    form.seen.add(name)
    if name == "source_type":
        form.source_type = _text_field(part, name, 32)
        if form.source_type not in materials.SOURCE_TYPES:
            raise Invalid(f"source_type: must be one of {', '.join(materials.SOURCE_TYPES)}", field=name)
        _check_source_url_allowed(form)
    elif name == "source_url":
        raw = _text_field(part, name, materials.MAX_URL)
        form.source_url = urlpolicy.check_public_url(raw)
        _check_source_url_allowed(form)
    elif name == "section":
        form.section = _text_field(part, name, materials.SECTION_MAX * 4)  # bytes: UTF-8 takes up to 4
        if len(form.section) > materials.SECTION_MAX:
            raise Invalid(f"section: must be at most {materials.SECTION_MAX} characters", field=name)
    elif name == "position":
        raw = _text_field(part, name, 8)
        if not raw.isascii() or not raw.isdigit() or int(raw) > materials.MAX_POSITION:
            raise Invalid(f"position: must be a whole number from 0 to {materials.MAX_POSITION}", field=name)
        form.position = int(raw)
    else:
        _stream_file(part, filename, form, storage, key_for, max_upload_bytes, deadline)


def check_filename(filename: str | None, field: str = "file") -> str:
    """A material's file name as given (``field`` names it in errors), or :class:`Invalid`."""
    if not filename:
        raise Invalid(f"{field}: must be a file part with a filename", field=field)
    if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in filename):
        raise Invalid(f"{field}: the filename must not contain control characters", field=field)
    if len(filename) > materials.MAX_FILENAME:
        raise Invalid(f"{field}: the filename must be at most {materials.MAX_FILENAME} characters", field=field)
    return filename


def _stream_file(
    part: BodyPart,
    filename: str | None,
    form: Form,
    storage: Storage,
    key_for: Callable[[str], str],
    max_upload_bytes: int,
    deadline: float,
) -> None:
    form.filename = check_filename(filename)
    if form.source_type is not None:  # refuse a wrong extension before reading the file
        _expect(form.source_type, form.filename)
    head = part.stream.read(filetypes.SNIFF_BYTES)
    if not head:
        raise Invalid("file: is empty", field="file")
    if form.source_type is not None:
        form.content_type = _sniff(form.source_type, form.filename, head)
    form.planned_key = key_for(form.filename)
    form.writer = MultipartWriter(storage, form.planned_key, form.content_type or "application/octet-stream")
    form.writer.write(head)
    while chunk := part.stream.read(READ_SIZE):
        if form.writer.size + len(chunk) > max_upload_bytes:
            raise too_large(max_upload_bytes)
        if time.monotonic() > deadline:
            raise too_slow(longest_upload_seconds(max_upload_bytes))
        form.writer.write(chunk)
    form.head = head


def _check_source_url_allowed(form: Form) -> None:
    # Checked as soon as both fields are known, whatever their order in the form.
    if form.source_url is not None and form.source_type not in (None, "web"):
        raise Invalid(
            f"source_url: only a web material takes a source_url; a {form.source_type} material takes a file",
            field="source_url",
        )


def _check_form(form: Form) -> None:
    if form.source_type is None:
        raise Invalid("source_type: required (video, presentation, text or web)", field="source_type")
    if form.source_type == "web":
        if form.writer:
            raise Invalid("file: a web material takes a source_url, not a file", field="file")
        if not form.source_url:
            raise Invalid("source_url: required for a web material", field="source_url")
    elif not form.writer:
        raise Invalid(f"file: required for a {form.source_type} material", field="file")
    if form.writer and form.content_type is None:  # the file came before source_type
        form.content_type = _sniff(form.source_type, form.filename, form.head)


def _drain(req: falcon.Request) -> None:
    with contextlib.suppress(OSError):
        while req.bounded_stream.read(READ_SIZE):
            pass


def _text_field(part: BodyPart, name: str, limit: int) -> str:
    raw = part.stream.read(limit + 1)
    if len(raw) > limit:
        raise Invalid(f"{name}: must be at most {limit} bytes", field=name)
    try:
        text = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise Invalid(f"{name}: must be UTF-8 text", field=name) from None
    if not text or "\x00" in text:
        raise Invalid(f"{name}: must be non-empty text", field=name)
    return text


def _expect(source_type: str, filename: str) -> None:
    try:
        filetypes.expected_for(source_type, filename)
    except filetypes.Mismatch as exc:
        raise Invalid(f"file: {exc}", field="file") from None


def _sniff(source_type: str, filename: str, head: bytes) -> str:
    try:
        return filetypes.check_content(source_type, filename, head)
    except filetypes.Mismatch as exc:
        raise Invalid(str(exc) if str(exc).startswith("file:") else f"file: {exc}", field="file") from None
