DROP TRIGGER courses_changed ON courses;
DROP FUNCTION notify_course_changed();
