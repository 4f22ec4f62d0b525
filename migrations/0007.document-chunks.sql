-- depends: 0006.one-revision-per-change
-- What ingestion extracts from a material: one document of typed chunks, in order. A new
-- run replaces the material's chunks; they go with their material.

CREATE TABLE document_chunks (
    tenant_id    uuid NOT NULL,
    material_id  uuid NOT NULL,
    position     integer NOT NULL CHECK (position >= 0),
    kind         text NOT NULL CHECK (kind IN ('heading', 'paragraph', 'page', 'slide', 'transcript', 'web')),
    text         text NOT NULL,
    metadata     jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (material_id, position),
    FOREIGN KEY (material_id, tenant_id) REFERENCES source_materials (id, tenant_id) ON DELETE CASCADE
);

-- the worker that claims a job is woken by NOTIFY on this channel (payload: the job's kind)
CREATE FUNCTION notify_job_queued() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('jobs_queued', NEW.kind);
    RETURN NULL;
END;
$$;
CREATE TRIGGER jobs_notify_queued AFTER INSERT OR UPDATE OF status, run_after ON jobs
    FOR EACH ROW WHEN (NEW.status = 'queued') EXECUTE FUNCTION notify_job_queued();

-- a material shows its latest ingestion job
CREATE INDEX jobs_material_idx ON jobs (material_id, created_at DESC) WHERE material_id IS NOT NULL;

ALTER TABLE jobs ADD COLUMN stage text;
ALTER TABLE jobs ADD COLUMN progress smallint NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100);
