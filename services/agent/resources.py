"""HTTP resources of the agent service: a job's progress, and a material's extracted document."""

from __future__ import annotations

from typing import ClassVar

import falcon
from psycopg_pool import ConnectionPool

from libs import documents, materials, queue
from libs.openapi import Operations, json_content, ref
from libs.pagination import POSITION_PARAMETERS, position_page_of, position_request


def _tenant(req: falcon.Request) -> str:
    return req.context.principal.tenant_id


class JobItem:
    """A job of the tenant: kind, status, stage, progress, attempts, timestamps, error, result."""

    openapi: ClassVar[Operations] = {
        "GET": {
            "summary": "A job's status and progress",
            "responses": {"200": {"description": "The job", "content": json_content(ref("Job"))}},
        }
    }

    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool

    def on_get(self, req: falcon.Request, resp: falcon.Response, job_id: object) -> None:
        with self._pool.connection() as conn:
            resp.media = queue.get(conn, _tenant(req), str(job_id))


class MaterialDocument:
    """The document ingestion extracted from a material, a page of chunks at a time."""

    openapi: ClassVar[Operations] = {
        "GET": {
            "summary": "The material's extracted document: typed chunks in order, paginated",
            "parameters": POSITION_PARAMETERS,
            "responses": {"200": {"description": "One page of chunks", "content": json_content(ref("DocumentPage"))}},
        }
    }

    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool

    def on_get(self, req: falcon.Request, resp: falcon.Response, course_id: object, material_id: object) -> None:
        request = position_request(req)
        tenant, material = _tenant(req), str(material_id)
        with self._pool.connection() as conn, conn.transaction():
            status = materials.get(conn, tenant, str(course_id), material)["status"]
            rows = documents.page(conn, tenant, material, after=request.after, limit=request.fetch)
            total = documents.count(conn, tenant, material)
        resp.media = {"material_id": material, "status": status, **position_page_of(rows, request, total)}
