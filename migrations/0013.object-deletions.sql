-- depends: 0012.concepts-embedded-index
-- The stored objects whose rows are gone, waiting to be deleted from S3: an outbox. Deleting a
-- material or a course records its objects here in the same transaction that deletes the rows,
-- so an object can never outlive its row unnoticed (S3 down during the delete, a process killed
-- right after the commit); the uploads service's janitor deletes them, retrying with backoff.
CREATE TABLE object_deletions (
    key              text PRIMARY KEY,
    recorded_at      timestamptz NOT NULL DEFAULT now(),
    attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX object_deletions_due_idx ON object_deletions (next_attempt_at);
