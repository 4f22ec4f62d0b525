"""The materials list: oldest first, a page at a time, by an opaque cursor."""

import uuid

import pytest

from services.uploads import intake


@pytest.fixture
def course(tenant, db, pool):
    tenant_id = tenant.id
    course_id = str(
        db.execute("INSERT INTO courses (tenant_id, title) VALUES (%s, 'x') RETURNING id", (tenant_id,)).fetchone()[0]
    )
    with pool.connection() as conn:
        ids = [
            str(
                intake.create_with_job(
                    conn,
                    tenant_id,
                    material_id=str(uuid.uuid4()),
                    course_id=course_id,
                    source_type="web",
                    source_url=f"https://example.com/{n}",
                    filename=None,
                    content_type=None,
                    size=None,
                    key=None,
                )["id"]
            )
            for n in range(5)
        ]
    return {"id": course_id, "key": tenant.make_key().secret, "material_ids": ids}


def test_pages_walk_every_material_once_oldest_first(client, course):
    url, headers = f"/api/v1/courses/{course['id']}/materials", {"X-API-Key": course["key"]}
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = client.simulate_get(url, headers=headers, params=params).json
        assert (page["total"], page["limit"]) == (5, 2)
        seen += [item["id"] for item in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == course["material_ids"]
    default = client.simulate_get(url, headers=headers).json
    assert [item["id"] for item in default["items"]] == course["material_ids"] and default["next_cursor"] is None


@pytest.mark.parametrize(
    ("params", "field"),
    [({"limit": "0"}, "limit"), ({"limit": "101"}, "limit"), ({"cursor": "bm90LWEtY3Vyc29y"}, "cursor")],
)
def test_bad_page_parameters_are_422(client, course, params, field):
    result = client.simulate_get(
        f"/api/v1/courses/{course['id']}/materials", headers={"X-API-Key": course["key"]}, params=params
    )
    assert result.status_code == 422
    assert result.json["description"].startswith(f"{field}:")
