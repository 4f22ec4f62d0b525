-- depends: 0011.check-scope
-- Search asks, before each query, whether a course has embedded concepts and how many (up to
-- a thousand and one: exact search or the HNSW index). This index answers both from the index
-- alone, instead of visiting a thousand heap rows per search.
CREATE INDEX concepts_embedded_idx ON concepts (course_id, tenant_id) WHERE embedding IS NOT NULL;
