-- Tenants (client companies) and their API keys. Only a key's SHA-256 and display prefix
-- are stored.

CREATE TABLE tenants (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    is_active   boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX tenants_name_key ON tenants (lower(name));

CREATE TABLE api_keys (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id         uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    key_hash          char(64) NOT NULL UNIQUE,
    key_prefix        text NOT NULL UNIQUE,
    label             text NOT NULL CHECK (length(label) BETWEEN 1 AND 200),
    scopes            text[] NOT NULL
                      CHECK (cardinality(scopes) > 0 AND scopes <@ ARRAY['prep', 'check']),
    rate_limit_prep   integer NOT NULL DEFAULT 60 CHECK (rate_limit_prep > 0),
    rate_limit_check  integer NOT NULL DEFAULT 300 CHECK (rate_limit_check > 0),
    expires_at        timestamptz,
    revoked_at        timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX api_keys_tenant_idx ON api_keys (tenant_id);
-- revoke-key matches prefixes with LIKE 'cs_live_ab%'
CREATE INDEX api_keys_prefix_pattern_idx ON api_keys (key_prefix text_pattern_ops);
