"""A student's progress in a course: the course's outline joined with the student's record per
exercise (services.agent.check.submissions.by_exercise)."""

from __future__ import annotations

from psycopg_pool import ConnectionPool

from libs.store import courses, progress_outline
from services.agent.check import submissions


def _totals(exercises: list[dict]) -> dict:
    scores = [e["best_score"] for e in exercises if e["best_score"] is not None]
    return {
        "exercises": len(exercises),
        "attempted": sum(e["attempts"] > 0 for e in exercises),
        "passed": sum(e["passed"] for e in exercises),
        "best_score": max(scores) if scores else None,
    }


def progress(pool: ConnectionPool, tenant_id: str, course_id: str, student_id: str) -> dict:
    """Per module and lesson: exercises, how many attempted and passed, the best score; the
    completion ratio (exercises passed / exercises); to review, each lesson with a failed
    exercise (attempted, never passed) with its concepts' timecodes and slides; and the
    exercises the student worked on that are no longer in the course (retired)."""
    none = {"attempts": 0, "best_score": None, "passed": False}
    module_views, review, every = [], [], []
    with pool.connection() as conn, conn.transaction():
        courses.require(conn, tenant_id, course_id)
        record = submissions.by_exercise(conn, tenant_id, course_id, student_id)
        for module in progress_outline.outline(conn, tenant_id, course_id):
            lesson_views, in_module = [], []
            for lesson in module["lessons"]:
                exercises = [{"id": e, **record.get(str(e), none)} for e in lesson["exercises"]]
                in_module += exercises
                view = {"id": lesson["id"], "title": lesson["title"], **_totals(exercises)}
                lesson_views.append({**view, "exercise_results": exercises})
                if any(e["attempts"] and not e["passed"] for e in exercises):
                    review.append((module, lesson))
            every += in_module
            module_views.append(
                {"id": module["id"], "title": module["title"], **_totals(in_module), "lessons": lesson_views}
            )
        concepts = progress_outline.concepts_of_lessons(conn, tenant_id, [lesson["id"] for _, lesson in review])
    totals = _totals(every)
    current = {str(e["id"]) for e in every}
    retired = [{"id": exercise, **result} for exercise, result in record.items() if exercise not in current]
    return {
        "student_id": student_id,
        "course_id": course_id,
        **totals,
        "completion": round(totals["passed"] / totals["exercises"], 4) if totals["exercises"] else 0.0,
        "modules": module_views,
        "to_review": [
            {
                # where the lesson starts, for concepts without references of their own
                "lesson": {
                    "id": lesson["id"],
                    "title": lesson["title"],
                    "video_start_timecode": lesson["video_start_timecode"],
                    "slide_start": lesson["slide_start"],
                },
                "module": {"id": module["id"], "title": module["title"]},
                "concepts": [
                    {
                        "concept_id": c["id"],
                        "title": c["title"],
                        "timecodes": c["timecodes"],
                        "slide_references": c["slide_references"],
                    }
                    for c in concepts.get(lesson["id"], [])
                ],
            }
            for module, lesson in review
        ],
        "retired": retired,
    }
