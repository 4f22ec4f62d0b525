"""JSON for values that come out of PostgreSQL."""

from __future__ import annotations

import datetime
import decimal
import uuid


def json_default(value: object) -> object:
    """``json.dumps(default=…)``: timestamps as ISO 8601, UUIDs as strings, money as numbers."""
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, decimal.Decimal):
        return float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
