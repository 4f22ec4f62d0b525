"""OpenAPI schemas of the courses service's bodies and answers."""

from __future__ import annotations

S = {"type": "string"}
NS = {"type": "string", "nullable": True}
UUID = {"type": "string", "format": "uuid"}
TS = {"type": "string", "format": "date-time"}
STRINGS = {"type": "array", "items": S}
TIMECODE = {"type": "string", "pattern": "^[0-9]{2}:[0-5][0-9]:[0-5][0-9]$"}


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
        "difficulty": {"type": "integer", "minimum": 1, "maximum": 5},
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
        "difficulty": {"type": "string", "nullable": True, "enum": ["easy", "medium", "hard", None]},
        "lessons": {"type": "array", "items": {"$ref": "#/components/schemas/Lesson"}},
    }
)
MATERIAL = obj(
    {
        "id": UUID,
        "source_type": {"type": "string", "enum": ["video", "presentation", "text", "web"]},
        "source_url": NS,
        "filename": NS,
        "content_type": NS,
        "size_bytes": {"type": "integer", "nullable": True},
        "status": {"type": "string", "enum": ["pending", "processing", "done", "error"]},
        "error_message": NS,
        "created_at": TS,
        "updated_at": TS,
    }
)
PAIR = obj({"slide_number": {"type": "integer", "minimum": 1, "maximum": 100000}, "video_timecode": TIMECODE})
PAIR["additionalProperties"] = False
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
    "CourseInput": {
        "type": "object",
        "additionalProperties": False,
        "required": ["title"],
        "properties": {
            "title": {"type": "string", "minLength": 1, "maxLength": 300},
            "description": {"type": "string", "maxLength": 20000, "nullable": True},
            "learning_goal": {"type": "string", "maxLength": 5000, "nullable": True},
        },
    },
    "CoursePatch": {
        "type": "object",
        "additionalProperties": False,
        "minProperties": 1,
        "properties": {
            "title": {"type": "string", "minLength": 1, "maxLength": 300},
            "description": {"type": "string", "maxLength": 20000, "nullable": True},
            "learning_goal": {"type": "string", "maxLength": 5000, "nullable": True},
        },
    },
    "CoursePage": obj(
        {
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/Course"}},
            "total": {"type": "integer"},
            "limit": {"type": "integer"},
            "next_cursor": NS,
        }
    ),
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
    "Material": MATERIAL,
    "SlideMappingBatch": {
        "type": "object",
        "additionalProperties": False,
        "required": ["mappings"],
        "properties": {
            "mappings": {
                "type": "array",
                "minItems": 1,
                "maxItems": 10000,
                "items": {"$ref": "#/components/schemas/SlideVideoPair"},
            }
        },
    },
    "SlideVideoPair": PAIR,
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
