-- depends: 0025.llm-budgets
-- A fair queue: workers take the due job of the tenant served least recently (round robin
-- across tenants, then by due time), so one tenant's backlog does not delay every other
-- tenant's jobs by its whole length; and a running job whose row goes (its material or
-- course deleted) is told to its worker at once, which stops it.
CREATE TABLE job_turns (
    tenant_id  uuid PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    served_at  timestamptz NOT NULL
);
-- the tenants with a due job, one index probe each (a skip scan), and each one's oldest
CREATE INDEX jobs_queued_tenant_idx ON jobs (tenant_id, run_after) WHERE status = 'queued';

CREATE FUNCTION notify_job_cancelled() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('jobs_cancelled', OLD.id::text);
    RETURN NULL;
END;
$$;
CREATE TRIGGER jobs_notify_cancelled AFTER DELETE ON jobs
    FOR EACH ROW WHEN (OLD.status = 'running') EXECUTE FUNCTION notify_job_cancelled();
