"""The course read trusts its cache only while PostgreSQL's notifications keep it true."""

import time
from collections.abc import Iterator

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from devstack.seed import seed_structure
from libs.platform.db import create_pool
from tests.services.courses.reading import read_after_foreign_write


@pytest.fixture
def counted_pool(settings) -> Iterator[ConnectionPool]:
    """A pool of the app under test alone, so its checkouts count that app's round trips."""
    pool = create_pool(settings, name="course-changes-test", max_size=4)
    pool.open(wait=True, timeout=10)
    yield pool
    pool.close()


@pytest.fixture
def reader(make_client, counted_pool):
    return make_client("courses", pool=counted_pool)


def checkouts(pool: ConnectionPool) -> int:
    return pool.get_stats().get("requests_num", 0)


def read_until_cached(reader, url: str, headers: dict, pool: ConnectionPool) -> dict:
    """Read until a read costs no checkout: the listener is up and the document cached."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        before = checkouts(pool)
        result = reader.simulate_get(url, headers=headers)
        assert result.status_code == 200
        if checkouts(pool) == before:
            return result.json
        time.sleep(0.05)
    raise AssertionError("every read still went to PostgreSQL after 10 s")


def terminate_listeners(db: psycopg.Connection) -> list[int]:
    """Every listener's backend (this test's app's among them) told to go; their pids."""
    pids = [
        pid
        for (pid,) in db.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = 'course-changes'"
        ).fetchall()
    ]
    db.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid", (pids,))
    return pids


def wait_until_gone(db: psycopg.Connection, pids: list[int]) -> None:
    deadline = time.monotonic() + 10
    while db.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)", (pids,)).fetchone()[0]:
        assert time.monotonic() < deadline, "a terminated listener backend is still there after 10 s"
        time.sleep(0.02)


def test_a_cached_read_makes_no_round_trip_to_postgresql(reader, prep, course, counted_pool):
    url = f"/api/v1/courses/{course['id']}"
    read_until_cached(reader, url, prep, counted_pool)
    before = checkouts(counted_pool)
    for _ in range(20):
        assert reader.simulate_get(url, headers=prep).status_code == 200
    assert checkouts(counted_pool) == before


def test_a_direct_sql_write_is_visible_once_its_notification_arrives(reader, prep, course, tenant, db, counted_pool):
    url = f"/api/v1/courses/{course['id']}"
    assert read_until_cached(reader, url, prep, counted_pool)["modules"] == []
    seed_structure(db, tenant.id, course["id"], modules=2, lessons=1, concepts=1, exercises=0)
    result = read_after_foreign_write(lambda: reader.simulate_get(url, headers=prep), lambda r: r.json["modules"] != [])
    assert [m["title"] for m in result.json["modules"]] == ["Module 1", "Module 2"]


def test_a_write_through_another_app_is_visible_once_its_notification_arrives(
    reader, make_client, prep, course, counted_pool
):
    url = f"/api/v1/courses/{course['id']}"
    read_until_cached(reader, url, prep, counted_pool)
    writer = make_client("courses")  # another process's app, as another gunicorn worker would be
    assert writer.simulate_patch(url, headers=prep, json={"title": "Renamed"}).status_code == 200
    result = read_after_foreign_write(
        lambda: reader.simulate_get(url, headers=prep), lambda r: r.json["title"] == "Renamed"
    )
    assert result.json["title"] == "Renamed"


def test_a_write_through_the_same_app_is_visible_on_the_next_read(reader, prep, course, counted_pool):
    url = f"/api/v1/courses/{course['id']}"
    read_until_cached(reader, url, prep, counted_pool)
    assert reader.simulate_patch(url, headers=prep, json={"title": "Renamed"}).status_code == 200
    assert reader.simulate_get(url, headers=prep).json["title"] == "Renamed"


def test_a_course_deleted_in_sql_is_not_served_from_the_cache(reader, prep, course, db, counted_pool):
    url = f"/api/v1/courses/{course['id']}"
    read_until_cached(reader, url, prep, counted_pool)
    db.execute("DELETE FROM courses WHERE id = %s", (course["id"],))
    result = read_after_foreign_write(lambda: reader.simulate_get(url, headers=prep), lambda r: r.status_code == 404)
    assert result.status_code == 404


def test_a_lost_listener_connection_does_not_serve_stale_data(reader, prep, course, tenant, db, counted_pool):
    url = f"/api/v1/courses/{course['id']}"
    read_until_cached(reader, url, prep, counted_pool)
    terminated = terminate_listeners(db)
    assert terminated
    wait_until_gone(db, terminated)  # the listener's socket holds the server's goodbye from now on
    # the change comes while no listener hears it
    seed_structure(db, tenant.id, course["id"], modules=1, lessons=1, concepts=1, exercises=0)
    assert [m["title"] for m in reader.simulate_get(url, headers=prep).json["modules"]] == ["Module 1"]


def test_the_listener_comes_back_and_the_reads_are_cached_again(reader, prep, course, db, counted_pool):
    url = f"/api/v1/courses/{course['id']}"
    read_until_cached(reader, url, prep, counted_pool)
    terminate_listeners(db)
    reader.simulate_get(url, headers=prep)  # notices the loss
    read_until_cached(reader, url, prep, counted_pool)  # within 10 s: reconnected and cached
