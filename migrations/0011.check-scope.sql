-- depends: 0010.course-change-notifications
-- The check scope: graded homework submissions, a job kind for grading that outlives the
-- request, and full-text search over concepts for courses without embeddings.

-- A submission keeps its exercise's id without a foreign key: a new structure run replaces
-- a course's exercises, and a student's graded work must not vanish with them (progress reads
-- the current structure; an old exercise's submissions stay readable by id). They go with
-- their course.
CREATE TABLE submissions (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id       uuid NOT NULL,
    course_id       uuid NOT NULL,
    exercise_id     uuid NOT NULL,
    student_id      text NOT NULL CHECK (length(student_id) BETWEEN 1 AND 200),
    answer          text NOT NULL,
    status          text NOT NULL DEFAULT 'grading' CHECK (status IN ('grading', 'graded', 'failed')),
    job_id          uuid REFERENCES jobs (id) ON DELETE SET NULL,
    score           integer CHECK (score BETWEEN 0 AND 100),
    passed          boolean,
    feedback        text,
    criteria        jsonb,
    model           text,
    provider        text,
    prompt_version  text,
    cost_usd        numeric(14, 6) NOT NULL DEFAULT 0 CHECK (cost_usd >= 0),
    error           text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    graded_at       timestamptz,
    -- a graded submission has its grade, whole
    CHECK (status <> 'graded' OR (score IS NOT NULL AND passed IS NOT NULL AND criteria IS NOT NULL)),
    FOREIGN KEY (course_id, tenant_id) REFERENCES courses (id, tenant_id) ON DELETE CASCADE
);
-- a student's submissions of an exercise, newest first (the list), and per course (progress)
CREATE INDEX submissions_student_idx
    ON submissions (tenant_id, course_id, student_id, exercise_id, created_at DESC, id DESC);

ALTER TABLE jobs DROP CONSTRAINT jobs_kind_check;
ALTER TABLE jobs ADD CONSTRAINT jobs_kind_check
    CHECK (kind IN ('ingest_material', 'generate_structure', 'grade_submission'));

-- Full-text search where a course has no embeddings. The 'simple' configuration: a course may
-- be in any language, and a wrong language's stemmer mangles words worse than none.
CREATE INDEX concepts_fts_idx ON concepts
    USING gin (to_tsvector('simple'::regconfig, title || ' ' || definition));
