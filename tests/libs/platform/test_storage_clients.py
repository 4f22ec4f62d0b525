"""The S3 clients: a service's request waits S3_REQUEST_TIMEOUT_SECONDS for an answer, once,
so a frozen S3 fails it in seconds; joining a multipart upload and the worker wait longer."""

from __future__ import annotations

import dataclasses

from libs.platform.storage import PATIENT_ATTEMPTS, PATIENT_READ_SECONDS, create_storage


def _waits(client) -> tuple[float, int]:
    config = client.meta.config
    return config.read_timeout, config.retries["total_max_attempts"]


def test_a_services_calls_wait_the_request_timeout_once(settings):
    storage = create_storage(dataclasses.replace(settings, s3_request_timeout_seconds=3), in_request=True)
    assert _waits(storage.client) == (3, 1)
    assert _waits(storage.patient) == (PATIENT_READ_SECONDS, PATIENT_ATTEMPTS)


def test_a_workers_calls_are_all_patient(settings):
    storage = create_storage(settings)
    assert storage.client is storage.patient
    assert _waits(storage.client) == (PATIENT_READ_SECONDS, PATIENT_ATTEMPTS)
