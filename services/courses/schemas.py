"""The courses service's contracts: request fields declared once (they validate requests and
describe them), and the OpenAPI schemas of its answers."""

from __future__ import annotations

from libs.http.pagination import page_schema
from libs.http.validation import Array, Choice, Day, Integer, Object, Text
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
# The author's edits of the structure: the same limits as a run's answer (libs/store/structure.py).
# What POST requires is marked so; a PATCH takes any of the fields, at least one.
TIMECODE_FIELD = Text(max_length=8, nullable=True, pattern=TIMECODE_PATTERN, pattern_hint="a timecode HH:MM:SS")
SLIDE_FIELD = Integer(minimum=1, maximum=slide_mapping.MAX_SLIDE, nullable=True)
POSITION = Integer(minimum=0, maximum=10_000, description="Where among its siblings (0 first); the end if past it")
LIST = Array(Text(max_length=structure.LIST_ITEM_MAX, min_length=1), max_items=structure.LIST_MAX)
MODULE_EDIT = Object(
    {
        "title": Text(max_length=structure.TITLE_MAX, min_length=1, required=True),
        "description": Text(max_length=structure.DESCRIPTION_MAX, nullable=True),
        "learning_goal": Text(max_length=structure.GOAL_MAX, nullable=True),
        "expected_knowledge": LIST,
        "expected_skills": LIST,
        "difficulty": Choice(structure.DIFFICULTIES, nullable=True),
        "position": POSITION,
    }
)
LESSON_EDIT = Object(
    {
        "title": Text(max_length=structure.TITLE_MAX, min_length=1, required=True),
        "video_start_timecode": TIMECODE_FIELD,
        "video_end_timecode": TIMECODE_FIELD,
        "slide_start": SLIDE_FIELD,
        "slide_end": SLIDE_FIELD,
        "position": POSITION,
    }
)
CONCEPT_EDIT = Object(
    {
        "title": Text(max_length=structure.TITLE_MAX, min_length=1, required=True),
        "definition": Text(max_length=structure.DEFINITION_MAX, min_length=1, required=True),
        "examples": Array(Text(max_length=structure.EXAMPLE_MAX, min_length=1), max_items=structure.EXAMPLES_MAX),
        "timecodes": Array(
            Text(max_length=8, pattern=TIMECODE_PATTERN, pattern_hint="a timecode HH:MM:SS"),
            max_items=structure.TIMECODES_MAX,
        ),
        "slide_references": Array(
            Integer(minimum=1, maximum=slide_mapping.MAX_SLIDE), max_items=structure.SLIDE_REFERENCES_MAX
        ),
        "web_references": Array(
            Object(
                {
                    "url": Text(max_length=structure.URL_MAX, min_length=1, required=True),
                    "title": Text(max_length=structure.TITLE_MAX, nullable=True),
                }
            ),
            max_items=structure.WEB_REFERENCES_MAX,
        ),
        "position": POSITION,
    }
)
EXERCISE_EDIT = Object(
    {
        "description": Text(max_length=structure.DESCRIPTION_MAX, min_length=1, required=True),
        "reference_solution": Text(max_length=structure.SOLUTION_MAX, nullable=True),
        "grading_criteria": Text(max_length=structure.DESCRIPTION_MAX, nullable=True),
        "difficulty": Integer(
            minimum=structure.EXERCISE_DIFFICULTY[0], maximum=structure.EXERCISE_DIFFICULTY[1], required=True
        ),
        "position": POSITION,
    }
)
EDITS = {"modules": MODULE_EDIT, "lessons": LESSON_EDIT, "concepts": CONCEPT_EDIT, "exercises": EXERCISE_EDIT}
PATCHES = {kind: Object(edit.fields, min_properties=1) for kind, edit in EDITS.items()}
ITEM_NAMES = {"modules": "Module", "lessons": "Lesson", "concepts": "Concept", "exercises": "Exercise"}

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
        "edited": {"type": "boolean"},
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
        "edited": {"type": "boolean"},
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
    "edited": {"type": "boolean", "description": "The author edited a field of it or added it"},
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
        "edited": {"type": "boolean"},
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
    **{f"{ITEM_NAMES[kind]}Input": edit.schema() for kind, edit in EDITS.items()},
    **{f"{ITEM_NAMES[kind]}Patch": patch.schema(require=False) for kind, patch in PATCHES.items()},
    "ModuleItem": obj({k: v for k, v in MODULE["properties"].items() if k != "lessons"}),
    "LessonItem": obj(
        {**{k: v for k, v in LESSON_FIELDS.items() if k not in ("concepts", "exercises")}, "module_id": UUID}
    ),
    "ConceptItem": obj({**CONCEPT["properties"], "lesson_id": UUID}),
    "ExerciseItem": obj({**EXERCISE["properties"], "lesson_id": UUID}),
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
