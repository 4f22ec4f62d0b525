ALTER TABLE structure_versions DROP COLUMN inputs;
