"""The uploads service's app, built from what it is given."""

from __future__ import annotations

import weakref

import falcon
import redis
from psycopg_pool import ConnectionPool

from libs.http.app import build_app
from libs.platform.settings import Settings
from libs.platform.storage import Storage
from libs.store import material_objects
from services.uploads.direct_upload import DirectUploads
from services.uploads.multipart_upload import stale_after_seconds
from services.uploads.routes import MATERIALS, routes
from services.uploads.upload_janitor import UploadJanitor


def create_app(settings: Settings, *, pool: ConnectionPool, redis_client: redis.Redis, storage: Storage) -> falcon.App:
    # This process's janitor: it aborts the uploads S3 was not there to abort, sweeps up those
    # a dead process left open, and deletes the stored files of deleted materials S3 refused.
    direct = DirectUploads(
        pool, storage, max_upload_bytes=settings.max_upload_bytes, default_quota=settings.storage_quota_bytes
    )
    janitor = UploadJanitor(
        storage,
        prefix=material_objects.ROOT_PREFIX,
        stale_after=stale_after_seconds(settings.max_upload_bytes),
        pool=pool,
        end_upload=direct.end,
    )
    table = routes(
        pool,
        storage,
        redis_client,
        max_upload_bytes=settings.max_upload_bytes,
        uploads_per_tenant=settings.max_concurrent_uploads_per_tenant,
        janitor=janitor,
        default_quota=settings.storage_quota_bytes,
        direct=direct,
    )
    app = build_app(settings, service="uploads", routes=table, pool=pool, redis_client=redis_client, storage=storage)
    janitor.start()
    # Its thread ends with the process (a daemon thread), or with the app when a test drops
    # it: falcon.App takes no weak reference, so the materials resource, which the app holds
    # and which hands the janitor its work, stands for it.
    collection = next(route.resource for route in table if route.path == MATERIALS)
    weakref.finalize(collection, janitor.stop)
    return app
