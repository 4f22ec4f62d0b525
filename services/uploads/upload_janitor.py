"""Multipart uploads nobody will finish, aborted, so a failed upload leaves no parts behind.

Two kinds are left open: an upload that failed because S3 went away cannot abort itself then
(:meth:`UploadJanitor.abort_later` takes it and retries until S3 answers), and a process that
died mid-upload aborts nothing (:meth:`UploadJanitor.sweep`, at start and every few minutes,
aborts whatever under the prefix is older than an upload may run). One janitor per process,
on a daemon thread: it ends with the process, or earlier with :meth:`stop`.
"""

from __future__ import annotations

import datetime
import logging
import threading
import time
from collections.abc import Iterator

from libs.platform.storage import Storage
from services.uploads.multipart_upload import abort_upload

log = logging.getLogger(__name__)

SWEEP_EVERY = 300.0
# Retries start fast and stay frequent: S3 usually returns within seconds, and an attempt
# against a stopped endpoint costs a refused connection, once a second per process at most.
FIRST_RETRY = 0.5
LONGEST_RETRY = 1.0


class UploadJanitor:
    def __init__(self, storage: Storage, *, prefix: str, stale_after: float, sweep_every: float = SWEEP_EVERY) -> None:
        self._storage = storage
        self._prefix = prefix
        self._stale_after = datetime.timedelta(seconds=stale_after)
        self._sweep_every = sweep_every
        self._pending: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="upload-janitor", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._wake.set()

    def abort_later(self, key: str, upload_id: str) -> None:
        """Abort this upload as soon as S3 answers (its own abort just failed)."""
        log.warning("could not abort the upload of %s; retrying in the background", key)
        with self._lock:
            self._pending.add((key, upload_id))
        self._wake.set()

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

    def _open_uploads(self) -> Iterator[dict]:
        request = {"Bucket": self._storage.bucket, "Prefix": self._prefix}
        while True:
            page = self._storage.client.list_multipart_uploads(**request)
            yield from page.get("Uploads", [])
            if not page.get("IsTruncated"):
                return
            request.update(KeyMarker=page["NextKeyMarker"], UploadIdMarker=page["NextUploadIdMarker"])

    def _retry_pending(self) -> bool:
        """Try each pending abort once; whether all are done."""
        with self._lock:
            pending = list(self._pending)
        for key, upload_id in pending:
            try:
                abort_upload(self._storage, key, upload_id)
            except Exception:  # S3 still away: the next round tries again
                return False
            with self._lock:
                self._pending.discard((key, upload_id))
            log.info("aborted the upload of %s once S3 answered", key)
        return True

    def _run(self) -> None:
        delay, next_sweep = FIRST_RETRY, time.monotonic()  # the first sweep at start
        while not self._stopped.is_set():
            self._wake.clear()
            if self._retry_pending():
                delay, wait = FIRST_RETRY, None
            else:
                wait, delay = delay, min(delay * 2, LONGEST_RETRY)
            if time.monotonic() >= next_sweep:
                try:
                    self.sweep()
                except Exception as exc:
                    log.warning("the sweep of abandoned uploads failed (%s); next in %.0f s", exc, self._sweep_every)
                next_sweep = time.monotonic() + self._sweep_every
            until_sweep = max(0.0, next_sweep - time.monotonic())
            self._wake.wait(until_sweep if wait is None else min(wait, until_sweep))
