"""A course's materials as the model reads them: delimited data blocks with anchors per chunk."""

from __future__ import annotations

import html
import math
import re
from dataclasses import dataclass
from typing import Any

from libs.store import structure

TIMECODE_PATTERN = f"^{structure.TIMECODE_PATTERN}$"  # anchored, as JSON Schema patterns are not
_TIMECODE = re.compile(TIMECODE_PATTERN)
# Between a transcript anchor's start and end, as in [00:01:05–00:01:09]  # noqa: RUF003
DASH = "\u2013"
# The tags that delimit data in the prompts: inside data they are neutralised, so a material
# cannot close its own block and speak outside it.
_OUR_TAGS = re.compile(r"<(?=\s*/?\s*(?:materials?|course|slide_mapping|title|description|learning_goal)\b)", re.I)


@dataclass(frozen=True)
class MaterialText:
    """One ``done`` material's document, as the worker reads it: ``chunks`` are
    ``services.agent.documents.page`` rows (``position``, ``kind``, ``text``, ``metadata``) in order."""

    id: str
    filename: str | None
    source_type: str
    source_url: str | None
    chunks: list[dict]


def format_timecode(seconds: float, *, up: bool = False) -> str:
    """``HH:MM:SS`` of ``seconds``, rounded down (or ``up``), capped at 99:59:59."""
    whole = min(int(math.ceil(seconds) if up else math.floor(seconds)), 99 * 3600 + 59 * 60 + 59)
    whole = max(whole, 0)
    return f"{whole // 3600:02d}:{whole // 60 % 60:02d}:{whole % 60:02d}"


def parse_timecode(value: Any) -> int | None:
    """Seconds of an ``HH:MM:SS`` string; None for anything else."""
    if not isinstance(value, str) or not _TIMECODE.match(value):
        return None
    hours, minutes, seconds = (int(part) for part in value.split(":"))
    return hours * 3600 + minutes * 60 + seconds


def data(text: str) -> str:
    """``text`` safe to place inside a data block: our delimiting tags are escaped."""
    return _OUR_TAGS.sub("&lt;", text)


def attribute(value: object) -> str:
    return html.escape(str(value), quote=True)


def block_header(material: MaterialText, **extra: object) -> str:
    """The opening tag of a material's block: id, name, type, URL, and any ``extra`` attributes."""
    attributes = {
        "id": material.id,
        "name": material.filename or material.source_url or material.id,
        "type": material.source_type,
        **({"url": material.source_url} if material.source_url else {}),
        **extra,
    }
    return "<material " + " ".join(f'{key}="{attribute(value)}"' for key, value in attributes.items()) + ">"


def page_anchor(material: MaterialText, page: object) -> str:
    # a presentation exported to PDF has one page per slide: its pages are the slide numbers
    return f"[slide {page}]" if material.source_type == "presentation" else f"[page {page}]"


def render_chunk(material: MaterialText, chunk: dict, previous_url: str | None = None) -> tuple[str, str, str]:
    """A chunk as ``(anchor, separator, body)``: the anchor names where it is (``[page 3]``,
    ``[slide 2: Title]``, ``[00:01:05-00:01:09]`` (an en dash), ``[url …]``; empty for plain text),
    headings keep their level as Markdown ``#``."""
    kind, text, meta = chunk.get("kind"), data(str(chunk.get("text") or "")), chunk.get("metadata") or {}
    if kind == "heading":
        return "", "", "#" * int(meta.get("level") or 1) + " " + text
    if kind == "page":
        return page_anchor(material, meta.get("page", "?")), "\n", text
    if kind == "slide":
        title = meta.get("title")
        return f"[slide {meta.get('slide', '?')}{': ' + data(str(title)) if title else ''}]", "\n", text
    if kind == "transcript":
        start = format_timecode(float(meta.get("start_seconds") or 0))
        end = format_timecode(float(meta.get("end_seconds") or meta.get("start_seconds") or 0), up=True)
        return f"[{start}{DASH}{end}]", " ", text
    if kind == "web":
        url = meta.get("url") or material.source_url
        level = meta.get("heading_level")
        body = ("#" * int(level) + " " + text) if level else text
        # the URL once per run of chunks from the same page, not on every paragraph
        return (f"[url {data(str(url))}]", "\n", body) if url and url != previous_url else ("", "", body)
    if "page" in meta:
        return page_anchor(material, meta["page"]), " ", text
    if "slide" in meta:
        return f"[slide {meta['slide']}]", " ", text
    return "", "", text


def render_chunks(material: MaterialText) -> list[str]:
    """Each chunk of ``material`` rendered with its anchor, in order."""
    pieces: list[str] = []
    url: str | None = None
    for chunk in material.chunks:
        anchor, separator, body = render_chunk(material, chunk, url)
        if chunk.get("kind") == "web":
            url = (chunk.get("metadata") or {}).get("url") or material.source_url
        pieces.append(anchor + separator + body)
    return pieces


def render_block(material: MaterialText) -> str:
    """The material's whole document as one delimited data block."""
    return "\n".join([block_header(material), *render_chunks(material), "</material>"])
