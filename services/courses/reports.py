"""The tenant's LLM spend from ``llm_calls``: totals and breakdowns, in one grouped query."""

from __future__ import annotations

from datetime import date

import psycopg

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
