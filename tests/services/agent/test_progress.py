"""GET /api/v1/students/{student_id}/progress at the agent's app: the student's record per
module and lesson, completion, and the concepts to review."""

from __future__ import annotations

import uuid

import pytest

from libs.store import structure
from tests.services.agent.check_helpers import exercise_ids, graded, known_structure


def url(student: str) -> str:
    return f"/api/v1/students/{student}/progress"


def test_progress_aggregates_per_module_and_lesson_with_the_concepts_to_review(client, check_key, db, tenant, course):
    variables, loops, _, _ = exercise_ids(db, tenant.id, course)
    graded(db, tenant.id, course, variables, "alice", 90)
    graded(db, tenant.id, course, loops, "alice", 30)
    graded(db, tenant.id, course, loops, "alice", 45)
    graded(db, tenant.id, course, variables, "bob", 10)  # another student's record stays his
    result = client.simulate_get(url("alice"), headers=check_key, params={"course_id": course})
    assert result.status_code == 200, result.text
    progress = result.json
    assert (progress["exercises"], progress["attempted"], progress["passed"], progress["best_score"]) == (4, 2, 1, 90)
    assert progress["completion"] == 0.25
    foundations, functions = progress["modules"]
    assert (foundations["attempted"], foundations["passed"], foundations["best_score"]) == (2, 1, 90)
    assert (functions["attempted"], functions["passed"], functions["best_score"]) == (0, 0, None)
    lesson = foundations["lessons"][1]
    assert (lesson["title"], lesson["passed"], lesson["best_score"]) == ("Loops", 0, 45)
    assert lesson["exercise_results"] == [{"id": loops, "attempts": 2, "best_score": 45, "passed": False}]
    (review,) = progress["to_review"]
    assert review["lesson"]["video_start_timecode"] == "00:10:00" and review["module"]["title"] == "Foundations"
    (concept,) = review["concepts"]
    assert (concept["title"], concept["timecodes"], concept["slide_references"]) == ("For loops", ["00:12:30"], [7])


def test_a_student_without_submissions_has_nothing_done(client, check_key, course):
    progress = client.simulate_get(url("nobody"), headers=check_key, params={"course_id": course}).json
    assert (progress["attempted"], progress["completion"], progress["to_review"]) == (0, 0.0, [])


def test_passing_a_failed_exercise_later_takes_its_lesson_off_the_review_list(client, check_key, db, tenant, course):
    loops = exercise_ids(db, tenant.id, course)[1]
    graded(db, tenant.id, course, loops, "carol", 20)
    graded(db, tenant.id, course, loops, "carol", 80)
    progress = client.simulate_get(url("carol"), headers=check_key, params={"course_id": course}).json
    assert (progress["passed"], progress["to_review"]) == (1, [])


@pytest.mark.parametrize(
    ("student", "params", "field"),
    [
        ("alice", {}, "course_id"),
        ("alice", {"course_id": "not-a-uuid"}, "course_id"),
        ("x" * 201, {"course_id": str(uuid.uuid4())}, "student_id"),
    ],
)
def test_bad_parameters_are_422_naming_them(client, check_key, student, params, field):
    result = client.simulate_get(url(student), headers=check_key, params=params)
    assert result.status_code == 422
    assert result.json["errors"][0]["field"] == field


def test_another_tenants_course_is_404_and_prep_keys_are_403(client, tenant, other_tenant, course):
    intruder = {"X-API-Key": other_tenant.make_key(("check",)).secret}
    assert client.simulate_get(url("alice"), headers=intruder, params={"course_id": course}).status_code == 404
    prep = {"X-API-Key": tenant.make_key(("prep",)).secret}
    assert client.simulate_get(url("alice"), headers=prep, params={"course_id": course}).status_code == 403


def test_progress_spends_the_check_bucket(client, check_key, tenant, redis_client, course):
    client.simulate_get(url("alice"), headers=check_key, params={"course_id": course})
    assert redis_client.hgetall(f"ratelimit:{tenant.id}:check")


def test_a_rerun_keeps_the_students_record_and_lists_a_removed_exercise_as_retired(
    client, check_key, db, tenant, course
):
    variables, loops, functions, _ = exercise_ids(db, tenant.id, course)
    graded(db, tenant.id, course, variables, "dana", 90)
    graded(db, tenant.id, course, functions, "dana", 40)
    # the same structure again, less the "Defining functions" lesson's exercise
    rerun = known_structure(embeddings=False)
    rerun[1]["lessons"][0]["exercises"] = []
    structure.replace(db, tenant.id, course, rerun)
    assert exercise_ids(db, tenant.id, course)[:2] == [variables, loops]  # kept, with their ids
    progress = client.simulate_get(url("dana"), headers=check_key, params={"course_id": course}).json
    assert (progress["exercises"], progress["attempted"], progress["passed"]) == (3, 1, 1)
    assert progress["retired"] == [{"id": functions, "attempts": 1, "best_score": 40, "passed": False}]
    # the retired exercise's submissions stay readable
    listing = client.simulate_get(
        f"/api/v1/courses/{course}/exercises/{functions}/submissions", headers=check_key, params={"student_id": "dana"}
    )
    assert listing.status_code == 200 and listing.json["total"] == 1
