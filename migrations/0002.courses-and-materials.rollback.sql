DROP TABLE slide_video_mappings;
DROP TABLE source_materials;
DROP TABLE courses;
