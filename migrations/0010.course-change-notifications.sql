-- depends: 0009.structure-versions
-- Every committed change to a course is announced on the channel `course_changed`, with the
-- course id as the payload: a change anywhere under a course bumps courses.revision (0005,
-- 0006), and deleting the course deletes its row, so one row trigger here sees them all.
-- The courses service LISTENs and drops what it cached for that course (libs/course_changes.py)
-- instead of asking for the revision on every read. PostgreSQL delivers a notification only
-- once its transaction commits, and folds repeats of the same payload within one transaction.

CREATE FUNCTION notify_course_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('course_changed', OLD.id::text);
    ELSE
        PERFORM pg_notify('course_changed', NEW.id::text);
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER courses_changed AFTER UPDATE OR DELETE ON courses
    FOR EACH ROW EXECUTE FUNCTION notify_course_changed();
