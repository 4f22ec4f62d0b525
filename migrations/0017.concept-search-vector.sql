-- depends: 0016.version-origins
-- Full-text search kept each concept's tsvector as an index expression only, so a query
-- recomputed it for every concept it ranked: 1.3-1.5 s over a course of 10 000 concepts a
-- common word matches. The vector is now stored beside the text it is made from.
ALTER TABLE concepts ADD COLUMN search_vector tsvector
    GENERATED ALWAYS AS (to_tsvector('simple'::regconfig, title || ' ' || definition)) STORED;
CREATE INDEX concepts_search_idx ON concepts USING gin (search_vector);
DROP INDEX concepts_fts_idx;
