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
