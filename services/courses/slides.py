"""Validating a slide number ↔ video timecode batch (the pairs themselves live in libs.store.slide_mapping)."""

from __future__ import annotations

from typing import Any

from libs.http.validation import validate
from services.courses.schemas import SLIDE_MAPPING_BATCH


def validate_batch(body: Any) -> list[tuple[int, str]]:
    """The whole batch or a 422 naming every bad or repeated item."""
    batch = validate(body, SLIDE_MAPPING_BATCH)
    return [(item["slide_number"], item["video_timecode"]) for item in batch["mappings"]]
