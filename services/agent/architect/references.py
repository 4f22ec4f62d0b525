"""What the structure may point at: the timecodes, slides and URLs the materials really have."""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from services.agent.architect.materials import MaterialText, parse_timecode

_URL = re.compile(r"https?://[^\s<>\"'`\]\)]+")


def normalise_url(url: str) -> str:
    """A URL as compared: no surrounding space, no trailing punctuation or slash."""
    return url.strip().rstrip(".,;:!?").rstrip("/")


@dataclass
class References:
    """Valid anchors. A timecode is valid inside some transcript chunk's [start, end] (whole
    seconds, start down and end up, as the context shows them) or on a slide-mapping timecode;
    a slide is one a presentation has, or the mapping names; a URL is a web material's, a web
    chunk's, or one written in a material's text."""

    ranges: list[tuple[int, int]] = field(default_factory=list)  # merged, sorted by start
    mapped_seconds: set[int] = field(default_factory=set)
    slides: set[int] = field(default_factory=set)
    pages: set[int] = field(default_factory=set)
    urls: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, materials: Iterable[MaterialText], slide_mapping: Iterable[dict] = ()) -> References:
        """The references of ``materials`` (whole documents) and the course's ``slide_mapping``
        (``{"slide_number", "video_timecode"}`` rows)."""
        found = cls()
        spans: list[tuple[int, int]] = []
        for material in materials:
            if material.source_url:
                found.urls.add(normalise_url(material.source_url))
            for chunk in material.chunks:
                spans += found._add_chunk(material, chunk)
        for row in slide_mapping:
            if isinstance(row.get("slide_number"), int):
                found.slides.add(row["slide_number"])
            if (seconds := parse_timecode(row.get("video_timecode"))) is not None:
                found.mapped_seconds.add(seconds)
        found.ranges = _merge(spans)
        return found

    @classmethod
    def of_chunks(cls, material: MaterialText, chunks: Iterable[dict]) -> References:
        """The references of some chunks of one material (a condensed part)."""
        found = cls()
        spans: list[tuple[int, int]] = []
        for chunk in chunks:
            spans += found._add_chunk(material, chunk)
        found.ranges = _merge(spans)
        return found

    def _add_chunk(self, material: MaterialText, chunk: dict) -> list[tuple[int, int]]:
        meta: dict[str, Any] = chunk.get("metadata") or {}
        for url in _URL.findall(str(chunk.get("text") or "")):
            self.urls.add(normalise_url(url))
        if isinstance(meta.get("url"), str):
            self.urls.add(normalise_url(meta["url"]))
        if isinstance(meta.get("slide"), int):
            self.slides.add(meta["slide"])
        if isinstance(meta.get("page"), int):
            # a presentation's pages are its slides (PDF export)
            (self.slides if material.source_type == "presentation" else self.pages).add(meta["page"])
        if chunk.get("kind") == "transcript" and isinstance(meta.get("start_seconds"), int | float):
            start = float(meta["start_seconds"])
            end = meta.get("end_seconds")
            end = float(end) if isinstance(end, int | float) else start
            return [(int(start), -int(-max(start, end) // 1))]  # floor, ceil
        return []

    def timecode(self, value: Any) -> bool:
        """Whether ``value`` is an ``HH:MM:SS`` inside the transcripts or on the mapping."""
        seconds = parse_timecode(value)
        if seconds is None:
            return False
        if seconds in self.mapped_seconds:
            return True
        at = bisect.bisect_right(self.ranges, (seconds, float("inf"))) - 1
        return at >= 0 and self.ranges[at][0] <= seconds <= self.ranges[at][1]

    def slide(self, value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and value in self.slides

    def page(self, value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and value in self.pages

    def url(self, value: Any) -> bool:
        return isinstance(value, str) and normalise_url(value) in self.urls


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged
