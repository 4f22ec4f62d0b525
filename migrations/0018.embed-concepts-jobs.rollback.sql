DELETE FROM jobs WHERE kind = 'embed_concepts';
ALTER TABLE jobs DROP CONSTRAINT jobs_kind_check;
ALTER TABLE jobs ADD CONSTRAINT jobs_kind_check
    CHECK (kind IN ('ingest_material', 'generate_structure', 'grade_submission'));
