"""The one owner of ``llm_calls``: every LLM request, success or failure, with its cost; and the
tenant's spend summed from them (the cost report the courses service serves)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
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


# --- the spend: totals and breakdowns, in one grouped query -----------------------------------

_SPEND = """
SELECT GROUPING(action) = 0, GROUPING(provider) = 0, GROUPING(model) = 0,
       action, provider, model,
       count(*), coalesce(sum(tokens_in), 0), coalesce(sum(tokens_out), 0),
       coalesce(sum(cost_usd), 0), coalesce(avg(success::int), 0)
  FROM llm_calls
 WHERE tenant_id = %(tenant)s
   AND (%(start)s::date IS NULL OR created_at >= %(start)s::date)
   AND (%(end)s::date IS NULL OR created_at < %(end)s::date + 1)
 GROUP BY GROUPING SETS ((), (action), (provider), (model))
"""


def _figures(row: tuple) -> dict:
    calls, tokens_in, tokens_out, cost, success_rate = row
    return {
        "calls": calls,
        "tokens_in": int(tokens_in),
        "tokens_out": int(tokens_out),
        "cost_usd": round(float(cost), 6),
        "success_rate": round(float(success_rate), 4),
    }


def cost_report(conn: psycopg.Connection, tenant_id: str, start: date | None, end: date | None) -> dict:
    """``start`` and ``end`` are inclusive days (UTC); the day after ``end`` is computed by
    PostgreSQL, whose calendar goes on past Python's 9999-12-31."""
    params = {"tenant": tenant_id, "start": start, "end": end}
    report = {
        "from": start,
        "to": end,
        "totals": _figures((0, 0, 0, 0, 0)),
        "by_action": [],
        "by_provider": [],
        "by_model": [],
    }
    for by_action, by_provider, by_model, action, provider, model, *figures in conn.execute(_SPEND, params):
        if by_action:
            report["by_action"].append({"action": action, **_figures(tuple(figures))})
        elif by_provider:
            report["by_provider"].append({"provider": provider, **_figures(tuple(figures))})
        elif by_model:
            report["by_model"].append({"model": model, **_figures(tuple(figures))})
        else:
            report["totals"] = _figures(tuple(figures))
    for key in ("by_action", "by_provider", "by_model"):
        report[key].sort(key=lambda entry: (-entry["cost_usd"], str(entry.get(key[3:]))))
    return report
