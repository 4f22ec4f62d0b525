-- depends: 0004.jobs-and-llm-calls
-- Any change under a course (structure, materials, slide mapping) bumps courses.revision, so
-- the course document's ETag and cache follow every writer, the agent worker included.

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
