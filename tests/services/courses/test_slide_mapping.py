import pytest


def url(course) -> str:
    return f"/api/v1/courses/{course['id']}/slide-mapping"


def test_posted_pairs_become_the_mapping(client, prep, course):
    pairs = [{"slide_number": 2, "video_timecode": "00:05:00"}, {"slide_number": 1, "video_timecode": "00:00:10"}]
    result = client.simulate_post(url(course), headers=prep, json={"mappings": pairs})
    assert result.status_code == 201
    assert result.json["mappings"] == sorted(pairs, key=lambda p: p["slide_number"])
    assert client.simulate_get(url(course), headers=prep).json["mappings"] == result.json["mappings"]


def test_a_new_batch_replaces_the_old_one(client, prep, course):
    client.simulate_post(
        url(course), headers=prep, json={"mappings": [{"slide_number": 1, "video_timecode": "00:00:01"}]}
    )
    client.simulate_post(
        url(course), headers=prep, json={"mappings": [{"slide_number": 9, "video_timecode": "01:00:00"}]}
    )
    assert client.simulate_get(url(course), headers=prep).json["mappings"] == [
        {"slide_number": 9, "video_timecode": "01:00:00"}
    ]


def test_batch_with_bad_items_is_422_naming_each_and_stores_nothing(client, prep, course):
    client.simulate_post(
        url(course), headers=prep, json={"mappings": [{"slide_number": 1, "video_timecode": "00:00:01"}]}
    )
    bad = [
        {"slide_number": 1, "video_timecode": "00:00:02"},
        {"slide_number": 0, "video_timecode": "00:00:03"},
        {"slide_number": 3, "video_timecode": "00:61:00"},
        {"slide_number": 2**40, "video_timecode": "00:00:04"},
        {"slide_number": 4, "video_timecode": "0:0:4"},
        {"slide_number": "5", "video_timecode": "00:00:05"},
        {"slide_number": 6},
        {"slide_number": 7, "video_timecode": "00:00:07", "extra": 1},
    ]
    result = client.simulate_post(url(course), headers=prep, json={"mappings": bad})
    assert result.status_code == 422
    description = result.json["description"]
    for path in (
        "mappings[1].slide_number",
        "mappings[2].video_timecode",
        "mappings[3].slide_number",
        "mappings[4].video_timecode",
        "mappings[5].slide_number",
        "mappings[6].video_timecode",
        "mappings[7].extra",
    ):
        assert path in description
    assert "mappings[0]" not in description
    assert client.simulate_get(url(course), headers=prep).json["mappings"] == [
        {"slide_number": 1, "video_timecode": "00:00:01"}
    ]


@pytest.mark.parametrize("body", [{}, {"mappings": []}, {"mappings": "x"}, [1], {"mappings": [1]}])
def test_malformed_batches_are_422(client, prep, course, body):
    assert client.simulate_post(url(course), headers=prep, json=body).status_code == 422


def test_duplicate_pairs_are_422(client, prep, course):
    pair = {"slide_number": 1, "video_timecode": "00:00:01"}
    result = client.simulate_post(url(course), headers=prep, json={"mappings": [pair, pair]})
    assert result.status_code == 422 and "mappings[1]" in result.json["description"]


def test_check_keys_cannot_read_the_mapping(client, tenant, course):
    headers = {"X-API-Key": tenant.make_key(("check",)).secret}
    assert client.simulate_get(url(course), headers=headers).status_code == 403
