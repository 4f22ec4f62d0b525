ALTER TABLE structure_versions DROP COLUMN restored_from;
ALTER TABLE structure_versions DROP COLUMN instructions;
ALTER TABLE structure_versions DROP COLUMN origin;
