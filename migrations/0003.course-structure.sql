-- depends: 0002.courses-and-materials
-- The structure the ArchitectAgent generates: modules → lessons → concepts and exercises.
-- A new run replaces a course's structure in one transaction (delete modules, insert anew).

CREATE EXTENSION IF NOT EXISTS vector;

CREATE TABLE modules (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id           uuid NOT NULL,
    course_id           uuid NOT NULL,
    position            integer NOT NULL CHECK (position >= 0),
    title               text NOT NULL,
    description         text,
    learning_goal       text,
    expected_knowledge  text[] NOT NULL DEFAULT '{}',
    expected_skills     text[] NOT NULL DEFAULT '{}',
    difficulty          text CHECK (difficulty IN ('easy', 'medium', 'hard')),
    UNIQUE (id, tenant_id),
    UNIQUE (course_id, position),
    FOREIGN KEY (course_id, tenant_id) REFERENCES courses (id, tenant_id) ON DELETE CASCADE
);

CREATE TABLE lessons (
    id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id             uuid NOT NULL,
    course_id             uuid NOT NULL,
    module_id             uuid NOT NULL,
    position              integer NOT NULL CHECK (position >= 0),
    title                 text NOT NULL,
    video_start_timecode  text CHECK (video_start_timecode ~ '^[0-9]{2}:[0-5][0-9]:[0-5][0-9]$'),
    video_end_timecode    text CHECK (video_end_timecode ~ '^[0-9]{2}:[0-5][0-9]:[0-5][0-9]$'),
    slide_start           integer CHECK (slide_start >= 1),
    slide_end             integer CHECK (slide_end >= slide_start),
    UNIQUE (id, tenant_id),
    UNIQUE (module_id, position),
    FOREIGN KEY (module_id, tenant_id) REFERENCES modules (id, tenant_id) ON DELETE CASCADE
);
CREATE INDEX lessons_course_idx ON lessons (course_id);

CREATE TABLE concepts (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id         uuid NOT NULL,
    course_id         uuid NOT NULL,
    lesson_id         uuid NOT NULL,
    position          integer NOT NULL CHECK (position >= 0),
    title             text NOT NULL,
    definition        text NOT NULL,
    examples          text[] NOT NULL DEFAULT '{}',
    timecodes         text[] NOT NULL DEFAULT '{}',
    slide_references  integer[] NOT NULL DEFAULT '{}',
    web_references    jsonb NOT NULL DEFAULT '[]',
    -- 1536 dimensions: OpenAI text-embedding-3-* at their default size; other providers are
    -- asked for (or padded to) this size so one index serves all.
    embedding         vector(1536),
    UNIQUE (lesson_id, position),
    FOREIGN KEY (lesson_id, tenant_id) REFERENCES lessons (id, tenant_id) ON DELETE CASCADE
);
CREATE INDEX concepts_course_idx ON concepts (course_id);
CREATE INDEX concepts_embedding_idx ON concepts USING hnsw (embedding vector_cosine_ops);

CREATE TABLE exercises (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id           uuid NOT NULL,
    course_id           uuid NOT NULL,
    lesson_id           uuid NOT NULL,
    position            integer NOT NULL CHECK (position >= 0),
    description         text NOT NULL,
    reference_solution  text,
    grading_criteria    text,
    difficulty          integer NOT NULL CHECK (difficulty BETWEEN 1 AND 5),
    UNIQUE (lesson_id, position),
    FOREIGN KEY (lesson_id, tenant_id) REFERENCES lessons (id, tenant_id) ON DELETE CASCADE
);
CREATE INDEX exercises_course_idx ON exercises (course_id);
