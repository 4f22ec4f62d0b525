-- depends: 0014.structure-run-inputs
-- The structure is the author's document: which fields of an item (or of the course) the author
-- set by hand, which items the author added, and which items the author deleted, so that a run
-- keeps the first two and does not bring back the third (libs/store/structure.py's replace).
ALTER TABLE courses ADD COLUMN edited text[] NOT NULL DEFAULT '{}';
-- run_text: the item's title (an exercise's description) as the last run gave it, normalised:
-- what the next run's answer is matched by, however the author renamed it since.
ALTER TABLE modules ADD COLUMN edited text[] NOT NULL DEFAULT '{}';
ALTER TABLE modules ADD COLUMN added_by_author boolean NOT NULL DEFAULT false;
ALTER TABLE modules ADD COLUMN run_text text;
ALTER TABLE lessons ADD COLUMN edited text[] NOT NULL DEFAULT '{}';
ALTER TABLE lessons ADD COLUMN added_by_author boolean NOT NULL DEFAULT false;
ALTER TABLE lessons ADD COLUMN run_text text;
ALTER TABLE concepts ADD COLUMN edited text[] NOT NULL DEFAULT '{}';
ALTER TABLE concepts ADD COLUMN added_by_author boolean NOT NULL DEFAULT false;
ALTER TABLE concepts ADD COLUMN run_text text;
ALTER TABLE exercises ADD COLUMN edited text[] NOT NULL DEFAULT '{}';
ALTER TABLE exercises ADD COLUMN added_by_author boolean NOT NULL DEFAULT false;
ALTER TABLE exercises ADD COLUMN run_text text;

-- An item the author deleted, by kind and its normalised text (a title; an exercise's
-- description): a run's item with that text is not added back.
CREATE TABLE structure_deletions (
    tenant_id   uuid NOT NULL,
    course_id   uuid NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('modules', 'lessons', 'concepts', 'exercises')),
    key         text NOT NULL,
    deleted_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (course_id, kind, key),
    FOREIGN KEY (course_id, tenant_id) REFERENCES courses (id, tenant_id) ON DELETE CASCADE
);
