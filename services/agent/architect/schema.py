"""The JSON Schemas the models answer to: a course structure, and a material's summary.

Every rule a schema can say is here (the router sends and checks it): required fields, no
others, lengths, at least one module, lesson and concept, difficulty vocabularies, timecode
and slide number forms. What a schema cannot say (a timecode the materials have, a slide range
in order) is checked after the answer, in ``check``. A draft 2020-12 subset that OpenAI's
``response_format``, Anthropic's tool ``input_schema`` and the router's validator all take.
"""

from __future__ import annotations

from typing import Any

from libs.store import slide_mapping, structure
from libs.store.structure import DIFFICULTIES
from services.agent.architect.materials import TIMECODE_PATTERN


def text(max_length: int, *, nullable: bool = False, description: str | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": ["string", "null"] if nullable else "string", "maxLength": max_length}
    if not nullable:
        schema["minLength"] = 1
    return schema | ({"description": description} if description else {})


def array(items: dict[str, Any], *, max_items: int, min_items: int = 0) -> dict[str, Any]:
    return {"type": "array", "items": items, "minItems": min_items, "maxItems": max_items}


def obj(properties: dict[str, Any], description: str | None = None) -> dict[str, Any]:
    # every field required (absent ones are null or []): what strict structured output wants
    schema = {"type": "object", "properties": properties, "required": list(properties), "additionalProperties": False}
    return schema | ({"description": description} if description else {})


TIMECODE = {"type": "string", "pattern": TIMECODE_PATTERN, "description": "HH:MM:SS, from a transcript anchor"}
NULLABLE_TIMECODE = {"type": ["string", "null"], "pattern": TIMECODE_PATTERN}
SLIDE = {"type": "integer", "minimum": 1, "maximum": slide_mapping.MAX_SLIDE}
NULLABLE_SLIDE = {"type": ["integer", "null"], "minimum": 1, "maximum": slide_mapping.MAX_SLIDE}
ITEMS = array(text(300), max_items=20)

COURSE_FIELDS = {
    "title": text(300),
    "description": text(4000),
    "learning_goal": text(2000),
    "expected_knowledge": ITEMS | {"description": "what a learner should know before"},
    "expected_skills": ITEMS | {"description": "what a learner can do after"},
}
CONCEPT = obj(
    {
        "title": text(300),
        "definition": text(2000),
        "examples": array(text(1000), max_items=10),
        "timecodes": array(TIMECODE, max_items=20),
        "slide_references": array(SLIDE, max_items=50),
        "web_references": array(obj({"url": text(2000), "title": text(300, nullable=True)}), max_items=10),
    }
)
EXERCISE = obj(
    {
        "description": text(4000),
        "reference_solution": text(8000),
        "grading_criteria": text(4000),
        "difficulty": {
            "type": "integer",
            "minimum": structure.EXERCISE_DIFFICULTY[0],
            "maximum": structure.EXERCISE_DIFFICULTY[1],
            "description": "1 easiest to 5 hardest",
        },
    }
)
LESSON = obj(
    {
        "title": text(300),
        "video_start_timecode": NULLABLE_TIMECODE,
        "video_end_timecode": NULLABLE_TIMECODE,
        "slide_start": NULLABLE_SLIDE,
        "slide_end": NULLABLE_SLIDE,
        "concepts": array(CONCEPT, min_items=1, max_items=30),
        "exercises": array(EXERCISE, max_items=20),
    }
)
MODULE = obj(
    {
        **COURSE_FIELDS,
        "difficulty": {"type": "string", "enum": list(DIFFICULTIES)},
        "lessons": array(LESSON, min_items=1, max_items=50),
    }
)
STRUCTURE: dict[str, Any] = {
    "title": "course_structure",
    **obj({"course": obj(COURSE_FIELDS), "modules": array(MODULE, min_items=1, max_items=50)}),
}

POINT_LENGTH = 400


def summary(max_points: int) -> dict[str, Any]:
    """A material's (or part's) condensed form: at most ``max_points`` points, each keeping
    the anchor it came from, so references survive the condensing."""
    point = obj(
        {
            "text": text(POINT_LENGTH),
            "start": NULLABLE_TIMECODE,
            "end": NULLABLE_TIMECODE,
            "slide": NULLABLE_SLIDE,
            "page": NULLABLE_SLIDE,
        }
    )
    return {"title": "material_summary", **obj({"points": array(point, min_items=1, max_items=max_points)})}
