"""What the API shows of a job: the schema of ``GET /api/v1/jobs/{id}`` (the columns are
:mod:`libs.jobs.queue`'s)."""

from __future__ import annotations

from typing import Any

from libs.jobs.queue import KINDS, STATUSES

_NULLABLE_STRING = {"type": "string", "nullable": True}
_NULLABLE_UUID = {"type": "string", "format": "uuid", "nullable": True}
_TIMESTAMP = {"type": "string", "format": "date-time"}
_NULLABLE_TIMESTAMP = {"type": "string", "format": "date-time", "nullable": True}
JOB_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "kind": {"type": "string", "enum": list(KINDS)},
        "status": {"type": "string", "enum": list(STATUSES)},
        "stage": {**_NULLABLE_STRING, "description": "What a running job is doing now"},
        "progress": {"type": "integer", "minimum": 0, "maximum": 100, "description": "Percent of the current run"},
        "attempts": {"type": "integer", "minimum": 0, "description": "Runs started so far"},
        "max_attempts": {"type": "integer", "minimum": 1},
        "course_id": _NULLABLE_UUID,
        "material_id": _NULLABLE_UUID,
        "error": {**_NULLABLE_STRING, "description": "Why the last run failed, in plain words"},
        "result": {"type": "object", "nullable": True},
        "created_at": _TIMESTAMP,
        "started_at": _NULLABLE_TIMESTAMP,
        "finished_at": _NULLABLE_TIMESTAMP,
        "updated_at": _TIMESTAMP,
        "run_after": {**_TIMESTAMP, "description": "When a queued job is due (later than now while it backs off)"},
    },
}
JOB_SCHEMA["required"] = list(JOB_SCHEMA["properties"])
