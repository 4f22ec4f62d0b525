-- depends: 0023.idempotency-keys
-- Webhooks: a tenant's endpoints, the events that happened for it, and one delivery of each
-- event to each endpoint that asked for its type. An event is written in the transaction
-- that made it happen (a material done, a structure saved), only when some endpoint wants
-- it; workers send the deliveries, claimed with SKIP LOCKED like jobs.
CREATE TABLE webhook_endpoints (
    id                          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id                   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    url                         text NOT NULL CHECK (length(url) BETWEEN 1 AND 2048),
    description                 text CHECK (length(description) <= 500),
    event_types                 text[] NOT NULL CHECK (cardinality(event_types) >= 1),
    active                      boolean NOT NULL DEFAULT true,
    -- the receiver needs the very key to check an HMAC: it cannot be stored hashed
    secret                      text NOT NULL,
    previous_secret             text,
    previous_secret_expires_at  timestamptz,
    -- the first failed delivery since the last one that succeeded: 3 days of it disables
    failing_since               timestamptz,
    disabled_at                 timestamptz,
    disabled_reason             text,
    created_at                  timestamptz NOT NULL DEFAULT now(),
    updated_at                  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (id, tenant_id)
);
CREATE INDEX webhook_endpoints_tenant_idx ON webhook_endpoints (tenant_id, created_at);

CREATE TABLE webhook_events (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    type        text NOT NULL CHECK (type IN ('material.processed', 'material.failed', 'structure.succeeded',
                                              'structure.failed', 'submission.graded', 'submission.failed',
                                              'upload.completed')),
    -- what the event is about ("material:<id>"): one endpoint gets a resource's events in order
    resource    text NOT NULL,
    body        text NOT NULL,  -- the JSON sent, signed as it is
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_events_created_idx ON webhook_events (created_at);

CREATE TABLE webhook_deliveries (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    seq              bigserial NOT NULL,  -- the order of occurrence
    tenant_id        uuid NOT NULL,
    endpoint_id      uuid NOT NULL,
    event_id         uuid NOT NULL REFERENCES webhook_events (id) ON DELETE CASCADE,
    resource         text NOT NULL,
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'sending', 'delivered', 'failed')),
    attempts         integer NOT NULL DEFAULT 0,
    -- pending: when it is due; sending: when the sender's claim lapses (it died)
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    retry_until      timestamptz NOT NULL,
    last_attempt_at  timestamptz,
    last_status_code integer,
    last_error       text,
    delivered_at     timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (endpoint_id, tenant_id) REFERENCES webhook_endpoints (id, tenant_id) ON DELETE CASCADE
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at)
    WHERE status IN ('pending', 'sending');
CREATE INDEX webhook_deliveries_order_idx ON webhook_deliveries (endpoint_id, resource, seq)
    WHERE status IN ('pending', 'sending');
CREATE INDEX webhook_deliveries_endpoint_idx ON webhook_deliveries (endpoint_id, created_at DESC, id DESC);
CREATE INDEX webhook_deliveries_event_idx ON webhook_deliveries (event_id);

-- senders wake at once for a new delivery or a redelivery (NOTIFY folds a transaction's
-- identical ones into one)
CREATE FUNCTION webhook_deliveries_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('webhooks_due', '');
    RETURN NULL;
END;
$$;
CREATE TRIGGER webhook_deliveries_notify AFTER INSERT OR UPDATE OF next_attempt_at ON webhook_deliveries
    FOR EACH ROW WHEN (NEW.status = 'pending') EXECUTE FUNCTION webhook_deliveries_notify();
