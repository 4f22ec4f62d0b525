ALTER TABLE source_materials DROP COLUMN position;
ALTER TABLE source_materials DROP COLUMN section;
