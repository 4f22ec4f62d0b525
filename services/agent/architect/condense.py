"""Condensing a material too long for the structuring context: per-part summaries that keep
their anchors, through the ``text_processing`` action."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from libs.llm.router import LlmRouter, Result
from services.agent.architect import schema, templates
from services.agent.architect.budget import Budget, estimate_tokens, request_tokens
from services.agent.architect.errors import ContextTooLarge
from services.agent.architect.materials import DASH, MaterialText, block_header, data, render_chunk
from services.agent.architect.references import References

log = logging.getLogger(__name__)

PROMPT = "condense.v1"
MAX_OUTPUT = 2048  # tokens of one summary: well under every chat model's output cap
OUTPUT_SHARE = 6  # ... or a sixth of a smaller window, so a summary is shorter than its input
# Tokens one point costs in JSON: its text at POINT_LENGTH characters and the anchor fields.
POINT_TOKENS = 150
# A part holds at most this many times its summary's tokens: a whole lecture in one request
# would come back as a dozen points, a few parts keep more of it.
PART_PER_SUMMARY = 8
# Below this many tokens of material per request, condensing cannot shrink anything.
MIN_PART_TOKENS = 100
_PART = "9999 of 9999"  # the widest part attribute, for the fixed cost of a request


@dataclass
class Condensed:
    """A material's summary as a data block, and the calls that made it."""

    block: str
    results: list[Result] = field(default_factory=list)
    dropped_anchors: int = 0


class Summaries(Protocol):
    """Where condensed summaries are kept between runs (services/agent/summaries.py): by
    material and by :meth:`Condenser.key`, what made the summary."""

    def get(self, tenant_id: str, material_id: str, key: str) -> Condensed | None: ...

    def put(self, tenant_id: str, material_id: str, key: str, condensed: Condensed) -> None: ...


@dataclass
class Condenser:
    """Condenses materials for one run: ``budget`` is the text_processing chain's."""

    router: LlmRouter
    budget: Budget
    tenant_id: str
    job_id: str
    strategy: str
    on_part: Callable[[], None] = lambda: None

    def __post_init__(self) -> None:
        self.prompt = templates.load(PROMPT)
        self.max_points = max(1, self.budget.max_tokens // POINT_TOKENS)
        self.schema = schema.summary(self.max_points)
        self.system, _ = self.prompt.render(system=self._limits(), user={"material": ""})

    def _limits(self) -> dict[str, object]:
        return {"max_points": self.max_points, "point_length": schema.POINT_LENGTH}

    def part_capacity(self, material: MaterialText) -> int:
        """Estimated tokens of material text one condensing request may carry."""
        empty = self._user(material, _PART, [])
        room = self.budget.input_tokens - request_tokens([self.system, empty], self.schema)
        return min(room, self.budget.max_tokens * PART_PER_SUMMARY)

    def key(self, material: MaterialText) -> str:
        """What a summary of ``material`` by this condenser is made of: the material's text as
        the model reads it, the prompt's version, the chain's model and the summary's size. Two
        runs with the same key would pay for the same summary."""
        parts = [PROMPT, self.budget.model, str(self.max_points), str(self.part_capacity(material))]
        made_of = "\n".join([*parts, *(piece for part in _parts(material, 10**9) for piece, _ in part)])
        return hashlib.sha256(made_of.encode()).hexdigest()

    def condense(self, material: MaterialText) -> Condensed:
        """The material summarised part by part (parts as large as a request allows), the
        points joined in order. Anchors a summary invents are dropped and counted."""
        capacity = self.part_capacity(material)
        if capacity < MIN_PART_TOKENS:
            raise ContextTooLarge(
                f"material {material.filename or material.id} is too large for the model's context and the "
                f"condensing model's context ({self.budget.context_tokens} tokens of {self.budget.model}) is too "
                "small to summarise it"
            )
        parts = _parts(material, capacity)
        condensed = Condensed("")
        lines: list[str] = []
        for number, part in enumerate(parts, start=1):
            user = self._user(material, f"{number} of {len(parts)}", [piece for piece, _ in part])
            result = self.router.complete_json(
                tenant_id=self.tenant_id,
                job_id=self.job_id,
                action="text_processing",
                strategy=self.strategy,
                system=self.system,
                user=user,
                schema=self.schema,
                prompt_version=self.prompt.version,
                max_tokens=self.budget.max_tokens,
            )
            condensed.results.append(result)
            known = References.of_chunks(material, [chunk for _, chunk in part])
            for point in result.data["points"]:
                line, dropped = _point(point, known)
                lines.append(line)
                condensed.dropped_anchors += dropped
            self.on_part()
        if condensed.dropped_anchors:
            log.info("condensing %s dropped %d invented anchors", material.id, condensed.dropped_anchors)
        condensed.block = "\n".join([block_header(material, condensed="true"), *lines, "</material>"])
        return condensed

    def _user(self, material: MaterialText, part: str, pieces: list[str]) -> str:
        block = "\n".join([block_header(material, part=part), *pieces, "</material>"])
        return self.prompt.render(system=self._limits(), user={"material": block})[1]


def _parts(material: MaterialText, capacity: int) -> list[list[tuple[str, dict]]]:
    """The material's rendered chunks grouped into parts of at most ``capacity`` estimated
    tokens (one per line break included); a chunk larger than that is split at spaces, its
    anchor repeated on each piece, so no text is lost and every piece says where it is."""
    parts: list[list[tuple[str, dict]]] = [[]]
    used = 0
    url: str | None = None
    for chunk in material.chunks:
        anchor, separator, body = render_chunk(material, chunk, url)
        if chunk.get("kind") == "web":
            url = (chunk.get("metadata") or {}).get("url") or material.source_url
        for piece in _split(anchor + separator, body, capacity - 1):
            size = estimate_tokens(piece) + 1
            if used + size > capacity and parts[-1]:
                parts.append([])
                used = 0
            parts[-1].append((piece, chunk))
            used += size
    return [part for part in parts if part]


def _split(prefix: str, body: str, capacity: int) -> list[str]:
    if estimate_tokens(prefix + body) <= capacity:
        return [prefix + body]
    room = capacity - estimate_tokens(prefix) - 1
    if room < capacity // 2:
        # an anchor as long as the text (a slide's long title) is text like any other
        prefix, body, room = "", prefix + body, capacity
    pieces: list[str] = []
    current = ""
    for word in body.split(" "):
        candidate = f"{current} {word}" if current else word
        if estimate_tokens(candidate) <= room:
            current = candidate
            continue
        if current:
            pieces.append(current)
        # a "word" longer than a piece (a blob without spaces) is cut by characters
        while estimate_tokens(word) > room:
            cut = room  # a character is at most one token
            pieces.append(word[:cut])
            word = word[cut:]
        current = word
    if current:
        pieces.append(current)
    return [prefix + piece for piece in pieces]


def _point(point: dict, known: References) -> tuple[str, int]:
    """A summary point as a line with its anchors; anchors the part does not have are dropped."""
    anchors: list[str] = []
    dropped = 0
    start, end = point.get("start"), point.get("end")
    if start is not None:
        if known.timecode(start):
            anchors.append(f"[{start}{DASH}{end}]" if end is not None and known.timecode(end) else f"[{start}]")
            dropped += end is not None and not known.timecode(end)
        else:
            dropped += 1 + (end is not None)
    elif end is not None:
        dropped += 1
    if (slide := point.get("slide")) is not None:
        if known.slide(slide):
            anchors.append(f"[slide {slide}]")
        else:
            dropped += 1
    if (page := point.get("page")) is not None:
        if known.page(page):
            anchors.append(f"[page {page}]")
        elif known.slide(page):  # a presentation's page is its slide
            anchors.append(f"[slide {page}]")
        else:
            dropped += 1
    return " ".join([*anchors, "- " + data(str(point["text"]))]), dropped
