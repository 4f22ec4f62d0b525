"""Ingesting one material: read its file from S3 (or fetch its URL), extract its document of
typed chunks, store it, and move the material pending → processing → done or error."""

from __future__ import annotations

import contextlib
import logging
import tempfile
import threading
from collections import Counter
from collections.abc import Callable
from functools import partial
from pathlib import Path

import psycopg
from botocore.exceptions import BotoCoreError, ClientError
from psycopg_pool import ConnectionPool

from libs.errors import NotFound
from libs.jobs import queue
from libs.platform.settings import Settings
from libs.platform.storage import Storage
from libs.store import material_objects, materials
from libs.webhooks import events
from services.agent import documents
from services.agent.documents import Chunk
from services.agent.processors import files, isolation
from services.agent.processors.errors import SourceUnavailable, UnreadableMaterial

log = logging.getLogger(__name__)

# The longest reading one material may take (its child process is killed past it): a document
# is read in seconds; a three-hour recording is cut and transcribed piece by piece, each within
# the transcription's own timeouts.
READ_SECONDS = {"text": 300, "presentation": 600, "web": 300, "video": 4 * 3600}


class Ingestion:
    """The ``ingest_material`` job handler; ``failed`` is the queue's ``on_failed`` hook."""

    def __init__(self, settings: Settings, pool: ConnectionPool, storage: Storage) -> None:
        self._settings = settings
        self._pool = pool
        self._storage = storage

    def __call__(self, job: queue.Job, progress: Callable[[str, int], None]) -> dict:
        tenant, material_id = job.tenant_id, str(job.material_id or job.payload["material_id"])
        with self._pool.connection() as conn:
            try:
                material = materials.load(conn, tenant, material_id)
            except NotFound:
                raise queue.Permanent("the material was deleted before it could be read") from None
            materials.set_status(conn, tenant, material_id, "processing")
        try:
            chunks = self._extract(material, progress)
        except isolation.Cancelled:
            raise queue.LeaseLost(f"the material of job {job.id} was deleted while it was read") from None
        except UnreadableMaterial as exc:
            raise queue.Permanent(str(exc)) from None
        except SourceUnavailable as exc:
            raise queue.Transient(str(exc)) from None
        except (BotoCoreError, ClientError) as exc:
            log.warning("could not read material %s from storage: %s", material_id, exc)
            raise queue.Transient("the stored file could not be read; it will be tried again") from None
        progress("storing", 90)
        with self._pool.connection() as conn, conn.transaction():
            queue.hold(conn, job)  # a run that lost its job writes nothing
            stored = documents.replace(conn, tenant, material_id, chunks)
            materials.set_status(conn, tenant, material_id, "done")
            summary = {"chunks": stored, "kinds": dict(Counter(chunk.kind for chunk in chunks))}
            _emit(conn, job, material_id, "material.processed", summary=summary)
        return summary

    def _extract(self, material: dict, progress: Callable[[str, int], None]) -> list[Chunk]:
        # web (requests, trafilatura) and transcription (openai) load on first use, as the
        # file readers do (processors/files.py)
        seconds = READ_SECONDS[material["source_type"]]
        if material["source_type"] == "web":
            from services.agent.processors import web

            progress("fetching", 20)
            return isolation.read(
                web.fetch_page, material["source_url"], self._settings, seconds=seconds, cancel=_cancel_of(progress)
            )
        with tempfile.TemporaryDirectory(prefix="ingest-") as workdir:
            # streamed to disk by boto3 in parts: a 1 GiB video never sits in memory
            path = Path(workdir) / material_objects.safe_name(material["filename"] or "file")
            progress("downloading", 10)
            self._storage.client.download_file(self._storage.bucket, material["s3_key"], str(path))
            progress("extracting", 40)
            from services.agent.processors import transcription

            return isolation.read(
                files.extract_file,
                material["source_type"],
                material["filename"] or path.name,
                path,
                transcribe=partial(transcription.transcribe, settings=self._settings),
                seconds=seconds,
                cancel=_cancel_of(progress),
            )

    def failed(self, job: queue.Job, message: str) -> None:
        """The job ended failed: its material shows why (a structure job has no material)."""
        if job.kind != "ingest_material":
            return
        material_id = str(job.material_id or job.payload.get("material_id"))
        # a material deleted meanwhile has nothing left to mark
        with self._pool.connection() as conn, contextlib.suppress(NotFound), conn.transaction():
            materials.set_status(conn, job.tenant_id, material_id, "error", message)
            _emit(conn, job, material_id, "material.failed", error=message)


def _cancel_of(progress: Callable[[str, int], None]) -> threading.Event | None:
    """The runner's signal that the job was called off (its Progress's ``lost``), if any."""
    return getattr(progress, "lost", None)


def _emit(conn: psycopg.Connection, job: queue.Job, material_id: str, event_type: str, **outcome: object) -> None:
    data = {"material_id": material_id, "course_id": job.course_id, "job_id": job.id, **outcome}
    events.emit(conn, job.tenant_id, event_type, about=f"material:{material_id}", data=data)
