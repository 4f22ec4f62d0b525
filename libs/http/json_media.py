"""JSON bodies in and out: request bodies bounded in size and refused with a plain reason,
never a parser's own message (codec names, ``sys.set_int_max_str_digits``, recursion)."""

from __future__ import annotations

import functools
import json
from typing import Any

import falcon
from falcon.media import BaseHandler

from libs.http.encoding import json_default

_NOT_JSON = "The body is not valid UTF-8 JSON."


class JsonMedia(BaseHandler):
    """Falcon's media handler for ``application/json`` with a body cap of ``max_bytes``:
    a larger ``Content-Length`` is refused with 413 before a byte is read, and a body without
    one is read only up to the cap."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._dumps = functools.partial(json.dumps, default=json_default)

    def _too_large(self) -> falcon.HTTPContentTooLarge:
        return falcon.HTTPContentTooLarge(
            title="Payload too large", description=f"A JSON body may be at most {self.max_bytes} bytes."
        )

    def deserialize(self, stream: Any, content_type: str | None, content_length: int | None) -> Any:
        if content_length is not None and content_length > self.max_bytes:
            raise self._too_large()
        data = stream.read(self.max_bytes + 1)
        if len(data) > self.max_bytes:
            raise self._too_large()
        if not data:
            raise falcon.HTTPBadRequest(title="Bad request", description="The body is empty; send a JSON object.")
        try:
            return json.loads(data.decode("utf-8"))
        except (ValueError, RecursionError):
            # ValueError covers bad syntax, bad UTF-8 and integers too long to convert;
            # RecursionError, nesting deeper than the parser's stack allows
            raise falcon.HTTPBadRequest(title="Bad request", description=_NOT_JSON) from None

    def serialize(self, media: object, content_type: str | None) -> bytes:
        return self._dumps(media).encode()
