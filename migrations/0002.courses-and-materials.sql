-- depends: 0001.tenants-and-api-keys
-- Courses, their source materials and the slide ↔ video-timecode mapping.
-- Children reference (id, tenant_id) pairs so a row can never hang under another tenant's
-- course, whatever the application does.

CREATE TABLE courses (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id           uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    title               text NOT NULL,
    description         text,
    learning_goal       text,
    expected_knowledge  text[] NOT NULL DEFAULT '{}',
    expected_skills     text[] NOT NULL DEFAULT '{}',
    -- bumped by every change to the course document; drives ETags
    revision            bigint NOT NULL DEFAULT 1,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (id, tenant_id)
);
CREATE INDEX courses_tenant_created_idx ON courses (tenant_id, created_at DESC, id DESC);

CREATE TABLE source_materials (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id      uuid NOT NULL,
    course_id      uuid NOT NULL,
    source_type    text NOT NULL CHECK (source_type IN ('video', 'presentation', 'text', 'web')),
    source_url     text,
    filename       text,
    content_type   text,
    size_bytes     bigint CHECK (size_bytes >= 0),
    s3_key         text UNIQUE,
    status         text NOT NULL DEFAULT 'pending'
                   CHECK (status IN ('pending', 'processing', 'done', 'error')),
    error_message  text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (id, tenant_id),
    FOREIGN KEY (course_id, tenant_id) REFERENCES courses (id, tenant_id) ON DELETE CASCADE,
    CHECK ((source_url IS NULL) <> (s3_key IS NULL))
);
CREATE INDEX source_materials_course_idx ON source_materials (course_id, created_at);

CREATE TABLE slide_video_mappings (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id       uuid NOT NULL,
    course_id       uuid NOT NULL,
    slide_number    integer NOT NULL CHECK (slide_number >= 1),
    video_timecode  text NOT NULL CHECK (video_timecode ~ '^[0-9]{2}:[0-5][0-9]:[0-5][0-9]$'),
    created_at      timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (course_id, tenant_id) REFERENCES courses (id, tenant_id) ON DELETE CASCADE,
    UNIQUE (course_id, slide_number, video_timecode)
);
