-- depends: 0021.storage-quota
-- Direct uploads: the client PUTs a material's file straight to S3 through presigned URLs and
-- then completes the upload, which checks the object and records the material. A row lives
-- from the presign to the completion or the abort; the uploads janitor ends those whose URLs
-- expired. Its bytes are reserved (storage_reservations, same id) for as long.
CREATE TABLE material_uploads (
    id               uuid PRIMARY KEY,
    tenant_id        uuid NOT NULL,
    course_id        uuid NOT NULL,
    material_id      uuid NOT NULL UNIQUE,
    source_type      text NOT NULL CHECK (source_type IN ('video', 'presentation', 'text')),
    filename         text NOT NULL CHECK (length(filename) BETWEEN 1 AND 255),
    size_bytes       bigint NOT NULL CHECK (size_bytes > 0),
    sha256           text CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    section          text CHECK (length(section) BETWEEN 1 AND 200),
    position         integer CHECK (position >= 0),
    allow_duplicate  boolean NOT NULL DEFAULT false,
    s3_key           text NOT NULL UNIQUE,
    s3_upload_id     text,  -- the multipart upload's; NULL when the file goes in one PUT
    part_size        bigint CHECK (part_size > 0),
    expires_at       timestamptz NOT NULL,
    completing_until timestamptz,  -- a completion under way claims the upload until then
    created_at       timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (course_id, tenant_id) REFERENCES courses (id, tenant_id) ON DELETE CASCADE
);
CREATE INDEX material_uploads_expiry_idx ON material_uploads (expires_at);
CREATE INDEX material_uploads_course_idx ON material_uploads (course_id);
