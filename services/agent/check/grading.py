"""Grading one answer: the prompt (the answer delimited as data), the grade's JSON Schema, the
router call, and the grade stored with its model, prompt version and cost."""

from __future__ import annotations

import re
from typing import Any

import psycopg

from libs.llm.router import LlmRouter, Result
from services.agent.architect import templates
from services.agent.check import submissions

ACTION = "homework_check"
PROMPT = "homework_check.v1"
MAX_OUTPUT_TOKENS = 2048
_TEXT = {"type": "string", "maxLength": 5000}
# What the model must answer; the router rejects anything else (a score of 1000, a missing
# criterion, an extra field) and asks once for a repair before trying the next model.
GRADE_SCHEMA: dict[str, Any] = {
    "title": "homework_check",
    "type": "object",
    "additionalProperties": False,
    "required": ["score", "passed", "feedback", "criteria"],
    "properties": {
        "score": {"type": "integer", "minimum": submissions.SCORE_RANGE[0], "maximum": submissions.SCORE_RANGE[1]},
        "passed": {"type": "boolean"},
        "feedback": _TEXT,
        "criteria": {
            "type": "array",
            "maxItems": 50,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["criterion", "met", "comment"],
                "properties": {"criterion": _TEXT, "met": {"type": "boolean"}, "comment": _TEXT},
            },
        },
    },
}
# The tags that delimit data in the prompt: inside data they are neutralised, so an answer
# cannot close its own block and speak outside it.
_OUR_TAGS = re.compile(r"<(?=\s*/?\s*(?:exercise|grading_criteria|reference_solution|student_answer)\b)", re.I)


def data(text: str) -> str:
    """``text`` safe to place inside a data block of the prompt."""
    return _OUR_TAGS.sub("&lt;", text)


def messages(exercise: dict, answer: str) -> tuple[str, str]:
    """The system and user messages grading ``answer`` to ``exercise`` (a
    ``libs.store.structure.exercise`` row): the rules are fixed text, everything else is data."""
    return templates.load(PROMPT).render(
        user={
            "exercise": data(exercise["description"]),
            "criteria": data(exercise["grading_criteria"] or "(none given: judge by the exercise and the solution)"),
            "reference_solution": data(exercise["reference_solution"] or "(none given)"),
            "answer": data(answer),
        }
    )


def grade(
    router: LlmRouter, *, tenant_id: str, job_id: str, exercise: dict, answer: str, strategy: str = "default"
) -> Result:
    """Ask ``homework_check``'s chain for a grade valid against :data:`GRADE_SCHEMA`; the
    router's NoProviderConfigured / AllModelsFailed pass through. Calls are logged under the
    submission's job, so its cost is the tenant's."""
    system, user = messages(exercise, answer)
    return router.complete_json(
        tenant_id=tenant_id,
        job_id=job_id,
        action=ACTION,
        schema=GRADE_SCHEMA,
        system=system,
        user=user,
        strategy=strategy,
        prompt_version=PROMPT,
        max_tokens=MAX_OUTPUT_TOKENS,
    )


def store(conn: psycopg.Connection, tenant_id: str, submission_id: str, result: Result) -> bool:
    """Write the grade to the submission; ``False`` if it was graded already."""
    return submissions.record_grade(
        conn,
        tenant_id,
        submission_id,
        result.data,
        model=result.model,
        provider=result.provider,
        prompt_version=PROMPT,
        cost_usd=result.cost_usd,
    )


def summary(submission_id: str, result: Result) -> dict:
    """What the grading job's result says."""
    return {
        "submission_id": submission_id,
        "score": result.data["score"],
        "passed": result.data["passed"],
        "model": result.model,
        "cost_usd": float(result.cost_usd),
    }
