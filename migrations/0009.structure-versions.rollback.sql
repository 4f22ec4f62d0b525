DROP INDEX jobs_one_structure_run_per_course;
DROP TABLE structure_versions;
