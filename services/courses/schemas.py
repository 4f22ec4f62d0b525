"""The courses service's contracts: request fields declared once (they validate requests and
describe them), and the OpenAPI schemas of its answers."""

from __future__ import annotations

from libs.http.pagination import page_schema
from libs.http.validation import Array, Day, Integer, Object, Text
from libs.schemas.material import MATERIAL_SCHEMA
from libs.store import courses, slide_mapping, structure
from libs.store.structure import TIMECODE_PATTERN

COURSE_INPUT = Object(
    {
        "title": Text(max_length=300, min_length=1, required=True),
        "description": Text(max_length=20_000, nullable=True),
        "learning_goal": Text(max_length=5_000, nullable=True),
    }
)
assert tuple(COURSE_INPUT.fields) == courses.EDITABLE  # the limits of exactly what may be set
COURSE_PATCH = Object(COURSE_INPUT.fields, min_properties=1)
SLIDE_VIDEO_PAIR = Object(
    {
        "slide_number": Integer(minimum=1, maximum=slide_mapping.MAX_SLIDE, required=True),
        "video_timecode": Text(
            max_length=8, required=True, pattern=TIMECODE_PATTERN, pattern_hint="a timecode HH:MM:SS"
        ),
    }
)
SLIDE_MAPPING_BATCH = Object(
    {"mappings": Array(SLIDE_VIDEO_PAIR, min_items=1, max_items=slide_mapping.MAX_PAIRS, unique=True, required=True)}
)
COST_QUERY = {
    "from": Day(description="First day (UTC) to count, inclusive"),
    "to": Day(description="Last day (UTC) to count, inclusive; before from, the period is empty"),
}

S = {"type": "string"}
NS = {"type": "string", "nullable": True}
UUID = {"type": "string", "format": "uuid"}
TS = {"type": "string", "format": "date-time"}
STRINGS = {"type": "array", "items": S}
TIMECODE = {"type": "string", "pattern": f"^{TIMECODE_PATTERN}$"}


def obj(properties: dict, required: list[str] | None = None) -> dict:
    return {"type": "object", "properties": properties, "required": required or list(properties)}


COURSE_FIELDS = {
    "id": UUID,
    "title": S,
    "description": NS,
    "learning_goal": NS,
    "expected_knowledge": STRINGS,
    "expected_skills": STRINGS,
    "revision": {"type": "integer"},
    "created_at": TS,
    "updated_at": TS,
}
CONCEPT = obj(
    {
        "id": UUID,
        "position": {"type": "integer"},
        "title": S,
        "definition": S,
        "examples": STRINGS,
        "timecodes": STRINGS,
        "slide_references": {"type": "array", "items": {"type": "integer"}},
        "web_references": {"type": "array", "items": {"type": "object"}},
    }
)
EXERCISE = obj(
    {
        "id": UUID,
        "position": {"type": "integer"},
        "description": S,
        "reference_solution": NS,
        "grading_criteria": NS,
        "difficulty": {
            "type": "integer",
            "minimum": structure.EXERCISE_DIFFICULTY[0],
            "maximum": structure.EXERCISE_DIFFICULTY[1],
        },
    }
)
LESSON_FIELDS = {
    "id": UUID,
    "position": {"type": "integer"},
    "title": S,
    "video_start_timecode": NS,
    "video_end_timecode": NS,
    "slide_start": {"type": "integer", "nullable": True},
    "slide_end": {"type": "integer", "nullable": True},
    "concepts": {"type": "array", "items": {"$ref": "#/components/schemas/Concept"}},
    "exercises": {"type": "array", "items": {"$ref": "#/components/schemas/Exercise"}},
}
MODULE = obj(
    {
        "id": UUID,
        "position": {"type": "integer"},
        "title": S,
        "description": NS,
        "learning_goal": NS,
        "expected_knowledge": STRINGS,
        "expected_skills": STRINGS,
        "difficulty": {"type": "string", "nullable": True, "enum": [*structure.DIFFICULTIES, None]},
        "lessons": {"type": "array", "items": {"$ref": "#/components/schemas/Lesson"}},
    }
)
FIGURES = {
    "calls": {"type": "integer"},
    "tokens_in": {"type": "integer"},
    "tokens_out": {"type": "integer"},
    "cost_usd": {"type": "number"},
    "success_rate": {"type": "number"},
}


def _breakdown(key: str) -> dict:
    return {"type": "array", "items": obj({key: S, **FIGURES})}


SCHEMAS = {
    "Course": obj(COURSE_FIELDS),
    "CourseInput": COURSE_INPUT.schema(),
    "CoursePatch": COURSE_PATCH.schema(require=False),
    "CoursePage": page_schema({"$ref": "#/components/schemas/Course"}),
    "CourseDocument": obj(
        {
            **COURSE_FIELDS,
            "modules": {"type": "array", "items": {"$ref": "#/components/schemas/Module"}},
            "materials": {"type": "array", "items": {"$ref": "#/components/schemas/Material"}},
        }
    ),
    "Module": MODULE,
    "Lesson": obj(LESSON_FIELDS),
    "LessonDetail": obj({**LESSON_FIELDS, "module_id": UUID}),
    "Concept": CONCEPT,
    "Exercise": EXERCISE,
    "Material": MATERIAL_SCHEMA,
    "SlideMappingBatch": SLIDE_MAPPING_BATCH.schema(),
    "SlideVideoPair": SLIDE_VIDEO_PAIR.schema(),
    "SlideMapping": obj({"mappings": {"type": "array", "items": {"$ref": "#/components/schemas/SlideVideoPair"}}}),
    "CostReport": obj(
        {
            "from": {"type": "string", "format": "date", "nullable": True},
            "to": {"type": "string", "format": "date", "nullable": True},
            "totals": obj(FIGURES),
            "by_action": _breakdown("action"),
            "by_provider": _breakdown("provider"),
            "by_model": _breakdown("model"),
        }
    ),
}
