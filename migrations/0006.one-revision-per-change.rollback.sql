-- Back to 0005: one bump per changed row.
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['modules', 'lessons', 'concepts', 'exercises', 'source_materials',
                             'slide_video_mappings'] LOOP
        EXECUTE format('DROP TRIGGER %1$s_inserted ON %1$I', t);
        EXECUTE format('DROP TRIGGER %1$s_deleted ON %1$I', t);
        EXECUTE format('DROP TRIGGER %1$s_updated ON %1$I', t);
    END LOOP;
END;
$$;
DROP FUNCTION bump_course_revision_once();

CREATE FUNCTION bump_course_revision() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE courses SET revision = revision + 1 WHERE id = OLD.course_id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND (TG_OP = 'INSERT' OR NEW.course_id IS DISTINCT FROM OLD.course_id) THEN
        UPDATE courses SET revision = revision + 1 WHERE id = NEW.course_id;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER modules_bump_course AFTER INSERT OR UPDATE OR DELETE ON modules
    FOR EACH ROW EXECUTE FUNCTION bump_course_revision();
CREATE TRIGGER lessons_bump_course AFTER INSERT OR UPDATE OR DELETE ON lessons
    FOR EACH ROW EXECUTE FUNCTION bump_course_revision();
CREATE TRIGGER concepts_bump_course AFTER INSERT OR UPDATE OR DELETE ON concepts
    FOR EACH ROW EXECUTE FUNCTION bump_course_revision();
CREATE TRIGGER exercises_bump_course AFTER INSERT OR UPDATE OR DELETE ON exercises
    FOR EACH ROW EXECUTE FUNCTION bump_course_revision();
CREATE TRIGGER source_materials_bump_course AFTER INSERT OR UPDATE OR DELETE ON source_materials
    FOR EACH ROW EXECUTE FUNCTION bump_course_revision();
CREATE TRIGGER slide_video_mappings_bump_course AFTER INSERT OR UPDATE OR DELETE ON slide_video_mappings
    FOR EACH ROW EXECUTE FUNCTION bump_course_revision();

ALTER TABLE courses DROP COLUMN revision_xact;
