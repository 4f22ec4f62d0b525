"""What the check scope's tests share: a course with a known structure (exercises with
criteria, concepts with the fake model's embeddings), and submissions written straight to the
table for tests about reading them."""

from __future__ import annotations

import uuid
from decimal import Decimal

import psycopg

from libs.jobs import queue
from libs.store import courses, structure
from services.agent.check import submissions
from tests.fakes.course_model import embed_text

CRITERIA = "Names the idea; gives an example"
# (module, lesson, concept title, concept definition)
CONCEPTS = [
    ("Foundations", "Variables", "Variables", "A variable is a name bound to a value."),
    ("Foundations", "Loops", "For loops", "A for loop repeats a block of code once for each item of a sequence."),
    ("Functions", "Defining functions", "Functions", "A function is a named block of code that takes arguments."),
    ("Functions", "Recursion", "Recursion", "Recursion is a function calling itself on a smaller problem."),
]


def known_structure(*, embeddings: bool) -> list[dict]:
    """Two modules of two lessons, one concept and one exercise each; concepts embedded as the
    ArchitectAgent does it (``title: definition``) by the fake model when ``embeddings``."""
    modules: dict[str, dict] = {}
    for n, (module, lesson, title, definition) in enumerate(CONCEPTS):
        modules.setdefault(module, {"title": module, "lessons": []})["lessons"].append(
            {
                "title": lesson,
                "video_start_timecode": f"00:{n * 10:02d}:00",
                "slide_start": n * 5 + 1,
                "slide_end": n * 5 + 5,
                "concepts": [
                    {
                        "title": title,
                        "definition": definition,
                        "timecodes": [f"00:{n * 10 + 2:02d}:30"],
                        "slide_references": [n * 5 + 2],
                        "embedding": embed_text(f"{title}: {definition}") if embeddings else None,
                    }
                ],
                "exercises": [
                    {
                        "description": f"Explain {title.lower()} with an example.",
                        "reference_solution": definition,
                        "grading_criteria": CRITERIA,
                        "difficulty": 2,
                    }
                ],
            }
        )
    return list(modules.values())


def course_with_structure(db: psycopg.Connection, tenant_id: str, *, embeddings: bool = True) -> str:
    course_id = str(courses.create(db, tenant_id, {"title": "Python"})["id"])
    structure.replace(db, tenant_id, course_id, known_structure(embeddings=embeddings))
    return course_id


def exercise_ids(db: psycopg.Connection, tenant_id: str, course_id: str) -> list[str]:
    """The course's exercises in the order of CONCEPTS."""
    modules = structure.read(db, tenant_id, course_id)
    return [str(e["id"]) for m in modules for lesson in m["lessons"] for e in lesson["exercises"]]


def submitted(
    db: psycopg.Connection,
    tenant_id: str,
    course_id: str,
    exercise_id: str,
    *,
    student_id: str = "s",
    answer: str = "an answer",
    job_delay_seconds: int | None = None,
) -> tuple[str, str | None]:
    """A submission still ``grading``, written as the API writes it but without its grading:
    (its id, its ``grade_submission`` job's id), the job due after ``job_delay_seconds``, or no
    job when that is None."""
    submission_id = str(uuid.uuid4())
    with db.transaction():
        job_id = None
        if job_delay_seconds is not None:
            job_id = queue.enqueue(
                db,
                tenant_id,
                "grade_submission",
                course_id=course_id,
                payload={"submission_id": submission_id},
                delay_seconds=job_delay_seconds,
            )
        submissions.create(
            db,
            tenant_id,
            submission_id=submission_id,
            course_id=course_id,
            exercise_id=exercise_id,
            student_id=student_id,
            answer=answer,
            job_id=job_id,
        )
    return submission_id, job_id


def graded(
    db: psycopg.Connection, tenant_id: str, course_id: str, exercise_id: str, student_id: str, score: int
) -> str:
    """A submission graded ``score`` (passed from 60), without a model call."""
    submission_id, _ = submitted(db, tenant_id, course_id, exercise_id, student_id=student_id)
    grade = {"score": score, "passed": score >= 60, "feedback": "ok", "criteria": []}
    submissions.record_grade(
        db, tenant_id, submission_id, grade, model="m", provider="openai", prompt_version="p", cost_usd=Decimal(0)
    )
    return submission_id
