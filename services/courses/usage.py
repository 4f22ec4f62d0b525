"""``GET /api/v1/usage``: what the tenant used this month: its LLM spend against its budget, by
action, and its requests by scope (let through and refused by the rate limit)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, ClassVar

import falcon
import redis
from psycopg_pool import ConnectionPool

from libs.access import ratelimit
from libs.access.auth import tenant_of
from libs.http.openapi import Operations, json_content, ref
from libs.llm import budget, calls

_NUMBER = {"type": "number", "minimum": 0}
_NULLABLE_NUMBER = {**_NUMBER, "nullable": True}
_COUNTS = {
    "type": "object",
    "properties": {"requests": {"type": "integer", "minimum": 0}, "limited": {"type": "integer", "minimum": 0}},
    "required": ["requests", "limited"],
}


def _obj(properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(properties)}


SCHEMAS = {
    "Usage": _obj(
        {
            "month": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$", "description": "The calendar month, UTC"},
            "llm": _obj(
                {
                    "limit_usd": {**_NULLABLE_NUMBER, "description": "This month's budget; null: none"},
                    "spent_usd": _NUMBER,
                    "remaining_usd": _NULLABLE_NUMBER,
                    "resets_at": {"type": "string", "format": "date-time"},
                    "by_action": {
                        "type": "array",
                        "items": _obj(
                            {"action": {"type": "string"}, "calls": {"type": "integer"}, "cost_usd": _NUMBER}
                        ),
                    },
                }
            ),
            "requests": {
                "type": "object",
                "additionalProperties": _COUNTS,
                "description": "By scope (prep, check): requests let through, and refused by the rate limit (429)",
            },
            "requests_counted": {"type": "boolean", "description": "false when Redis could not be read"},
        }
    ),
}


class Usage:
    openapi: ClassVar[Operations] = {
        "GET": {
            "summary": "This month's LLM spend against the budget, by action, and requests by scope",
            "responses": {"200": {"description": "The month's usage", "content": json_content(ref("Usage"))}},
        }
    }

    def __init__(
        self, pool: ConnectionPool | None, redis_client: redis.Redis | None, default_budget_usd: Decimal
    ) -> None:
        self._pool = pool
        self._redis = redis_client
        self._default = default_budget_usd

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        tenant = tenant_of(req)
        month_start = datetime.now(UTC).date().replace(day=1)
        with self._pool.connection() as conn:
            state = budget.of(conn, tenant, self._default)
            report = calls.cost_report(conn, tenant, month_start, None)
        try:
            requests, counted = ratelimit.request_counts(self._redis, tenant, f"{month_start:%Y-%m}"), True
        except redis.RedisError:  # the counts are Redis's; the spend above is still worth answering
            requests, counted = {}, False
        resp.media = {
            "month": f"{month_start:%Y-%m}",
            "llm": {
                **state.as_dict(),
                "by_action": [
                    {"action": row["action"], "calls": row["calls"], "cost_usd": row["cost_usd"]}
                    for row in report["by_action"]
                ],
            },
            "requests": requests,
            "requests_counted": counted,
        }
