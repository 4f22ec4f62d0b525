"""One rule each for what every service receives, applied in the app factory:

- a path's integer has one spelling: ASCII digits, no sign, no leading zero. Falcon's ``int``
  converter reads with ``int()``, which takes "+1", "01" and U+0661 (an Arabic-Indic one) for 1,
  so four paths named one version;
- a path and a query string are UTF-8: Falcon decodes what is not with U+FFFD in its place,
  so a malformed byte silently became another value. They are a 400 instead;
- ``OPTIONS`` (outside a CORS preflight, which :class:`libs.http.middleware.Cors` answers)
  is 204 with ``Allow`` and no body, not a 200 whose empty body claims to be JSON.
"""

from __future__ import annotations

import re
from urllib.parse import unquote_to_bytes

import falcon
from falcon.routing.converters import IntConverter

_CANONICAL_INTEGER = re.compile(r"0|[1-9][0-9]*")


class CanonicalIntConverter(IntConverter):
    """Falcon's ``int`` converter (with its ``min``/``max``/``num_digits``), for the one
    spelling of a number only."""

    def convert(self, value: str) -> int | None:
        if not _CANONICAL_INTEGER.fullmatch(value):
            return None
        return super().convert(value)


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


class RequestRules:
    """The middleware half: UTF-8 paths and query strings, and a bodiless ``OPTIONS``."""

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        # PEP 3333: PATH_INFO holds the request's bytes, percent-decoded, as latin-1
        path = req.env.get("PATH_INFO", "").encode("latin-1", "replace")
        if not _is_utf8(path):
            raise falcon.HTTPBadRequest(title="Bad request", description="The request path is not valid UTF-8.")
        query = unquote_to_bytes(req.env.get("QUERY_STRING", "").replace("+", " "))
        if not _is_utf8(query):
            raise falcon.HTTPBadRequest(title="Bad request", description="The query string is not valid UTF-8.")

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: object, req_succeeded: bool
    ) -> None:
        if req.method == "OPTIONS" and resp.status_code == 200 and not resp.data and resp.text is None:
            resp.status = falcon.HTTP_204
            resp.content_type = None
            # Falcon's Allow lists the route's responders; OPTIONS is served too, as a 405 says
            allowed = resp.get_header("Allow")
            if allowed and "OPTIONS" not in allowed:
                resp.set_header("Allow", f"{allowed}, OPTIONS")


def apply(app: falcon.App) -> None:
    """Install the converter; call before any route is added (the middleware goes in the
    app's list: :class:`RequestRules`)."""
    app.router_options.converters["int"] = CanonicalIntConverter
