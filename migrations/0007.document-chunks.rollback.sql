ALTER TABLE jobs DROP COLUMN progress;
ALTER TABLE jobs DROP COLUMN stage;
DROP INDEX jobs_material_idx;
DROP TRIGGER jobs_notify_queued ON jobs;
DROP FUNCTION notify_job_queued();
DROP TABLE document_chunks;
