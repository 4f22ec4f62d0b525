"""Streaming bytes of unknown length into one S3 object through a multipart upload.

Memory stays bounded whatever the object's size: one part being filled plus at most
``in_flight`` parts being sent, while the caller keeps reading its source. Any failure, or
``abort()``, aborts the upload on S3 so no part is left behind; :func:`abort_upload` is the
one place an upload is aborted (see also :mod:`services.uploads.upload_janitor`).
"""

from __future__ import annotations

import hashlib
import threading
from concurrent.futures import Future, ThreadPoolExecutor

from botocore.exceptions import ClientError

from libs.platform.storage import Storage
from libs.store.material_uploads import SETTLE_SECONDS

PART_SIZE = 8 * 1024 * 1024  # S3's minimum is 5 MiB for every part but the last

# How long an upload may stream. Neither the gateway nor gunicorn bounds it: nginx's
# client_body_timeout (20 s) and proxy_send_timeout limit one pause between two reads or
# writes, not the whole body, and gunicorn's timeout is a worker's heartbeat, not a
# request's. So the bound is the largest file at the slowest throughput we serve, 256 KiB/s
# (a poor 2 Mbit/s uplink): 68 minutes for 1 GiB, never under 10 minutes. The uploads
# service cuts an upload that runs longer (408), which is what makes it safe for the sweep
# to abort any multipart upload older than ``stale_after_seconds``: it can no longer be
# streaming.
MIN_THROUGHPUT = 256 * 1024
MIN_UPLOAD_SECONDS = 600


def longest_upload_seconds(max_upload_bytes: int) -> float:
    """The longest an upload of at most ``max_upload_bytes`` may stream."""
    return max(MIN_UPLOAD_SECONDS, max_upload_bytes / MIN_THROUGHPUT)


def stale_after_seconds(max_upload_bytes: int) -> float:
    """The age past which an open multipart upload can only be an abandoned one."""
    return longest_upload_seconds(max_upload_bytes) + SETTLE_SECONDS


def abort_upload(storage: Storage, key: str, upload_id: str) -> None:
    """Abort a multipart upload, dropping its parts. One S3 no longer knows (aborted before,
    by another process's sweep or an earlier attempt whose answer was lost) is done already;
    any other failure raises."""
    try:
        storage.client.abort_multipart_upload(Bucket=storage.bucket, Key=key, UploadId=upload_id)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "NoSuchUpload":
            raise


class MultipartWriter:
    def __init__(
        self, storage: Storage, key: str, content_type: str, *, part_size: int = PART_SIZE, in_flight: int = 3
    ) -> None:
        self._storage = storage
        self.key = key
        self._part_size = part_size
        # The part being filled, allocated at its final size and handed to S3 as it is: a byte
        # is copied once, from the request into its part.
        self._part = bytearray(part_size)
        self._filled = 0
        self.size = 0
        # hashed on the way through, so a duplicate is known without reading the object back
        self._digest = hashlib.sha256()
        self._parts: list[Future] = []
        self._slots = threading.Semaphore(in_flight)
        self._pool = ThreadPoolExecutor(max_workers=in_flight, thread_name_prefix="s3-part")
        self._upload_id = storage.client.create_multipart_upload(
            Bucket=storage.bucket, Key=key, ContentType=content_type
        )["UploadId"]
        self._finished = False

    @property
    def upload_id(self) -> str:
        return self._upload_id

    @property
    def finished(self) -> bool:
        """Completed (the object exists) or aborted."""
        return self._finished

    @property
    def sha256(self) -> str:
        """The hex SHA-256 of what was written so far."""
        return self._digest.hexdigest()

    def write(self, data: bytes) -> None:
        self.size += len(data)
        self._digest.update(data)
        with memoryview(data) as view:
            while view:
                room = self._part_size - self._filled
                taken = view[:room]
                self._part[self._filled : self._filled + len(taken)] = taken
                self._filled += len(taken)
                view = view[len(taken) :]
                if self._filled == self._part_size:
                    self._send(self._part)
                    self._part, self._filled = bytearray(self._part_size), 0

    def _send(self, data: bytearray) -> None:
        self._raise_failed_part()
        self._slots.acquire()  # blocks the reader while `in_flight` parts are on the wire
        number = len(self._parts) + 1
        future = self._pool.submit(self._upload_part, number, data)
        future.add_done_callback(lambda _: self._slots.release())
        self._parts.append(future)

    def _upload_part(self, number: int, data: bytearray) -> dict:
        answer = self._storage.client.upload_part(
            Bucket=self._storage.bucket, Key=self.key, UploadId=self._upload_id, PartNumber=number, Body=data
        )
        return {"PartNumber": number, "ETag": answer["ETag"]}

    def _raise_failed_part(self) -> None:
        for future in self._parts:
            if future.done() and future.exception() is not None:
                raise future.exception()

    def complete(self) -> int:
        """Send what is buffered, wait for every part and make the object; return its size."""
        if self._filled or not self._parts:
            del self._part[self._filled :]
            self._send(self._part)
            self._part, self._filled = bytearray(), 0
        parts = [future.result() for future in self._parts]
        self._storage.patient.complete_multipart_upload(
            Bucket=self._storage.bucket, Key=self.key, UploadId=self._upload_id, MultipartUpload={"Parts": parts}
        )
        self._finished = True
        self._pool.shutdown()
        return self.size

    def abort(self) -> None:
        """Drop every part sent so far; safe to call more than once."""
        if self._finished:
            return
        self._finished = True
        self._part = bytearray()
        self._pool.shutdown(wait=True, cancel_futures=True)
        abort_upload(self._storage, self.key, self._upload_id)
