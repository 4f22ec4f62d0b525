"""The public surface's OpenAPI document: every service's route table and schemas, merged.

It lives here, where the services are known, so that ``libs`` knows none of them.
"""

from __future__ import annotations

import importlib

from libs.http.openapi import ServiceDocs
from libs.http.openapi import document as merge
from libs.platform.settings import SERVICES


def document() -> dict:
    """The merged document (route tables are built without connections: only their shape is read)."""
    parts = []
    for name in SERVICES:
        module = importlib.import_module(f"services.{name}.routes")
        parts.append(ServiceDocs(name, module.routes(), getattr(module, "SCHEMAS", {})))
    return merge(parts)
