DROP TRIGGER slide_video_mappings_bump_course ON slide_video_mappings;
DROP TRIGGER source_materials_bump_course ON source_materials;
DROP TRIGGER exercises_bump_course ON exercises;
DROP TRIGGER concepts_bump_course ON concepts;
DROP TRIGGER lessons_bump_course ON lessons;
DROP TRIGGER modules_bump_course ON modules;
DROP FUNCTION bump_course_revision();
