DROP INDEX concepts_fts_idx;
DELETE FROM jobs WHERE kind = 'grade_submission';
ALTER TABLE jobs DROP CONSTRAINT jobs_kind_check;
ALTER TABLE jobs ADD CONSTRAINT jobs_kind_check CHECK (kind IN ('ingest_material', 'generate_structure'));
DROP TABLE submissions;
