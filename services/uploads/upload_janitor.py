"""What a failed upload or a delete left in S3, cleaned up: one janitor thread per uploads process.

Three kinds of leftovers:
- an upload that failed because S3 went away cannot abort itself then: :meth:`abort_later`
  takes it and retries with backoff until S3 answers (for at most :data:`GIVE_UP_AFTER`; past
  that, the sweep's turn);
- a process that died mid-upload aborts nothing: :meth:`sweep`, at start and every few
  minutes, aborts whatever under the prefix is older than an upload may run;
- a direct upload never completed: :meth:`end_expired_uploads`, with the sweep, ends those
  whose URLs expired (their parts or object, row and reserved bytes go);
- a deleted material's or course's stored files wait in the deletion outbox
  (:mod:`libs.store.material_objects`) when S3 refused them: :meth:`drain_deletions` deletes
  them, every few seconds while any is due.

Each failure is logged (the first, then once a minute while it lasts), never swallowed. The
thread is a daemon: it ends with the process, or earlier with :meth:`stop`.
"""

from __future__ import annotations

import datetime
import logging
import threading
import time
from collections.abc import Callable, Iterator

import psycopg
from botocore.exceptions import BotoCoreError, ClientError
from psycopg_pool import ConnectionPool

from libs.platform.storage import Storage
from libs.store import material_objects, material_uploads, materials
from services.uploads.multipart_upload import abort_upload

log = logging.getLogger(__name__)

SWEEP_EVERY = 300.0
# Retries start fast: S3 usually returns within seconds, and an attempt against a stopped
# endpoint costs a refused connection. They back off to LONGEST_RETRY, and an abort still
# failing after GIVE_UP_AFTER is left to the sweep, which finds every upload older than an
# upload may run.
FIRST_RETRY = 0.5
LONGEST_RETRY = 2.0
GIVE_UP_AFTER = 3600.0
# A multipart upload whose creation S3 never answered may exist all the same (the request sat
# in a frozen S3's socket and was carried out when it woke): its key is watched this long, and
# every open upload of it aborted.
LOST_ANSWER_SECONDS = 60.0
# The deletion outbox is looked at this often (each retry of a key backs off on its own, in
# the table); one indexed query per uploads process.
DRAIN_EVERY = 2.0
WARN_EVERY = 60.0
_FAILURES = (BotoCoreError, ClientError, RuntimeError, psycopg.Error)


class UploadJanitor:
    def __init__(
        self,
        storage: Storage,
        *,
        prefix: str,
        stale_after: float,
        pool: ConnectionPool | None = None,
        end_upload: Callable[[dict], None] | None = None,
        sweep_every: float = SWEEP_EVERY,
        drain_every: float = DRAIN_EVERY,
    ) -> None:
        self._storage = storage
        self._end_upload = end_upload  # DirectUploads.end: how an upload that will not complete ends
        self._prefix = prefix
        self._stale_after = datetime.timedelta(seconds=stale_after)
        self._pool = pool
        self._sweep_every = sweep_every
        self._drain_every = drain_every
        # (key, upload id, or None: any upload of the key) → when it was handed over
        self._pending: dict[tuple[str, str | None], float] = {}
        # (tenant, material id, key) of stored files whose material's commit went unanswered
        self._unsure: dict[tuple[str, str, str], float] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._warned_at: dict[str, float] = {}
        self._thread = threading.Thread(target=self._run, name="upload-janitor", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._wake.set()

    def abort_later(self, key: str, upload_id: str | None) -> None:
        """Abort this upload as soon as S3 answers (its own abort just failed); with no
        ``upload_id`` (its creation was never answered), every upload of ``key`` that turns
        up within :data:`LOST_ANSWER_SECONDS`."""
        log.warning("could not abort the upload of %s; retrying in the background", key)
        with self._lock:
            self._pending.setdefault((key, upload_id), time.monotonic())
        self._wake.set()

    def delete_unless_recorded(self, tenant_id: str, material_id: str, key: str) -> None:
        """Delete the stored file at ``key`` once the database answers and says its material
        was not recorded: the commit that would have recorded it got no answer."""
        log.warning("the material %s may not have been recorded; its file waits for the database", material_id)
        with self._lock:
            self._unsure.setdefault((tenant_id, material_id, key), time.monotonic())
        self._wake.set()

    def _settle_unsure(self) -> bool:
        """Decide each file whose material's commit went unanswered; whether none is left."""
        if self._pool is None:
            return True
        with self._lock:
            unsure = list(self._unsure.items())
        for (tenant_id, material_id, key), since in unsure:
            try:
                with self._pool.connection() as conn:
                    recorded = materials.exists(conn, tenant_id, material_id)
                if not recorded:
                    self._storage.delete_objects([key])
                    log.info("deleted the file of material %s, which was not recorded", material_id)
            except _FAILURES as exc:
                if time.monotonic() - since <= GIVE_UP_AFTER:
                    self._warn("unsure", f"files of {len(unsure)} unanswered uploads wait: {exc}")
                    return False
                log.error("gave up deciding the file %s after %.0f s: %s", key, GIVE_UP_AFTER, exc)
            with self._lock:
                self._unsure.pop((tenant_id, material_id, key), None)
        return True

    def sweep(self, now: datetime.datetime | None = None) -> int:
        """Abort every multipart upload under the prefix initiated longer ago than an upload
        may stream; return how many. Younger ones may still be streaming: they are left."""
        cutoff = (now or datetime.datetime.now(datetime.UTC)) - self._stale_after
        aborted = 0
        for upload in self._open_uploads():
            if upload["Initiated"] < cutoff:
                abort_upload(self._storage, upload["Key"], upload["UploadId"])
                log.warning("aborted the abandoned upload of %s, started %s", upload["Key"], upload["Initiated"])
                aborted += 1
        return aborted

    def end_expired_uploads(self) -> int:
        """End the direct uploads whose URLs expired and that were never completed; how many."""
        if self._pool is None or self._end_upload is None:
            return 0
        ended = 0
        while True:
            with self._pool.connection() as conn:
                expired = material_uploads.expired(conn)
            for row in expired:
                self._end_upload(row)
                log.info("ended the expired direct upload %s (%s)", row["id"], row["s3_key"])
            ended += len(expired)
            if not expired:
                return ended

    def drain_deletions(self) -> int:
        """Delete the stored files the deletion outbox holds due; how many went."""
        if self._pool is None:
            return 0
        total = 0
        while (deleted := material_objects.drain(self._pool, self._storage)) > 0:
            total += deleted
        if total:
            log.info("deleted %d stored files of deleted materials", total)
        return total

    def _open_uploads(self, prefix: str | None = None) -> Iterator[dict]:
        request = {"Bucket": self._storage.bucket, "Prefix": prefix or self._prefix}
        while True:
            page = self._storage.client.list_multipart_uploads(**request)
            yield from page.get("Uploads", [])
            if not page.get("IsTruncated"):
                return
            request.update(KeyMarker=page["NextKeyMarker"], UploadIdMarker=page["NextUploadIdMarker"])

    def _retry_pending(self) -> bool:
        """Try each pending abort once; whether none is left."""
        with self._lock:
            pending = list(self._pending.items())
        watching = False
        for (key, upload_id), since in pending:
            try:
                if upload_id is None:
                    for upload in self._open_uploads(prefix=key):
                        if upload["Key"] == key:
                            abort_upload(self._storage, key, upload["UploadId"])
                            log.warning("aborted an upload of %s whose creation was never answered", key)
                    if time.monotonic() - since < LOST_ANSWER_SECONDS:
                        watching = True
                        continue
                else:
                    abort_upload(self._storage, key, upload_id)
            except _FAILURES as exc:
                if time.monotonic() - since > GIVE_UP_AFTER:
                    log.error(
                        "gave up aborting the upload of %s after %.0f s (the sweep takes it): %s",
                        key,
                        GIVE_UP_AFTER,
                        exc,
                    )
                    self._forget(key, upload_id)
                    continue
                self._warn("abort", f"aborts of {len(pending)} uploads still fail, retrying: {exc}")
                return False
            self._forget(key, upload_id)
            if upload_id is not None:
                log.info("aborted the upload of %s once S3 answered", key)
        return not watching

    def _forget(self, key: str, upload_id: str | None) -> None:
        with self._lock:
            self._pending.pop((key, upload_id), None)

    def _warn(self, what: str, message: str) -> None:
        """Log a lasting failure when it starts, then once a minute: never silently, never a flood."""
        now = time.monotonic()
        if now - self._warned_at.get(what, float("-inf")) >= WARN_EVERY:
            self._warned_at[what] = now
            log.warning("upload janitor: %s", message)

    def _run(self) -> None:
        delay, next_sweep, next_drain = FIRST_RETRY, time.monotonic(), time.monotonic()  # both at start
        while not self._stopped.is_set():
            self._wake.clear()
            aborted, settled = self._retry_pending(), self._settle_unsure()
            if aborted and settled:
                delay, wait = FIRST_RETRY, None
            else:
                wait, delay = delay, min(delay * 2, LONGEST_RETRY)
            now = time.monotonic()
            if now >= next_drain:
                try:
                    self.drain_deletions()
                except _FAILURES as exc:
                    self._warn("drain", f"stored files of deleted materials wait for S3 or the database: {exc}")
                next_drain = time.monotonic() + self._drain_every
            if now >= next_sweep:
                try:
                    self.end_expired_uploads()
                    self.sweep()
                except _FAILURES as exc:
                    log.warning("the sweep of abandoned uploads failed (%s); next in %.0f s", exc, self._sweep_every)
                next_sweep = time.monotonic() + self._sweep_every
            until_next = max(0.0, min(next_sweep, next_drain) - time.monotonic())
            self._wake.wait(until_next if wait is None else min(wait, until_next))
