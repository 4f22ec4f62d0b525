"""HTTP resources of the check scope: submissions, a student's progress, concept search."""

from __future__ import annotations

from typing import Any, ClassVar

import falcon
from psycopg_pool import ConnectionPool

from libs.access.auth import tenant_of
from libs.errors import NotFound
from libs.http.openapi import Operations, error, json_content, ref
from libs.http.pagination import PARAMETERS, page_request, page_schema
from libs.http.routing import API_PREFIX
from libs.http.validation import (
    UUID_PATTERN,
    Choice,
    Integer,
    Object,
    Text,
    check,
    json_body,
    query,
    query_parameters,
    raise_problems,
)
from libs.http.validation import validate as validate_body
from libs.llm.registry import STRATEGIES
from libs.store import courses, structure
from services.agent.check import submissions
from services.agent.check.progress import progress
from services.agent.check.search import METHODS, ConceptSearch
from services.agent.check.submit import Submitter

# Declared once: the body, the list's query, the progress path and the OpenAPI document read it.
STUDENT_ID = Text(
    max_length=submissions.STUDENT_ID_MAX,
    min_length=1,
    required=True,
    # it names a path segment (/students/{student_id}/progress): a "/" would make an id that
    # can be stored but never read back
    forbidden="/",
    description="The tenant's own opaque id of the student (any text without '/')",
)
SUBMISSION_REQUEST = Object(
    {
        "student_id": STUDENT_ID,
        "answer": Text(
            max_length=submissions.ANSWER_MAX,
            min_length=1,
            required=True,
            description=f"The student's answer, at most {submissions.ANSWER_MAX} characters",
        ),
        "strategy": Choice(STRATEGIES, description="Which model chain grades it (default when absent)"),
    }
)
LIST_QUERY = {"student_id": STUDENT_ID}
PROGRESS_QUERY = {
    "course_id": Text(
        max_length=36, required=True, pattern=UUID_PATTERN, pattern_hint="a course id (UUID)", format="uuid"
    )
}
SEARCH_LIMIT = 10
SEARCH_QUERY = {
    "q": Text(max_length=500, min_length=1, required=True, description="The question or words to look for"),
    "limit": Integer(minimum=1, maximum=50, description=f"Hits to return (default {SEARCH_LIMIT})"),
}
_STUDENT_PATH = {"name": "student_id", "in": "path", "required": True, "schema": STUDENT_ID.schema()}


def _location(course_id: object, exercise_id: object, submission_id: object) -> str:
    return f"{API_PREFIX}/courses/{course_id}/exercises/{exercise_id}/submissions/{submission_id}"


class Submissions:
    """``POST``: submit an answer for grading; ``GET``: a student's submissions of the exercise."""

    openapi: ClassVar[Operations] = {
        "POST": {
            "summary": "Grade a student's answer against the exercise's criteria",
            "description": "Answers 201 with the graded submission when grading finishes within the configured"
            " wait (GRADING_WAIT_SECONDS, 20 s by default), otherwise 202 with the submission still grading and"
            " its job_id; GET the submission (Location) or the job to follow it.",
            "requestBody": {"required": True, "content": json_content(ref("SubmissionRequest"))},
            "responses": {
                "201": {"description": "Graded", "content": json_content(ref("Submission"))},
                "202": {"description": "Still grading: follow job_id", "content": json_content(ref("Submission"))},
                "402": error("This month's LLM budget is spent"),
                "503": error("No LLM provider is configured"),
            },
        },
        "GET": {
            "summary": "A student's submissions of the exercise, newest first",
            "parameters": [*query_parameters(LIST_QUERY), *PARAMETERS],
            "responses": {"200": {"description": "One page", "content": json_content(ref("SubmissionPage"))}},
        },
    }

    def __init__(self, pool: ConnectionPool, submitter: Submitter | None) -> None:
        self._pool = pool
        self._submitter = submitter

    def on_post(self, req: falcon.Request, resp: falcon.Response, course_id: object, exercise_id: object) -> None:
        body = validate_body(json_body(req), SUBMISSION_REQUEST)
        submission = self._submitter.submit(
            tenant_of(req),
            str(course_id),
            str(exercise_id),
            body["student_id"],
            body["answer"],
            body.get("strategy") or "default",
        )
        resp.status = falcon.HTTP_201 if submission["status"] == "graded" else falcon.HTTP_202
        resp.location = _location(course_id, exercise_id, submission["id"])
        resp.media = submission

    def on_get(self, req: falcon.Request, resp: falcon.Response, course_id: object, exercise_id: object) -> None:
        student = query(req, LIST_QUERY)["student_id"]
        request = page_request(req)
        tenant, course = tenant_of(req), str(course_id)
        with self._pool.connection() as conn, conn.transaction():
            courses.require(conn, tenant, course)
            # the same 404 as a POST to an unknown exercise: no empty list for an id that never was
            exercise = str(exercise_id)
            if not (
                structure.has_exercise(conn, tenant, course, exercise)
                or submissions.submitted_to(conn, tenant, course, exercise)
            ):
                raise NotFound("No exercise with this id in this course.")
            resp.media = submissions.page(conn, tenant, course, exercise, student, request)


class Submission:
    """One submission, graded or not yet."""

    openapi: ClassVar[Operations] = {
        "GET": {
            "summary": "One submission with its grade (status grading, graded or failed)",
            "responses": {"200": {"description": "The submission", "content": json_content(ref("Submission"))}},
        }
    }

    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool

    def on_get(
        self, req: falcon.Request, resp: falcon.Response, course_id: object, exercise_id: object, submission_id: object
    ) -> None:
        with self._pool.connection() as conn:
            resp.media = submissions.get_of_exercise(
                conn, tenant_of(req), str(course_id), str(exercise_id), str(submission_id)
            )


class Progress:
    """A student's progress in one course."""

    openapi: ClassVar[Operations] = {
        "GET": {
            "summary": "A student's progress in a course: per module and lesson, and concepts to review",
            "parameters": [_STUDENT_PATH, *query_parameters(PROGRESS_QUERY)],
            "responses": {"200": {"description": "The progress", "content": json_content(ref("Progress"))}},
        }
    }

    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool

    def on_get(self, req: falcon.Request, resp: falcon.Response, student_id: str) -> None:
        problems: list[tuple[str, str]] = []
        check("student_id", student_id, STUDENT_ID, problems)
        raise_problems(problems)
        course = query(req, PROGRESS_QUERY)["course_id"].lower()
        resp.media = progress(self._pool, tenant_of(req), course, student_id)


class Search:
    """Concepts of a course ranked by similarity to a question."""

    openapi: ClassVar[Operations] = {
        "GET": {
            "summary": "Search the course's concepts (embeddings, or full text where the course has none)",
            "parameters": query_parameters(SEARCH_QUERY),
            "responses": {"200": {"description": "The hits, best first", "content": json_content(ref("SearchResult"))}},
        }
    }

    def __init__(self, searcher: ConceptSearch | None) -> None:
        self._searcher = searcher

    def on_get(self, req: falcon.Request, resp: falcon.Response, course_id: object) -> None:
        values = query(req, SEARCH_QUERY)
        resp.media = self._searcher.search(
            tenant_of(req), str(course_id), values["q"], values.get("limit", SEARCH_LIMIT)
        )


# --- the response schemas ---------------------------------------------------------------------

_UUID = {"type": "string", "format": "uuid"}
_NULLABLE_TIMECODE = {"type": "string", "nullable": True}
_NULLABLE_INT = {"type": "integer", "nullable": True}
_PLACE = {
    "lesson": {
        "type": "object",
        "required": ["id", "title", "video_start_timecode", "slide_start"],
        "properties": {
            "id": _UUID,
            "title": {"type": "string"},
            "video_start_timecode": _NULLABLE_TIMECODE,
            "slide_start": _NULLABLE_INT,
        },
    },
    "module": {"type": "object", "required": ["id", "title"], "properties": {"id": _UUID, "title": {"type": "string"}}},
}
_REFERENCES = {
    "timecodes": {"type": "array", "items": {"type": "string"}},
    "slide_references": {"type": "array", "items": {"type": "integer"}},
}
_TOTALS: dict[str, Any] = {
    "exercises": {"type": "integer", "minimum": 0},
    "attempted": {"type": "integer", "minimum": 0, "description": "Exercises with at least one submission"},
    "passed": {"type": "integer", "minimum": 0, "description": "Exercises with a passing submission"},
    "best_score": {**_NULLABLE_INT, "minimum": submissions.SCORE_RANGE[0], "maximum": submissions.SCORE_RANGE[1]},
}
_EXERCISE_RESULT = {
    "type": "object",
    "required": ["id", "attempts", "best_score", "passed"],
    "properties": {
        "id": _UUID,
        "attempts": {"type": "integer", "minimum": 0},
        "best_score": _TOTALS["best_score"],
        "passed": {"type": "boolean"},
    },
}


def _progress_of(parts: str, part: dict) -> dict:
    """A module's or a lesson's progress: its totals and a list of its ``parts``."""
    return {
        "type": "object",
        "required": ["id", "title", *_TOTALS, parts],
        "properties": {
            "id": _UUID,
            "title": {"type": "string"},
            **_TOTALS,
            parts: {"type": "array", "items": part},
        },
    }


_LESSON_PROGRESS = _progress_of("exercise_results", _EXERCISE_RESULT)
_MODULE_PROGRESS = _progress_of("lessons", _LESSON_PROGRESS)
_TO_REVIEW = {
    "type": "object",
    "required": [*_PLACE, "concepts"],
    "properties": {
        **_PLACE,
        "concepts": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["concept_id", "title", *_REFERENCES],
                "properties": {"concept_id": _UUID, "title": {"type": "string"}, **_REFERENCES},
            },
        },
    },
}
_HIT = {
    "type": "object",
    "required": ["concept_id", "title", "definition", "score", *_REFERENCES, "web_references", *_PLACE],
    "properties": {
        "concept_id": _UUID,
        "title": {"type": "string"},
        "definition": {"type": "string"},
        "score": {
            "type": "number",
            "description": "Cosine similarity; or the full-text rank over the question's distinctive words"
            " (0 for a concept sharing with it only words common in the course, listed after the others"
            " in the course's order)",
        },
        **_REFERENCES,
        "web_references": {"type": "array", "items": {"type": "object"}},
        **_PLACE,
    },
}
SCHEMAS = {
    "SubmissionRequest": SUBMISSION_REQUEST.schema(),
    "Submission": submissions.SCHEMA,
    "SubmissionPage": page_schema(submissions.SCHEMA),
    "Progress": {
        "type": "object",
        "required": ["student_id", "course_id", *_TOTALS, "completion", "modules", "to_review", "retired"],
        "properties": {
            "student_id": {"type": "string"},
            "course_id": _UUID,
            **_TOTALS,
            "completion": {"type": "number", "minimum": 0, "maximum": 1, "description": "Exercises passed / exercises"},
            "modules": {"type": "array", "items": _MODULE_PROGRESS},
            "to_review": {
                "type": "array",
                "items": _TO_REVIEW,
                "description": "Lessons with an exercise attempted and not passed, with their concepts",
            },
            "retired": {
                "type": "array",
                "items": _EXERCISE_RESULT,
                "description": "Exercises the student worked on that a structure run or an edit removed since:"
                " their submissions stay readable, and they count in no total",
            },
        },
    },
    "SearchResult": {
        "type": "object",
        "required": ["query", "method", "fallback_reason", "items"],
        "properties": {
            "query": {"type": "string"},
            "method": {"type": "string", "enum": list(METHODS)},
            "fallback_reason": {"type": "string", "nullable": True, "description": "Why full text answered"},
            "items": {"type": "array", "items": _HIT},
        },
    },
}
