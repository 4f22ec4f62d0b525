"""A tenant's monthly LLM budget: its limit (``tenants.llm_budget_usd``, or the setting's
default), this month's spend summed from ``llm_calls``, and the refusal once it is spent.
Months are calendar months in UTC; the spend resets at the first instant of the next."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import psycopg

from libs.errors import BudgetExceeded, NotFound
from libs.platform.settings import MAX_USD

_STATE = """
SELECT coalesce(t.llm_budget_usd, %(default)s),
       (SELECT coalesce(sum(cost_usd), 0) FROM llm_calls
         WHERE tenant_id = t.id AND created_at >= date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'),
       (date_trunc('month', now() AT TIME ZONE 'UTC') + interval '1 month') AT TIME ZONE 'UTC'
  FROM tenants t WHERE t.id = %(tenant)s
"""
_SET = "UPDATE tenants SET llm_budget_usd = %s WHERE id = %s"


@dataclass(frozen=True)
class Budget:
    """This month's state: ``limit_usd`` None when there is none."""

    limit_usd: Decimal | None
    spent_usd: Decimal
    resets_at: datetime

    @property
    def spent(self) -> bool:
        return self.limit_usd is not None and self.spent_usd >= self.limit_usd

    def as_dict(self) -> dict:
        limit = None if self.limit_usd is None else float(self.limit_usd)
        return {
            "limit_usd": limit,
            "spent_usd": round(float(self.spent_usd), 6),
            "remaining_usd": None if limit is None else max(0.0, round(limit - float(self.spent_usd), 6)),
            "resets_at": self.resets_at,
        }


def of(conn: psycopg.Connection, tenant_id: str, default_usd: Decimal) -> Budget:
    """The tenant's budget this month (``default_usd`` where it has none of its own)."""
    row = conn.execute(_STATE, {"tenant": tenant_id, "default": default_usd}).fetchone()
    if row is None:
        raise NotFound("No tenant with this id.")
    limit, spent, resets_at = row
    return Budget(None if limit == 0 else Decimal(limit), Decimal(spent), resets_at)


def require_room(conn: psycopg.Connection, tenant_id: str, default_usd: Decimal) -> Budget:
    """The budget, or :class:`BudgetExceeded` (402) once this month's spend has reached it."""
    budget = of(conn, tenant_id, default_usd)
    if budget.spent:
        raise BudgetExceeded(
            f"This month's LLM budget is spent (${budget.spent_usd:.2f} of ${budget.limit_usd:.2f}); it resets"
            f" at {budget.resets_at:%Y-%m-%d %H:%M} UTC.",
            details={
                "spent_usd": float(budget.spent_usd),
                "limit_usd": float(budget.limit_usd or 0),
                "resets_at": budget.resets_at.isoformat(),
            },
        )
    return budget


def set_limit(conn: psycopg.Connection, tenant_id: str, usd: Decimal | None) -> None:
    """Set the tenant's monthly limit (0: none; None: back to the setting's default)."""
    if usd is not None and not 0 <= usd <= MAX_USD:
        raise ValueError(f"a budget is 0 to {MAX_USD} USD")
    if conn.execute(_SET, (usd, tenant_id)).rowcount == 0:
        raise NotFound("No tenant with this id.")
