"""services.agent.documents: a material's chunks stored in order, read back a page at a time."""

import pytest

from libs.store import courses
from services.agent import documents
from services.agent.documents import Chunk
from tests.conftest import held_material


@pytest.fixture
def material_id(db, tenant) -> str:
    return held_material(db, tenant.id, str(courses.create(db, tenant.id, {"title": "x"})["id"]))


def test_chunks_replace_the_document_and_read_back_in_pages(db, tenant, material_id):
    documents.replace(db, tenant.id, material_id, [Chunk("paragraph", "old")])
    stored = documents.replace(db, tenant.id, material_id, [Chunk("heading", f"h{n}", {"level": 1}) for n in range(5)])
    assert stored == 5 and documents.count(db, tenant.id, material_id) == 5
    first = documents.page(db, tenant.id, material_id, after=-1, limit=2)
    assert [(c["position"], c["text"]) for c in first] == [(0, "h0"), (1, "h1")]
    assert [c["text"] for c in documents.page(db, tenant.id, material_id, after=1, limit=10)] == ["h2", "h3", "h4"]


def test_nul_characters_are_dropped_since_postgresql_cannot_store_them(db, tenant, material_id):
    chunk = Chunk("web", "before\x00after", {"url": "https://example.com/\x00x", "parts": ["a\x00b"]})
    documents.replace(db, tenant.id, material_id, [chunk])
    (stored,) = documents.read_all(db, tenant.id, material_id)
    assert (stored["text"], stored["metadata"]) == ("beforeafter", {"url": "https://example.com/x", "parts": ["ab"]})


def test_another_tenant_reads_nothing(db, tenant, other_tenant, material_id):
    documents.replace(db, tenant.id, material_id, [Chunk("paragraph", "mine")])
    assert documents.read_all(db, other_tenant.id, material_id) == []
    assert documents.count(db, other_tenant.id, material_id) == 0


def test_a_chunk_over_the_maximum_becomes_consecutive_chunks_with_its_metadata_cut_at_spaces(db, tenant, material_id):
    words = " ".join(f"word{n}" for n in range(2000))  # ~17 000 characters, one cue
    cue = Chunk("transcript", words, {"start_seconds": 1.0, "end_seconds": 9.0})
    stored = documents.replace(db, tenant.id, material_id, [Chunk("heading", "Intro", {"level": 1}), cue])
    chunks = documents.read_all(db, tenant.id, material_id)
    assert stored == len(chunks) == 1 + -(-len(words) // documents.CHUNK_MAX_CHARS)
    pieces = chunks[1:]
    assert all(len(c["text"]) <= documents.CHUNK_MAX_CHARS for c in pieces)
    assert all((c["kind"], c["metadata"]) == ("transcript", cue.metadata) for c in pieces)
    assert " ".join(c["text"] for c in pieces) == words  # cut between words, nothing lost


def test_a_chunk_without_spaces_is_cut_at_the_maximum(db, tenant, material_id):
    documents.replace(db, tenant.id, material_id, [Chunk("paragraph", "x" * 10_000)])
    lengths = [len(c["text"]) for c in documents.read_all(db, tenant.id, material_id)]
    assert lengths == [documents.CHUNK_MAX_CHARS, documents.CHUNK_MAX_CHARS, 10_000 - 2 * documents.CHUNK_MAX_CHARS]


def test_a_page_ends_at_its_byte_budget_and_always_holds_one_chunk(db, tenant, material_id, monkeypatch):
    monkeypatch.setattr(documents, "PAGE_MAX_BYTES", 2500)
    documents.replace(db, tenant.id, material_id, [Chunk("paragraph", "y" * 1000) for _ in range(5)])
    rows, cut = documents.page_within(db, tenant.id, material_id, after=-1, limit=4)
    assert [r["position"] for r in rows] == [0, 1, 2] and cut  # 2000 bytes before the third: under 2500
    monkeypatch.setattr(documents, "PAGE_MAX_BYTES", 10)
    rows, cut = documents.page_within(db, tenant.id, material_id, after=3, limit=4)
    assert [r["position"] for r in rows] == [4] and not cut


def test_the_document_route_follows_a_page_cut_by_its_budget_to_the_rest(client, db, tenant, monkeypatch):
    course = str(courses.create(db, tenant.id, {"title": "x"})["id"])
    material = held_material(db, tenant.id, course)
    documents.replace(db, tenant.id, material, [Chunk("paragraph", f"{n}" * 1000) for n in range(5)])
    monkeypatch.setattr(documents, "PAGE_MAX_BYTES", 2500)
    url, key = f"/api/v1/courses/{course}/materials/{material}/document", {"X-API-Key": tenant.make_key().secret}
    first = client.simulate_get(url, params={"limit": 10}, headers=key).json
    assert [c["position"] for c in first["items"]] == [0, 1, 2] and first["next_cursor"]
    rest = client.simulate_get(url, params={"limit": 10, "cursor": first["next_cursor"]}, headers=key).json
    assert [c["position"] for c in rest["items"]] == [3, 4] and rest["next_cursor"] is None
