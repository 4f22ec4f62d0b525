"""Which item of a new structure is which item of the current one: the identities a run keeps.

A learning platform stores module, lesson, concept and exercise ids, and students' submissions
point at exercises, so a run that returns the same course must return the same ids. What the
model answers carries no ids, so each new item is matched to a current one of its kind, in
three passes, each over what the passes before left unmatched:

1. **Same text.** The normalised title (an exercise: its description) equal. Among several,
   the one under the same (matched) parent first, then the nearest position.
2. **Same anchors.** A lesson with the same video range or slide range, a concept with the same
   timecodes or slide references under the same parent: the model renamed what it points at.
3. **Similar text under the same parent.** A title reworded a little (a ratio of at least
   :data:`SIMILAR` by :class:`difflib.SequenceMatcher`), under the parent the current item
   hangs under: a lesson renamed from "Loops" to "For loops" stays itself.

An item that already says which one it is (``id``: a refine's target and what it left alone)
keeps that id before any pass. Position alone never matches: a different text in the same
place is a different item. Matching
is course-wide, so a lesson the model moved to another module keeps its id. Modules are matched
first, then lessons (whose parent is a module), then concepts and exercises (under lessons).
An unmatched new item gets a new id; an unmatched current item is removed by the caller.

Pure functions over plain dicts: :func:`assign` takes the current structure as
:func:`libs.store.structure.read` returns it and the new one as ``replace`` takes it.
"""

from __future__ import annotations

import difflib
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

SIMILAR = 0.75
KINDS = ("modules", "lessons", "concepts", "exercises")


def normalised(text: object) -> str:
    """Case and spacing folded: "For  Loops" and "for loops" are one title."""
    return " ".join(str(text or "").casefold().split())


@dataclass
class _Item:
    key: str  # the normalised text
    anchor: tuple  # () when the item has none
    parent: str | None  # the (current, or matched) parent's id
    position: int
    id: str | None = None  # the current item's id; for a new item, the matched one's once found


@dataclass
class Assignment:
    """The new structure's items, in order per kind, each with its ``id`` (kept or new), and the
    ids of the current items that no new item matched, per kind."""

    ids: dict[str, list[str]] = field(default_factory=dict)
    kept: dict[str, set[str]] = field(default_factory=dict)
    removed: dict[str, set[str]] = field(default_factory=dict)


def _match(new: list[_Item], current: list[_Item]) -> None:
    """Set ``id`` on each new item that a current one matches (the passes of the docstring)."""
    free = {item.id: item for item in current}
    for item in new:  # an item that says which one it is (a refine's target) is that one
        if item.id is not None and item.id in free:
            del free[item.id]
        else:
            item.id = None

    def take(item: _Item, candidates: list[_Item]) -> None:
        candidates = [c for c in candidates if c.id in free]
        if not candidates:
            return
        best = min(candidates, key=lambda c: (c.parent != item.parent, abs(c.position - item.position)))
        item.id = best.id
        del free[best.id]

    by_key: dict[str, list[_Item]] = {}
    for item in current:
        by_key.setdefault(item.key, []).append(item)
    for item in new:
        take(item, by_key.get(item.key, []))
    by_anchor: dict[tuple, list[_Item]] = {}
    for item in current:
        if item.anchor:
            by_anchor.setdefault(item.anchor, []).append(item)
    for item in new:
        if item.id is None and item.anchor:
            take(item, [c for c in by_anchor.get(item.anchor, []) if c.parent == item.parent or c.parent is None])
    pairs = []
    for item in new:
        if item.id is not None:
            continue
        for candidate in free.values():
            if candidate.parent == item.parent:
                ratio = difflib.SequenceMatcher(None, item.key, candidate.key).ratio()
                if ratio >= SIMILAR:
                    pairs.append((ratio, item, candidate))
    for _, item, candidate in sorted(pairs, key=lambda pair: -pair[0]):
        if item.id is None and candidate.id in free:
            item.id = candidate.id
            del free[candidate.id]


def _lesson_anchor(lesson: Mapping[str, Any]) -> tuple:
    video = (lesson.get("video_start_timecode"), lesson.get("video_end_timecode"))
    slides = (lesson.get("slide_start"), lesson.get("slide_end"))
    return (video, slides) if any(video) or any(slides) else ()


def _concept_anchor(concept: Mapping[str, Any]) -> tuple:
    timecodes, slides = tuple(concept.get("timecodes") or ()), tuple(concept.get("slide_references") or ())
    return (timecodes, slides) if timecodes or slides else ()


# per kind: the field whose text names an item (a run's matches and the author's deletions go
# by it), the kind it hangs under, and its anchors
KEY_TEXT = {"modules": "title", "lessons": "title", "concepts": "title", "exercises": "description"}
PARENT_KIND = {"modules": None, "lessons": "modules", "concepts": "lessons", "exercises": "lessons"}
_ANCHOR: dict[str, Callable[[Mapping[str, Any]], tuple]] = {
    "modules": lambda m: (),
    "lessons": _lesson_anchor,
    "concepts": _concept_anchor,
    "exercises": lambda e: (),
}


def _flatten(modules: Sequence[Mapping[str, Any]]) -> dict[str, list[tuple[Mapping[str, Any], int, int]]]:
    """Per kind, each item with the index of its parent in the parent kind's list, and its
    position under that parent."""
    flat: dict[str, list[tuple[Mapping[str, Any], int, int]]] = {kind: [] for kind in KINDS}
    for m, module in enumerate(modules):
        flat["modules"].append((module, -1, m))
        for n, lesson in enumerate(module.get("lessons", ())):
            flat["lessons"].append((lesson, m, n))
            lesson_index = len(flat["lessons"]) - 1
            for kind in ("concepts", "exercises"):
                for position, item in enumerate(lesson.get(kind, ())):
                    flat[kind].append((item, lesson_index, position))
    return flat


def assign(current: Sequence[Mapping[str, Any]], new: Sequence[Mapping[str, Any]]) -> Assignment:
    """Match ``new`` (no ids) to ``current`` (with ids); see the module docstring."""
    now, then = _flatten(new), _flatten(current)
    result = Assignment()
    for kind in KINDS:
        parent_kind = PARENT_KIND[kind]
        current_items = [
            _Item(
                # what the last run called it (``run_text``), so an item the author renamed is
                # still known by the name the model gives it
                item.get("run_text") or normalised(item.get(KEY_TEXT[kind])),
                _ANCHOR[kind](item),
                None if parent_kind is None else str(then[parent_kind][parent][0]["id"]),
                position,
                str(item["id"]),
            )
            for item, parent, position in then[kind]
        ]
        new_items = [
            _Item(
                normalised(item.get(KEY_TEXT[kind])),
                _ANCHOR[kind](item),
                None if parent_kind is None else result.ids[parent_kind][parent],
                position,
                str(item["id"]) if item.get("id") else None,
            )
            for item, parent, position in now[kind]
        ]
        _match(new_items, current_items)
        result.kept[kind] = {item.id for item in new_items if item.id is not None}
        result.ids[kind] = [item.id or str(uuid.uuid4()) for item in new_items]
        result.removed[kind] = {item.id for item in current_items} - result.kept[kind]
    return result
