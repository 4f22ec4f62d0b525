CREATE INDEX concepts_fts_idx ON concepts
    USING gin (to_tsvector('simple'::regconfig, title || ' ' || definition));
DROP INDEX concepts_search_idx;
ALTER TABLE concepts DROP COLUMN search_vector;
