"""Object storage on any S3-compatible endpoint (Backblaze B2 in production, SeaweedFS locally)."""

from __future__ import annotations

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from libs.platform.settings import Settings


class Storage:
    """The bucket and its client; ``presigner`` signs the URLs clients upload to directly, for
    the endpoint they see (S3_PUBLIC_ENDPOINT_URL), which may not be the one the services use;
    ``patient`` is the client for the one call that may take S3 long on a healthy day (joining
    a large multipart upload's parts), where ``client`` answers within a request's time."""

    def __init__(
        self, client: object, bucket: str, presigner: object | None = None, patient: object | None = None
    ) -> None:
        self.client = client
        self.bucket = bucket
        self.presigner = presigner or client
        self.patient = patient or client

    def check(self) -> None:
        """Raise if the bucket cannot be reached with our credentials."""
        self.client.head_bucket(Bucket=self.bucket)

    def delete_objects(self, keys: list[str]) -> None:
        """Delete ``keys`` (1000 per request, the S3 maximum); raise if any is left."""
        for start in range(0, len(keys), 1000):
            batch = [{"Key": key} for key in keys[start : start + 1000]]
            answer = self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
            if answer.get("Errors"):
                raise RuntimeError(f"S3 kept {len(answer['Errors'])} objects: {answer['Errors'][:3]}")

    def ensure_bucket(self) -> None:
        """Create the bucket if it is missing: for development stacks only; production
        buckets are provisioned by the operator."""
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError:
            self.client.create_bucket(Bucket=self.bucket)


# What a worker's S3 calls may wait: a read of 30 s, in up to three attempts (botocore's
# ``max_attempts`` counts retries; ``total_max_attempts`` the attempts themselves).
PATIENT_READ_SECONDS = 30
PATIENT_ATTEMPTS = 3


def create_storage(settings: Settings, *, in_request: bool = False) -> Storage:
    """S3 storage with short connect timeouts and bounded retries, so a dead endpoint fails fast.
    ``in_request`` (the services): each call waits S3_REQUEST_TIMEOUT_SECONDS for an answer,
    once, so a frozen S3 (its socket open, nothing answering) fails a request with a 503 in
    seconds; joining a multipart upload's parts keeps the patient client."""
    patient = _client(settings, settings.s3_endpoint)
    client = (
        _client(settings, settings.s3_endpoint, read_seconds=settings.s3_request_timeout_seconds, attempts=1)
        if in_request
        else patient
    )
    public = settings.s3_public_endpoint_url
    presigner = _client(settings, public) if public and public != settings.s3_endpoint else None
    return Storage(client, settings.s3_bucket, presigner, patient)


def _client(
    settings: Settings, endpoint: str, *, read_seconds: float = PATIENT_READ_SECONDS, attempts: int = PATIENT_ATTEMPTS
) -> object:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=settings.s3_access_key,
        aws_secret_access_key=settings.s3_secret_key,
        region_name=settings.s3_region,
        config=Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            connect_timeout=2,
            read_timeout=read_seconds,
            retries={"total_max_attempts": attempts, "mode": "standard"},
        ),
    )
