"""The course flow through the gateway: what a learning platform does."""

import requests

from tests.services.courses.reading import read_after_foreign_write


def test_full_course_crud_through_the_gateway(stack, tenant):
    base = f"{stack.gateway_url}/api/v1/courses"
    headers = {"X-API-Key": tenant.make_key().secret}
    with requests.Session() as http:
        created = http.post(base, json={"title": "Intro"}, headers=headers, timeout=10)
        assert created.status_code == 201
        course_url = f"{base}/{created.json()['id']}"
        assert http.get(base, headers=headers, timeout=10).json()["items"][0]["id"] == created.json()["id"]
        first = http.get(course_url, headers=headers, timeout=10)
        assert first.status_code == 200 and first.json()["modules"] == []
        assert (
            http.get(course_url, headers={**headers, "If-None-Match": first.headers["ETag"]}, timeout=10).status_code
            == 304
        )
        assert (
            http.patch(course_url, json={"title": "Intro II"}, headers=headers, timeout=10).json()["title"]
            == "Intro II"
        )
        assert http.delete(course_url, headers=headers, timeout=10).status_code == 204
        gone = http.get(course_url, headers=headers, timeout=10)
        assert gone.status_code == 404 and gone.json()["title"] == "Not found"


def test_another_tenant_gets_404_and_an_empty_list_through_the_gateway(stack, tenant, other_tenant):
    owner = {"X-API-Key": tenant.make_key().secret}
    intruder = {"X-API-Key": other_tenant.make_key().secret}
    base = f"{stack.gateway_url}/api/v1/courses"
    course_id = requests.post(base, json={"title": "Private"}, headers=owner, timeout=10).json()["id"]
    assert requests.get(f"{base}/{course_id}", headers=intruder, timeout=10).status_code == 404
    assert requests.get(f"{base}/{course_id}/slide-mapping", headers=intruder, timeout=10).status_code == 404
    assert requests.get(base, headers=intruder, timeout=10).json() == {
        "items": [],
        "total": 0,
        "limit": 20,
        "next_cursor": None,
    }


def test_cost_report_and_course_health_are_routed(stack, tenant):
    headers = {"X-API-Key": tenant.make_key(("check",)).secret}
    assert requests.get(f"{stack.gateway_url}/api/v1/reports/cost", headers=headers, timeout=10).status_code == 200
    assert requests.get(f"{stack.gateway_url}/health/courses", timeout=10).json()["status"] == "ok"


def test_every_courses_worker_serves_a_write_within_moments_of_its_commit(stack, tenant, db):
    """Each gunicorn worker caches the document until PostgreSQL says the course changed: a
    write through the API or straight in SQL shows on the reads after it, whichever worker
    serves them. (A read can reach a worker before PostgreSQL's listener backend has sent that
    worker the notification, a window of milliseconds under load: reads are repeated up to
    tests/services/courses/reading.py's bound.)"""
    from devstack.seed import seed_structure

    headers = {"X-API-Key": tenant.make_key().secret}
    base = f"{stack.gateway_url}/api/v1/courses"
    with requests.Session() as http:
        course_url = f"{base}/{http.post(base, json={'title': 'Cached'}, headers=headers, timeout=10).json()['id']}"
        for round_number in range(5):
            for _ in range(12):  # warm every worker's cache
                assert http.get(course_url, headers=headers, timeout=10).status_code == 200
            title = f"Cached {round_number}"
            assert http.patch(course_url, json={"title": title}, headers=headers, timeout=10).status_code == 200
            read = read_after_foreign_write(
                lambda: http.get(course_url, headers=headers, timeout=10).json(), lambda doc, t=title: doc["title"] == t
            )
            assert read["title"] == title
        seed_structure(db, tenant.id, course_url.rsplit("/", 1)[1], modules=1, lessons=1, concepts=1, exercises=0)
        read = read_after_foreign_write(
            lambda: http.get(course_url, headers=headers, timeout=10).json(), lambda doc: bool(doc["modules"])
        )
        assert [m["title"] for m in read["modules"]] == ["Module 1"]


def test_a_course_post_retried_with_one_idempotency_key_through_the_gateway_creates_one(stack, tenant, db):
    headers = {"X-API-Key": tenant.make_key().secret, "Idempotency-Key": "retry-of-create-1"}
    url = f"{stack.gateway_url}/api/v1/courses"
    answers = [requests.post(url, json={"title": "Idempotent"}, headers=headers, timeout=10) for _ in range(3)]
    assert [a.status_code for a in answers] == [201, 201, 201]
    assert len({a.json()["id"] for a in answers}) == 1
    assert [a.headers.get("Idempotent-Replayed") for a in answers] == [None, "true", "true"]
    query = "SELECT count(*) FROM courses WHERE tenant_id = %s AND title = 'Idempotent'"
    assert db.execute(query, (tenant.id,)).fetchone() == (1,)
