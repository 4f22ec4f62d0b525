-- depends: 0005.course-revision-triggers
-- One change, one revision: 0005 bumped courses.revision once per changed row, so replacing
-- a 10 000-pair slide mapping moved the revision by 20 000 and cost 20 000 updates of one
-- course row. Now statement-level triggers bump each touched course once per transaction:
-- courses.revision_xact remembers the transaction that bumped it last.

ALTER TABLE courses ADD COLUMN revision_xact xid8;

CREATE FUNCTION bump_course_revision_once() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- each branch reads only the transition tables its event has
    IF TG_OP = 'INSERT' THEN
        UPDATE courses SET revision = revision + 1, revision_xact = pg_current_xact_id()
         WHERE id IN (SELECT course_id FROM new_rows)
           AND revision_xact IS DISTINCT FROM pg_current_xact_id();
    ELSIF TG_OP = 'DELETE' THEN
        UPDATE courses SET revision = revision + 1, revision_xact = pg_current_xact_id()
         WHERE id IN (SELECT course_id FROM old_rows)
           AND revision_xact IS DISTINCT FROM pg_current_xact_id();
    ELSE
        UPDATE courses SET revision = revision + 1, revision_xact = pg_current_xact_id()
         WHERE id IN (SELECT course_id FROM old_rows UNION SELECT course_id FROM new_rows)
           AND revision_xact IS DISTINCT FROM pg_current_xact_id();
    END IF;
    RETURN NULL;
END;
$$;

DROP TRIGGER modules_bump_course ON modules;
DROP TRIGGER lessons_bump_course ON lessons;
DROP TRIGGER concepts_bump_course ON concepts;
DROP TRIGGER exercises_bump_course ON exercises;
DROP TRIGGER source_materials_bump_course ON source_materials;
DROP TRIGGER slide_video_mappings_bump_course ON slide_video_mappings;
DROP FUNCTION bump_course_revision();

-- Transition tables allow one event per trigger: three triggers per table.
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['modules', 'lessons', 'concepts', 'exercises', 'source_materials',
                             'slide_video_mappings'] LOOP
        EXECUTE format('CREATE TRIGGER %1$s_inserted AFTER INSERT ON %1$I REFERENCING NEW TABLE AS new_rows '
                       'FOR EACH STATEMENT EXECUTE FUNCTION bump_course_revision_once()', t);
        EXECUTE format('CREATE TRIGGER %1$s_deleted AFTER DELETE ON %1$I REFERENCING OLD TABLE AS old_rows '
                       'FOR EACH STATEMENT EXECUTE FUNCTION bump_course_revision_once()', t);
        EXECUTE format('CREATE TRIGGER %1$s_updated AFTER UPDATE ON %1$I '
                       'REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows '
                       'FOR EACH STATEMENT EXECUTE FUNCTION bump_course_revision_once()', t);
    END LOOP;
END;
$$;
