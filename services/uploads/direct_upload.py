"""Direct uploads: the client PUTs a material's file straight to S3 through presigned URLs,
then completes the upload, and only then does the file become a material.

Starting an upload reserves its declared size against the tenant's quota and signs URLs for
one key under the course's prefix: one PUT for a small file, the parts of an S3 multipart
upload for a larger one, each URL for exactly its part's length (S3 refuses another length,
since the length is a signed header). Completing checks the object as the streamed path checks
a file: its size as declared, its type sniffed from its first bytes, its SHA-256 (computed
by reading it back, and compared with the declared one). Anything wrong ends the upload: the
object and its parts go, and the reservation with them. An upload never completed is ended by
the janitor once its URLs have expired.
"""

from __future__ import annotations

import datetime
import hashlib
import logging
import math
import uuid
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from psycopg_pool import ConnectionPool

from libs.errors import Conflict, Invalid, Unavailable
from libs.http.routing import API_PREFIX
from libs.platform.storage import Storage
from libs.sources import filetypes
from libs.store import courses, material_objects, material_uploads, materials, storage_usage
from libs.webhooks import events
from services.uploads import intake
from services.uploads.form import too_large
from services.uploads.multipart_upload import PART_SIZE, abort_upload, longest_upload_seconds

log = logging.getLogger(__name__)

MIB = 1024 * 1024
# Up to this size a file goes in one PUT; past it, in parts (S3 takes up to 5 GiB in one PUT,
# but a part that fails is sent again alone, and parts go in parallel).
SINGLE_PUT_MAX = 64 * MIB
MAX_PARTS = 10_000  # S3's limit
PART_URLS_PER_ANSWER = 100
# What a completion may take: reading back a 5 GiB object to hash it, at the slowest rate we
# plan for S3 to serve it (64 MiB/s); past it another completion may claim the upload.
COMPLETION_SECONDS_PER_GIB = 16
READ_SIZE = MIB


@dataclass(frozen=True)
class Plan:
    """How a file of ``size`` bytes is sent: one PUT (``part_size`` None) or ``parts`` parts."""

    size: int
    part_size: int | None

    @property
    def parts(self) -> int:
        return 1 if self.part_size is None else math.ceil(self.size / self.part_size)

    def part_length(self, number: int) -> int:
        if self.part_size is None:
            return self.size
        return min(self.part_size, self.size - (number - 1) * self.part_size)


def plan(size: int) -> Plan:
    """One PUT up to SINGLE_PUT_MAX; parts of 8 MiB past it, larger (whole MiB) when 8 MiB
    parts would be more than S3's 10 000."""
    if size <= SINGLE_PUT_MAX:
        return Plan(size, None)
    return Plan(size, max(PART_SIZE, math.ceil(size / MAX_PARTS / MIB) * MIB))


class DirectUploads:
    """Starts, lists the part URLs of, completes and ends direct uploads; see the module docstring."""

    def __init__(self, pool: ConnectionPool, storage: Storage, *, max_upload_bytes: int, default_quota: int) -> None:
        self._pool = pool
        self._storage = storage
        self._max = max_upload_bytes
        self._quota = default_quota

    # --- start ------------------------------------------------------------------------------

    def start(self, tenant_id: str, course_id: str, fields: dict[str, Any], *, allow_duplicate: bool) -> dict:
        """Reserve, sign and record an upload of ``fields`` (the request's body, validated);
        its answer with the URLs to send the file to."""
        filename, source_type, size = fields["filename"], fields["source_type"], fields["size"]
        upload_id, material_id = str(uuid.uuid4()), str(uuid.uuid4())
        key = material_objects.object_key(tenant_id, course_id, material_id, filename)
        seconds = longest_upload_seconds(size)
        sha256 = fields.get("sha256", "").lower() or None
        with self._pool.connection() as conn:
            courses.require(conn, tenant_id, course_id)  # another tenant's course: 404 before all else
            if size > self._max:
                raise too_large(self._max)
            if sha256 and not allow_duplicate:  # known before a byte is sent: refused before
                with conn.transaction():
                    materials.refuse_same_content(conn, tenant_id, course_id, sha256)
            reserve = seconds + material_uploads.SETTLE_SECONDS
            storage_usage.reserve(conn, tenant_id, upload_id, size, seconds=reserve, default=self._quota)
        how = plan(size)
        try:
            s3_upload_id = None
            if how.part_size is not None:
                s3_upload_id = self._storage.client.create_multipart_upload(
                    Bucket=self._storage.bucket,
                    Key=key,
                    ContentType=fields.get("content_type") or "application/octet-stream",
                )["UploadId"]
            expires_at = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=seconds)
            with self._pool.connection() as conn:
                row = material_uploads.create(
                    conn,
                    id=upload_id,
                    tenant_id=tenant_id,
                    course_id=course_id,
                    material_id=material_id,
                    source_type=source_type,
                    filename=filename,
                    size_bytes=size,
                    sha256=sha256,
                    section=fields.get("section"),
                    position=fields.get("position"),
                    allow_duplicate=allow_duplicate,
                    s3_key=key,
                    s3_upload_id=s3_upload_id,
                    part_size=how.part_size,
                    expires_at=expires_at,
                )
        except BaseException as exc:
            self._undo_start(tenant_id, upload_id, key, s3_upload_id)
            if isinstance(exc, (BotoCoreError, ClientError)):
                log.error("storage failed starting a direct upload to %s: %s", key, exc)
                raise Unavailable("Storage is unavailable; nothing was kept. Try again.") from None
            raise
        return self.describe(row, first_part=1)

    def _undo_start(self, tenant_id: str, upload_id: str, key: str, s3_upload_id: str | None) -> None:
        try:
            if s3_upload_id:
                abort_upload(self._storage, key, s3_upload_id)
            with self._pool.connection() as conn:
                storage_usage.release(conn, tenant_id, upload_id)
        except Exception:  # the reservation lapses, the sweep aborts the upload
            log.exception("could not undo the start of upload %s", upload_id)

    # --- describe ---------------------------------------------------------------------------

    def describe(self, row: dict, *, first_part: int, count: int = PART_URLS_PER_ANSWER) -> dict:
        """The upload as the API shows it, with the URLs of parts ``first_part`` … (at most
        ``count``) or of its one PUT, each valid until the upload expires."""
        how = Plan(row["size_bytes"], row["part_size"])
        expires_in = max(1, int((row["expires_at"] - datetime.datetime.now(datetime.UTC)).total_seconds()))
        path = f"{API_PREFIX}/courses/{row['course_id']}/materials/uploads/{row['id']}"
        answer: dict[str, Any] = {
            "id": str(row["id"]),
            "material_id": str(row["material_id"]),
            "filename": row["filename"],
            "source_type": row["source_type"],
            "size": row["size_bytes"],
            "sha256": row["sha256"],
            "expires_at": row["expires_at"],
            "method": "PUT" if how.part_size is None else "multipart",
            "complete_url": f"{path}/complete",
        }
        if how.part_size is None:
            answer["url"] = self._sign("put_object", row, how.size, expires_in)
            answer["headers"] = {"Content-Length": str(how.size)}
            return answer
        last = min(how.parts, first_part + count - 1)
        answer.update(
            part_size=how.part_size,
            part_count=how.parts,
            parts=[
                {
                    "part_number": number,
                    "size": how.part_length(number),
                    "url": self._sign(
                        "upload_part",
                        row,
                        how.part_length(number),
                        expires_in,
                        UploadId=row["s3_upload_id"],
                        PartNumber=number,
                    ),
                }
                for number in range(first_part, last + 1)
            ],
            next_part=last + 1 if last < how.parts else None,
            parts_url=f"{path}/parts",
        )
        return answer

    def _sign(self, operation: str, row: dict, length: int, expires_in: int, **params: object) -> str:
        return self._storage.presigner.generate_presigned_url(
            operation,
            Params={"Bucket": self._storage.bucket, "Key": row["s3_key"], "ContentLength": length, **params},
            ExpiresIn=expires_in,
        )

    # --- complete ---------------------------------------------------------------------------

    def complete(self, tenant_id: str, course_id: str, upload_id: str, parts: list[dict] | None) -> dict:
        """Check the uploaded object and record it as a material (pending, its ingestion
        queued); see the module docstring for what is checked and what a failure leaves."""
        with self._pool.connection() as conn:
            row = material_uploads.claim(conn, tenant_id, course_id, upload_id, self._completion_seconds())
        try:
            size, sha256, content_type = self._check_object(row, parts)
        except _NotYet as exc:
            with self._pool.connection() as conn:
                material_uploads.unclaim(conn, tenant_id, upload_id)
            raise Conflict(str(exc)) from None
        except (Invalid, Conflict):
            self.end(row)
            raise
        except (BotoCoreError, ClientError) as exc:
            with self._pool.connection() as conn:
                material_uploads.unclaim(conn, tenant_id, upload_id)
            log.error("storage failed completing upload %s: %s", upload_id, exc)
            raise Unavailable("Storage is unavailable; the upload is kept. Complete it again shortly.") from None
        try:
            with self._pool.connection() as conn, conn.transaction():
                material = intake.create_with_job(
                    conn,
                    tenant_id,
                    reservation=upload_id,
                    material_id=str(row["material_id"]),
                    course_id=course_id,
                    source_type=row["source_type"],
                    source_url=None,
                    filename=row["filename"],
                    content_type=content_type,
                    size=size,
                    key=row["s3_key"],
                    section=row["section"],
                    position=row["position"],
                    sha256=sha256,
                    allow_duplicate=row["allow_duplicate"],
                )
                material_uploads.finish(conn, tenant_id, upload_id)
                data = {
                    "upload_id": upload_id,
                    "material_id": material["id"],
                    "course_id": course_id,
                    "summary": {"size_bytes": size, "sha256": sha256},
                }
                # about the material: its upload.completed comes before its material.processed
                events.emit(conn, tenant_id, "upload.completed", about=f"material:{material['id']}", data=data)
        except Conflict:  # the same content, found only now
            self.end(row)
            raise
        return material

    def _completion_seconds(self) -> float:
        return 60 + COMPLETION_SECONDS_PER_GIB * self._max / 1024**3

    def _check_object(self, row: dict, parts: list[dict] | None) -> tuple[int, str, str]:
        """The object's size, SHA-256 and sniffed content type, once it is whole; Invalid for
        an object that is not what was declared."""
        client, bucket, key = self._storage.client, self._storage.bucket, row["s3_key"]
        if row["s3_upload_id"] is not None:
            self._complete_multipart(row, parts)
        elif parts is not None:
            raise Invalid("parts: this upload is one PUT; complete it without parts", field="parts")
        try:
            head = client.head_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                raise _NotYet("Nothing has been uploaded to this upload's URL yet; PUT the file first.") from None
            raise
        if head["ContentLength"] != row["size_bytes"]:
            raise Invalid(
                f"size: the uploaded file has {head['ContentLength']} bytes, not the {row['size_bytes']} declared",
                field="size",
            )
        body = client.get_object(Bucket=bucket, Key=key)["Body"]
        digest = hashlib.sha256()
        first = body.read(filetypes.SNIFF_BYTES)
        try:
            content_type = filetypes.check_content(row["source_type"], row["filename"], first)
        except filetypes.Mismatch as exc:
            body.close()
            raise Invalid(str(exc) if str(exc).startswith("file:") else f"file: {exc}", field="file") from None
        digest.update(first)
        while chunk := body.read(READ_SIZE):
            digest.update(chunk)
        sha256 = digest.hexdigest()
        if row["sha256"] and row["sha256"] != sha256:
            raise Invalid(f"sha256: the uploaded file's SHA-256 is {sha256}, not the one declared", field="sha256")
        return head["ContentLength"], sha256, content_type

    def _complete_multipart(self, row: dict, parts: list[dict] | None) -> None:
        if not parts:
            raise Invalid("parts: required: the part_number and etag of every part sent", field="parts")
        expected = Plan(row["size_bytes"], row["part_size"]).parts
        numbers = [part["part_number"] for part in parts]
        if sorted(numbers) != list(range(1, expected + 1)):
            raise Invalid(f"parts: give each of the {expected} parts once, numbered 1 to {expected}", field="parts")
        try:
            self._storage.patient.complete_multipart_upload(
                Bucket=self._storage.bucket,
                Key=row["s3_key"],
                UploadId=row["s3_upload_id"],
                MultipartUpload={
                    "Parts": [
                        {"PartNumber": part["part_number"], "ETag": part["etag"]}
                        for part in sorted(parts, key=lambda p: p["part_number"])
                    ]
                },
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code in ("InvalidPart", "InvalidPartOrder", "EntityTooSmall", "NoSuchUpload"):
                raise Invalid(
                    f"parts: S3 refused them ({code}): send every part, with the ETag it answered", field="parts"
                ) from None
            raise

    # --- end --------------------------------------------------------------------------------

    def abort(self, tenant_id: str, course_id: str, upload_id: str) -> None:
        """End the course's upload in progress at the client's request."""
        with self._pool.connection() as conn:
            row = material_uploads.claim(conn, tenant_id, course_id, upload_id, self._completion_seconds())
        self.end(row)

    def end(self, row: dict) -> None:
        """End an upload that will not become a material: its parts or object go now (or, if S3
        is away, with the deletion outbox once its URLs expire), its row and reservation too."""
        try:
            if row["s3_upload_id"]:
                abort_upload(self._storage, row["s3_key"], row["s3_upload_id"])
            self._storage.delete_objects([row["s3_key"]])
        except (BotoCoreError, ClientError, RuntimeError) as exc:
            log.warning("upload %s: its parts wait for the janitor: %s", row["id"], exc)
        with self._pool.connection() as conn, conn.transaction():
            material_uploads.remove(conn, str(row["tenant_id"]), str(row["id"]))


class _NotYet(Exception):
    """The object is not there yet: the client may still PUT it."""
