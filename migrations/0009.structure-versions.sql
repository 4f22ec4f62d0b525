-- depends: 0008.llm-call-prompt-version
-- A snapshot of each successful structure run (even when it equals the one before), and at
-- most one structure job per course queued or running at a time.

CREATE TABLE structure_versions (
    tenant_id   uuid NOT NULL,
    course_id   uuid NOT NULL,
    version     integer NOT NULL CHECK (version >= 1),
    job_id      uuid REFERENCES jobs (id) ON DELETE SET NULL,
    model       text,
    cost_usd    numeric(14, 6) NOT NULL DEFAULT 0 CHECK (cost_usd >= 0),
    counts      jsonb NOT NULL DEFAULT '{}',
    document    jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (course_id, version),
    FOREIGN KEY (course_id, tenant_id) REFERENCES courses (id, tenant_id) ON DELETE CASCADE
);

CREATE UNIQUE INDEX jobs_one_structure_run_per_course ON jobs (course_id)
    WHERE kind = 'generate_structure' AND status IN ('queued', 'running');
