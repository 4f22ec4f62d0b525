-- depends: 0022.direct-uploads
-- Idempotency keys: a POST sent again with the same Idempotency-Key and the same request gets
-- the first answer back instead of doing the work twice. A row is claimed when the first
-- request starts (answer still NULL: a retry meanwhile is 409) and holds its answer once it
-- succeeded; a claim whose request died lapses at claimed_until. Kept 24 hours.
CREATE TABLE idempotency_keys (
    tenant_id      uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    key            text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    request_hash   text NOT NULL,
    status         integer,
    content_type   text,
    location       text,
    body           bytea,
    claimed_until  timestamptz NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, key)
);
-- each POST with a key clears its tenant's expired keys: an index range over those alone
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (tenant_id, created_at);
