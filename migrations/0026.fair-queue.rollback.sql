DROP TRIGGER jobs_notify_cancelled ON jobs;
DROP FUNCTION notify_job_cancelled();
DROP INDEX jobs_queued_tenant_idx;
DROP TABLE job_turns;
