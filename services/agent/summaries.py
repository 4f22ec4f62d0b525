"""The one owner of ``condensed_summaries``: a material's condensed summary, kept per what made
it (services/agent/architect/condense.py's key), so a rerun, or a run after another material was
added, condenses only what it has not condensed before."""

from __future__ import annotations

from psycopg_pool import ConnectionPool

from services.agent.architect.condense import Condensed


class StoredSummaries:
    """Summaries in PostgreSQL, for the ArchitectAgent's runs."""

    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool

    def get(self, tenant_id: str, material_id: str, key: str) -> Condensed | None:
        with self._pool.connection() as conn:
            row = conn.execute(
                "SELECT block, dropped_anchors FROM condensed_summaries"
                " WHERE material_id = %s AND key = %s AND tenant_id = %s",
                (material_id, key, tenant_id),
            ).fetchone()
        return None if row is None else Condensed(row[0], dropped_anchors=row[1])

    def put(self, tenant_id: str, material_id: str, key: str, condensed: Condensed) -> None:
        with self._pool.connection() as conn:
            # a material deleted meanwhile has no summary to keep: its foreign key refuses it
            conn.execute(
                "INSERT INTO condensed_summaries (tenant_id, material_id, key, block, dropped_anchors)"
                " SELECT %s, id, %s, %s, %s FROM source_materials WHERE id = %s AND tenant_id = %s"
                " ON CONFLICT (material_id, key) DO NOTHING",
                (tenant_id, key, condensed.block, condensed.dropped_anchors, material_id, tenant_id),
            )
