"""Logging: one JSON object per line in production, readable lines elsewhere.

The request id lives in a context variable so that every line logged while a request is
handled carries it, whichever module logs.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from datetime import UTC, datetime

from libs.platform.settings import Settings

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

# Attributes passed with ``extra=`` that belong in the log object.
_FIELDS = ("method", "path", "status", "latency_ms", "tenant", "detail")


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "event": record.getMessage(),
            "service": self.service,
            "logger": record.name,
        }
        request_id = request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        for name in _FIELDS:
            if hasattr(record, name):
                entry[name] = getattr(record, name)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__("%(asctime)s %(levelname)-7s " + service + " %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = " ".join(f"{n}={getattr(record, n)}" for n in _FIELDS if hasattr(record, n))
        request_id = request_id_var.get()
        if request_id:
            extras = f"request_id={request_id} {extras}"
        return f"{line} {extras}".rstrip()


def configure_logging(settings: Settings, service: str) -> None:
    """Route every logger to stderr in the environment's format, at ``LOG_LEVEL``."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service) if settings.is_production else TextFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    # Production never emits debug output, whatever LOG_LEVEL says.
    level = settings.log_level
    if settings.is_production and level == "DEBUG":
        level = "INFO"
    root.setLevel(level)
    for noisy in ("botocore", "boto3", "urllib3", "s3transfer"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
