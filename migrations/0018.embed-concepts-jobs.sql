-- depends: 0017.concept-search-vector
-- A concept the author added or whose text the author changed is embedded again by a job of
-- its own, so search follows the structure as the author leaves it.
ALTER TABLE jobs DROP CONSTRAINT jobs_kind_check;
ALTER TABLE jobs ADD CONSTRAINT jobs_kind_check
    CHECK (kind IN ('ingest_material', 'generate_structure', 'grade_submission', 'embed_concepts'));
