"""The answer checked before it is saved: references the materials do not have are dropped and
counted, lessons without concepts and modules without lessons go, the rest is normalised to
``libs.store.structure.replace``'s input."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from libs.store.structure import DIFFICULTIES, EXERCISE_DIFFICULTY
from services.agent.architect.materials import parse_timecode
from services.agent.architect.references import References

EASIEST, HARDEST = EXERCISE_DIFFICULTY

DROPPED = ("timecodes", "slides", "web_references", "lessons_without_concepts", "modules_without_lessons")


@dataclass
class Checked:
    """The course's fields, its modules as ``libs.store.structure.replace`` takes them, and how many
    of each kind of thing were dropped."""

    course: dict[str, Any]
    modules: list[dict[str, Any]]
    dropped: dict[str, int] = field(default_factory=lambda: dict.fromkeys(DROPPED, 0))


def check(answer: dict[str, Any], known: References) -> Checked:
    """Check a structure ``answer`` (the schema's shape, though a lesson may lack concepts
    here: this function does not trust the schema) against ``known`` references."""
    checked = Checked(_course_fields(answer.get("course") or {}), [])
    for module in answer.get("modules") or []:
        lessons = []
        for lesson in module.get("lessons") or []:
            kept = _lesson(lesson, known, checked.dropped)
            if kept is None:
                checked.dropped["lessons_without_concepts"] += 1
            else:
                lessons.append(kept)
        if not lessons:
            checked.dropped["modules_without_lessons"] += 1
            continue
        difficulty = module.get("difficulty") if module.get("difficulty") in DIFFICULTIES else None
        checked.modules.append({**_course_fields(module), "difficulty": difficulty, "lessons": lessons})
    return checked


def _course_fields(source: dict[str, Any]) -> dict[str, Any]:
    return {
        "title": _text(source.get("title")) or "Untitled",
        "description": _text(source.get("description")),
        "learning_goal": _text(source.get("learning_goal")),
        "expected_knowledge": _texts(source.get("expected_knowledge")),
        "expected_skills": _texts(source.get("expected_skills")),
    }


def _lesson(lesson: dict[str, Any], known: References, dropped: dict[str, int]) -> dict[str, Any] | None:
    concepts = [_concept(concept, known, dropped) for concept in lesson.get("concepts") or []]
    if not concepts:
        return None
    start, end = (_timecode(lesson.get(key), known, dropped) for key in ("video_start_timecode", "video_end_timecode"))
    if start is not None and end is not None and parse_timecode(end) < parse_timecode(start):
        end = None  # an end before the start is no range
        dropped["timecodes"] += 1
    slide_start, slide_end = lesson.get("slide_start"), lesson.get("slide_end")
    bounds = [value for value in (slide_start, slide_end) if value is not None]
    backwards = slide_start is not None and slide_end is not None and slide_end < slide_start
    if bounds and (backwards or not all(map(known.slide, bounds))):
        # a range outside the slides (or backwards) says nothing true: both bounds go
        dropped["slides"] += len(bounds)
        slide_start = slide_end = None
    return {
        "title": _text(lesson.get("title")) or "Untitled",
        "video_start_timecode": start,
        "video_end_timecode": end,
        "slide_start": slide_start,
        "slide_end": slide_end,
        "concepts": concepts,
        "exercises": [_exercise(exercise) for exercise in lesson.get("exercises") or []],
    }


def _concept(concept: dict[str, Any], known: References, dropped: dict[str, int]) -> dict[str, Any]:
    timecodes = _kept(concept.get("timecodes"), known.timecode, dropped, "timecodes")
    slides = _kept(concept.get("slide_references"), known.slide, dropped, "slides")
    references = _kept(
        concept.get("web_references"),
        lambda ref: isinstance(ref, dict) and known.url(ref.get("url")),
        dropped,
        "web_references",
    )
    return {
        "title": _text(concept.get("title")) or "Untitled",
        "definition": _text(concept.get("definition")) or "",
        "examples": _texts(concept.get("examples")),
        "timecodes": list(dict.fromkeys(timecodes)),
        "slide_references": list(dict.fromkeys(slides)),
        "web_references": [{"url": ref["url"].strip(), "title": _text(ref.get("title"))} for ref in references],
    }


def _exercise(exercise: dict[str, Any]) -> dict[str, Any]:
    difficulty = exercise.get("difficulty")
    valid = isinstance(difficulty, int) and not isinstance(difficulty, bool) and EASIEST <= difficulty <= HARDEST
    return {
        "description": _text(exercise.get("description")) or "",
        "reference_solution": _text(exercise.get("reference_solution")),
        "grading_criteria": _text(exercise.get("grading_criteria")),
        # the schema asks for 1 to 5; the database refuses anything else
        "difficulty": difficulty if valid else 3,
    }


def _timecode(value: Any, known: References, dropped: dict[str, int]) -> str | None:
    if value is None:
        return None
    if known.timecode(value):
        return value
    dropped["timecodes"] += 1
    return None


def _kept(values: Any, valid: Any, dropped: dict[str, int], kind: str) -> list:
    kept = [value for value in values or [] if valid(value)]
    dropped[kind] += len(values or []) - len(kept)
    return kept


def _text(value: Any) -> str | None:
    # PostgreSQL text cannot hold NUL, and a model may emit one (as \u0000 in its JSON)
    return value.replace("\x00", "").strip() or None if isinstance(value, str) else None


def _texts(values: Any) -> list[str]:
    return [text for value in values or [] if (text := _text(value))]
