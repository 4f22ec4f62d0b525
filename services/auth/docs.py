"""The API's documentation: the merged OpenAPI document and a Swagger UI served locally."""

from __future__ import annotations

import json
from functools import cached_property

import falcon
from swagger_ui_bundle import swagger_ui_path

from services.openapi import document

_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Course Supporter API</title>
  <link rel="stylesheet" href="/docs/assets/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/assets/swagger-ui-bundle.js"></script>
  <script src="/docs/assets/docs-init.js"></script>
</body>
</html>
"""
# Kept out of the page so a strict Content-Security-Policy (no inline script) can apply.
_INIT = "window.ui = SwaggerUIBundle({url: '/openapi.json', dom_id: '#swagger-ui', deepLinking: true});\n"
_ASSETS = {"swagger-ui.css": "text/css", "swagger-ui-bundle.js": "application/javascript"}
_CSP = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'"


class OpenApiDocument:
    @cached_property
    def body(self) -> bytes:
        return json.dumps(document(), indent=1).encode()

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = falcon.MEDIA_JSON
        resp.data = self.body


class SwaggerPage:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = falcon.MEDIA_HTML
        resp.set_header("Content-Security-Policy", _CSP)
        resp.text = _PAGE


class SwaggerAsset:
    """Swagger UI's own files from the swagger-ui-bundle wheel: no CDN involved."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        if name == "docs-init.js":
            resp.content_type = "application/javascript"
            resp.text = _INIT
            return
        if name not in _ASSETS:
            raise falcon.HTTPNotFound(title="Not found", description="No such documentation asset.")
        resp.content_type = _ASSETS[name]
        resp.cache_control = ["public", "max-age=86400"]
        resp.stream = (swagger_ui_path / name).open("rb")
