-- depends: 0019.condensed-summaries
-- The author's organisation of a course's materials: a section (a module to be) and a place;
-- a run makes one module per section, in the order of their materials.
ALTER TABLE source_materials ADD COLUMN section text CHECK (length(section) BETWEEN 1 AND 200);
ALTER TABLE source_materials ADD COLUMN position integer CHECK (position >= 0);
