-- depends: 0003.course-structure
-- The durable job queue (workers claim with FOR UPDATE SKIP LOCKED and hold a lease) and
-- the log of every LLM call, which the cost report reads.

CREATE TABLE jobs (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id         uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    course_id         uuid,
    material_id       uuid,
    kind              text NOT NULL CHECK (kind IN ('ingest_material', 'generate_structure')),
    status            text NOT NULL DEFAULT 'queued'
                      CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
    payload           jsonb NOT NULL DEFAULT '{}',
    result            jsonb,
    error             text,
    attempts          integer NOT NULL DEFAULT 0,
    max_attempts      integer NOT NULL DEFAULT 3 CHECK (max_attempts >= 1),
    run_after         timestamptz NOT NULL DEFAULT now(),
    lease_expires_at  timestamptz,
    locked_by         text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    started_at        timestamptz,
    finished_at       timestamptz,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (course_id, tenant_id) REFERENCES courses (id, tenant_id) ON DELETE CASCADE,
    FOREIGN KEY (material_id, tenant_id) REFERENCES source_materials (id, tenant_id) ON DELETE CASCADE
);
CREATE INDEX jobs_claim_idx ON jobs (run_after) WHERE status = 'queued';
CREATE INDEX jobs_lease_idx ON jobs (lease_expires_at) WHERE status = 'running';
CREATE INDEX jobs_tenant_idx ON jobs (tenant_id, created_at DESC);

CREATE TABLE llm_calls (
    id           bigserial PRIMARY KEY,
    tenant_id    uuid REFERENCES tenants (id) ON DELETE CASCADE,
    job_id       uuid REFERENCES jobs (id) ON DELETE SET NULL,
    action       text NOT NULL,
    strategy     text NOT NULL,
    provider     text NOT NULL,
    model        text NOT NULL,
    tokens_in    integer NOT NULL DEFAULT 0 CHECK (tokens_in >= 0),
    tokens_out   integer NOT NULL DEFAULT 0 CHECK (tokens_out >= 0),
    latency_ms   integer NOT NULL DEFAULT 0 CHECK (latency_ms >= 0),
    cost_usd     numeric(14, 6) NOT NULL DEFAULT 0 CHECK (cost_usd >= 0),
    success      boolean NOT NULL,
    error        text,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX llm_calls_tenant_created_idx ON llm_calls (tenant_id, created_at);
