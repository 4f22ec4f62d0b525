"""The check scope through the gateway: a student's answer graded by the stack's local model,
read back and listed, the student's progress, and concept search with its cached embedding."""

import pytest
import requests

from libs.store import structure
from tests.fakes import course_model as fakes
from tests.services.agent.check_helpers import exercise_ids, known_structure


@pytest.fixture
def course(stack, db, tenant) -> str:
    owner = {"X-API-Key": tenant.make_key(("prep",)).secret}
    answer = requests.post(f"{stack.gateway_url}/api/v1/courses", json={"title": "Python"}, headers=owner, timeout=10)
    course_id = answer.json()["id"]
    structure.replace(db, tenant.id, course_id, known_structure(embeddings=True))
    return course_id


def test_a_student_submits_reads_the_grade_sees_progress_and_searches(stack, db, tenant, course):
    student = {"X-API-Key": tenant.make_key(("check",)).secret}
    base = f"{stack.gateway_url}/api/v1"
    loops = exercise_ids(db, tenant.id, course)[1]
    submissions = f"{base}/courses/{course}/exercises/{loops}/submissions"
    body = {"student_id": "platform-user-42", "answer": f"{fakes.GRADE_WRONG} a loop is a variable"}
    posted = requests.post(submissions, json=body, headers=student, timeout=30)
    assert posted.status_code == 201, posted.text
    assert (posted.json()["score"], posted.json()["passed"]) == (fakes.WRONG_SCORE, False)
    read = requests.get(f"{stack.gateway_url}{posted.headers['Location']}", headers=student, timeout=10)
    assert read.status_code == 200 and read.json() == posted.json()
    listed = requests.get(submissions, params={"student_id": "platform-user-42"}, headers=student, timeout=10).json()
    assert [s["id"] for s in listed["items"]] == [posted.json()["id"]]

    progress = requests.get(
        f"{base}/students/platform-user-42/progress", params={"course_id": course}, headers=student, timeout=10
    ).json()
    assert (progress["attempted"], progress["passed"], progress["completion"]) == (1, 0, 0.0)
    assert [c["title"] for lesson in progress["to_review"] for c in lesson["concepts"]] == ["For loops"]

    found = requests.get(
        f"{base}/courses/{course}/search", params={"q": "for loop over a sequence"}, headers=student, timeout=10
    ).json()
    assert found["method"] == "embedding" and found["items"][0]["title"] == "For loops"


def test_another_tenant_gets_404_from_every_check_endpoint_through_the_gateway(stack, db, tenant, other_tenant, course):
    base = f"{stack.gateway_url}/api/v1"
    exercise = exercise_ids(db, tenant.id, course)[0]
    intruder = {"X-API-Key": other_tenant.make_key().secret}
    submissions = f"{base}/courses/{course}/exercises/{exercise}/submissions"
    answers = [
        requests.post(submissions, json={"student_id": "s", "answer": "a"}, headers=intruder, timeout=10),
        requests.get(submissions, params={"student_id": "s"}, headers=intruder, timeout=10),
        requests.get(f"{base}/students/s/progress", params={"course_id": course}, headers=intruder, timeout=10),
        requests.get(f"{base}/courses/{course}/search", params={"q": "loops"}, headers=intruder, timeout=10),
    ]
    assert [a.status_code for a in answers] == [404, 404, 404, 404]
    assert all(a.headers["Content-Type"].startswith("application/json") for a in answers)
