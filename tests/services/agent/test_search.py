"""GET /api/v1/courses/{id}/search at the agent's app: cosine ranking over concept embeddings
made by the stack's fake model (a bag of words, tests/fakes/course_model.py), the query's
embedding cached in Redis, and full-text search where a course has no embeddings."""

from __future__ import annotations

import re
import uuid

import pytest

from devstack.seed import made_up_structure
from libs.store import concept_search, courses, structure
from services.agent.check.resources import Search
from services.agent.check.search import cache_key
from tests.fakes import course_model as fakes
from tests.services.agent.check_helpers import course_with_structure


def url(course: str) -> str:
    return f"/api/v1/courses/{course}/search"


def embedding_requests(course_model, text: str) -> int:
    return sum(1 for r in course_model.requests if r.path.endswith("/embeddings") and r.json["input"] == [text])


def test_concepts_are_ranked_by_embedding_similarity_with_their_place_and_references(client, check_key, course):
    result = client.simulate_get(url(course), headers=check_key, params={"q": "How does a for loop repeat code?"})
    assert result.status_code == 200, result.text
    found = result.json
    assert (found["method"], found["fallback_reason"]) == ("embedding", None)
    titles = [hit["title"] for hit in found["items"]]
    assert titles[0] == "For loops" and len(titles) == 4
    scores = [hit["score"] for hit in found["items"]]
    assert scores == sorted(scores, reverse=True) and scores[0] > scores[1]
    best = found["items"][0]
    assert (best["lesson"]["title"], best["module"]["title"]) == ("Loops", "Foundations")
    assert (best["timecodes"], best["slide_references"]) == (["00:12:30"], [7])


def test_limit_caps_the_hits(client, check_key, course):
    found = client.simulate_get(url(course), headers=check_key, params={"q": "recursion", "limit": 1}).json
    assert [hit["title"] for hit in found["items"]] == ["Recursion"]


def test_the_query_embedding_is_cached_so_a_repeated_question_asks_the_provider_once(
    client, check_key, course, redis_client, course_model
):
    question = f"What is a function {uuid.uuid4().hex}?"
    for spelling in (question, f"  {question.upper()} "):
        assert client.simulate_get(url(course), headers=check_key, params={"q": spelling}).status_code == 200
    assert embedding_requests(course_model, question.lower()) == 1  # the normalised question, once
    assert redis_client.ttl(cache_key(fakes.EMBEDDING_MODEL, question)) > 0


def test_a_course_without_embeddings_is_searched_by_full_text_and_says_so(client, check_key, db, tenant):
    course = course_with_structure(db, tenant.id, embeddings=False)
    found = client.simulate_get(url(course), headers=check_key, params={"q": "function calling itself"}).json
    assert (found["method"], found["fallback_reason"]) == ("full_text", "the course has no embeddings")
    # more of the question's words first; concepts sharing none are not hits
    assert [hit["title"] for hit in found["items"]] == ["Recursion", "Functions"]
    assert found["items"][0]["lesson"]["title"] == "Recursion"


def big_course_without_embeddings(db, tenant_id: str) -> str:
    """100 concepts ("Concept 1.1.1" … "Concept 2.5.10"), each with the same definition: every
    word but the numbers is common."""
    course_id = str(courses.create(db, tenant_id, {"title": "Numbered"})["id"])
    structure.replace(db, tenant_id, course_id, made_up_structure(modules=2, lessons=5, concepts=10, exercises=0))
    return course_id


def test_words_most_of_a_big_course_has_are_not_ranked_and_their_concepts_follow_in_course_order(
    client, check_key, db, tenant
):
    course = big_course_without_embeddings(db, tenant.id)
    found = client.simulate_get(url(course), headers=check_key, params={"q": "the concept 2.3.4", "limit": 4}).json
    assert found["method"] == "full_text"
    titles = [hit["title"] for hit in found["items"]]
    assert titles == ["Concept 2.3.4", "Concept 1.1.1", "Concept 1.1.2", "Concept 1.1.3"]
    assert found["items"][0]["score"] > 0 and all(hit["score"] == 0 for hit in found["items"][1:])


def test_a_course_whose_words_are_all_common_answers_in_course_order(client, check_key, db, tenant):
    course = big_course_without_embeddings(db, tenant.id)
    found = client.simulate_get(url(course), headers=check_key, params={"q": "definition", "limit": 2}).json
    assert [hit["title"] for hit in found["items"]] == ["Concept 1.1.1", "Concept 1.1.2"]


def test_a_course_s_common_words_are_counted_once_per_revision(client, check_key, db, tenant, monkeypatch):
    course = big_course_without_embeddings(db, tenant.id)
    counted = []
    count = concept_search.common_words
    monkeypatch.setattr(concept_search, "common_words", lambda *args: counted.append(args) or count(*args))
    for q in ("concept", "the definition", "concept"):
        assert client.simulate_get(url(course), headers=check_key, params={"q": q}).status_code == 200
    assert len(counted) == 1
    db.execute("UPDATE courses SET revision = revision + 1 WHERE id = %s", (course,))  # what every change does
    assert client.simulate_get(url(course), headers=check_key, params={"q": "concept"}).status_code == 200
    assert len(counted) == 2


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "q"),
        ({"q": ""}, "q"),
        ({"q": "x" * 501}, "q"),
        ({"q": "a", "limit": 0}, "limit"),
        ({"q": "a", "limit": 51}, "limit"),
    ],
)
def test_bad_parameters_are_422_naming_them(client, check_key, course, params, field):
    result = client.simulate_get(url(course), headers=check_key, params=params)
    assert result.status_code == 422
    assert result.json["errors"][0]["field"] == field


# Strings at the edge of "blank": each whitespace character str.strip() removes (U+001C-U+001F
# and U+0085 are not in ECMA's \s; U+00A0, U+3000 not in Python's ASCII \s, which schemathesis
# reads patterns with), and U+FEFF, which ECMA's \s has and str.strip() keeps.
EDGES = [
    *(chr(c) for c in range(0x3001) if chr(c).isspace()),
    "\x1e\x1e",
    " \x85\u3000 ",
    "\ufeff",
    "\ufeffloops",
    "\x1cloops\x1f",
]


@pytest.mark.parametrize("q", EDGES, ids=ascii)
def test_the_published_pattern_of_q_allows_exactly_what_search_accepts(client, check_key, course, q):
    (parameter,) = [p for p in Search.openapi["GET"]["parameters"] if p["name"] == "q"]
    pattern = parameter["schema"]["pattern"]
    # one verdict whichever way a reader takes the pattern: ECMA, Python, Python with re.ASCII
    allowed = {re.search(pattern, q) is not None, re.search(pattern, q, re.ASCII) is not None}
    assert len(allowed) == 1, pattern
    result = client.simulate_get(url(course), headers=check_key, params={"q": q})
    assert result.status_code == (200 if allowed.pop() else 422), result.text


def test_another_tenants_course_is_404(client, other_tenant, course):
    intruder = {"X-API-Key": other_tenant.make_key().secret}
    assert client.simulate_get(url(course), headers=intruder, params={"q": "loops"}).status_code == 404
    assert client.simulate_get(url(str(uuid.uuid4())), headers=intruder, params={"q": "loops"}).status_code == 404


def test_prep_and_check_keys_may_search_and_a_key_with_both_spends_check(client, tenant, redis_client, course):
    for scopes in (("prep",), ("check",)):
        key = {"X-API-Key": tenant.make_key(scopes).secret}
        assert client.simulate_get(url(course), headers=key, params={"q": "loops"}).status_code == 200
    redis_client.delete(f"ratelimit:{tenant.id}:check", f"ratelimit:{tenant.id}:prep")
    both = {"X-API-Key": tenant.make_key(("prep", "check")).secret}
    client.simulate_get(url(course), headers=both, params={"q": "loops"})
    assert redis_client.hgetall(f"ratelimit:{tenant.id}:check")
    assert not redis_client.hgetall(f"ratelimit:{tenant.id}:prep")


def test_a_course_past_the_exact_search_size_is_searched_through_the_hnsw_index(client, check_key, course, monkeypatch):
    # 2 instead of 1000, so the four-concept course takes the index path
    monkeypatch.setattr(concept_search, "EXACT_SEARCH_MAX", 2)
    found = client.simulate_get(url(course), headers=check_key, params={"q": "How does a for loop repeat code?"}).json
    assert found["method"] == "embedding"
    assert [hit["title"] for hit in found["items"]][:1] == ["For loops"] and len(found["items"]) == 4


def test_the_index_path_plans_an_hnsw_scan_without_a_sort(db, tenant, course):
    vector = "[" + ",".join(["0.1"] * 1536) + "]"
    with db.transaction():
        db.execute("SELECT set_config('enable_sort', 'off', true)")
        plan = db.execute(
            "EXPLAIN SELECT id FROM concepts WHERE course_id = %s AND tenant_id = %s AND embedding IS NOT NULL"
            " ORDER BY embedding <=> %s::vector LIMIT 10",
            (course, tenant.id, vector),
        ).fetchall()
    text = "\n".join(row[0] for row in plan)
    assert "concepts_embedding_idx" in text and "Sort" not in text
