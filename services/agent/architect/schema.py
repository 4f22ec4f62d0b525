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
ITEMS = array(text(structure.LIST_ITEM_MAX), max_items=structure.LIST_MAX)

COURSE_FIELDS = {
    "title": text(structure.TITLE_MAX),
    "description": text(structure.DESCRIPTION_MAX),
    "learning_goal": text(structure.GOAL_MAX),
    "expected_knowledge": ITEMS | {"description": "what a learner should know before"},
    "expected_skills": ITEMS | {"description": "what a learner can do after"},
}
CONCEPT = obj(
    {
        "title": text(structure.TITLE_MAX),
        "definition": text(structure.DEFINITION_MAX),
        "examples": array(text(structure.EXAMPLE_MAX), max_items=structure.EXAMPLES_MAX),
        "timecodes": array(TIMECODE, max_items=structure.TIMECODES_MAX),
        "slide_references": array(SLIDE, max_items=structure.SLIDE_REFERENCES_MAX),
        "web_references": array(
            obj({"url": text(structure.URL_MAX), "title": text(structure.TITLE_MAX, nullable=True)}),
            max_items=structure.WEB_REFERENCES_MAX,
        ),
    }
)
EXERCISE = obj(
    {
        "description": text(structure.DESCRIPTION_MAX),
        "reference_solution": text(structure.SOLUTION_MAX),
        "grading_criteria": text(structure.DESCRIPTION_MAX),
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
        "title": text(structure.TITLE_MAX),
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
