"""A material as the API shows it: the schema the uploads service answers with and the course
document lists. Its vocabularies are the table owner's (:mod:`libs.store.materials`)."""

from __future__ import annotations

from typing import Any

from libs.store.materials import SOURCE_TYPES, STATUSES

_NULLABLE_STRING = {"type": "string", "nullable": True}
_TIMESTAMP = {"type": "string", "format": "date-time"}
MATERIAL_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "course_id": {"type": "string", "format": "uuid"},
        "source_type": {"type": "string", "enum": list(SOURCE_TYPES)},
        "source_url": _NULLABLE_STRING,
        "filename": _NULLABLE_STRING,
        "content_type": _NULLABLE_STRING,
        "size_bytes": {"type": "integer", "nullable": True},
        "sha256": {**_NULLABLE_STRING, "description": "SHA-256 of the stored file, in hex (none for a web page)"},
        "status": {"type": "string", "enum": list(STATUSES)},
        "error_message": _NULLABLE_STRING,
        "section": {**_NULLABLE_STRING, "description": "The author's section: a run makes a module of each"},
        "position": {"type": "integer", "nullable": True, "description": "Its place among the course's materials"},
        "created_at": _TIMESTAMP,
        "updated_at": _TIMESTAMP,
        "job_id": {"type": "string", "format": "uuid", "nullable": True, "description": "Its ingestion job"},
    },
    "required": [
        "id",
        "course_id",
        "source_type",
        "source_url",
        "filename",
        "content_type",
        "size_bytes",
        "sha256",
        "status",
        "error_message",
        "section",
        "position",
        "created_at",
        "updated_at",
        "job_id",
    ],
}
