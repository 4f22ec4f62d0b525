"""The one owner of ``llm_calls``: every LLM request, success or failure, with its cost."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import psycopg


@dataclass(frozen=True)
class Call:
    """One request to one model. ``tenant_id`` and ``job_id`` may be None (a call outside a
    tenant's job); ``prompt_version`` names the prompt's revision."""

    tenant_id: str | None
    job_id: str | None
    action: str
    strategy: str
    provider: str
    model: str
    prompt_version: str | None
    tokens_in: int
    tokens_out: int
    latency_ms: int
    cost_usd: Decimal
    success: bool
    error: str | None = None


# The job may be gone (its course deleted while the call ran): the call is still spent and
# still counted, with no job to point to, rather than lost to a foreign-key error.
_INSERT = """
INSERT INTO llm_calls (tenant_id, job_id, action, strategy, provider, model, prompt_version,
                       tokens_in, tokens_out, latency_ms, cost_usd, success, error)
VALUES (%(tenant_id)s, (SELECT id FROM jobs WHERE id = %(job_id)s), %(action)s, %(strategy)s, %(provider)s,
        %(model)s, %(prompt_version)s, %(tokens_in)s, %(tokens_out)s, %(latency_ms)s, %(cost_usd)s,
        %(success)s, %(error)s)
"""


def record(conn: psycopg.Connection, call: Call) -> None:
    """Write ``call`` to ``llm_calls`` (the cost report reads it); the error is cut to 2000
    characters, enough for any provider's message."""
    conn.execute(
        _INSERT,
        {
            "tenant_id": call.tenant_id,
            "job_id": call.job_id,
            "action": call.action,
            "strategy": call.strategy,
            "provider": call.provider,
            "model": call.model,
            "prompt_version": call.prompt_version,
            "tokens_in": call.tokens_in,
            "tokens_out": call.tokens_out,
            "latency_ms": call.latency_ms,
            "cost_usd": call.cost_usd,
            "success": call.success,
            "error": call.error[:2000] if call.error else None,
        },
    )
