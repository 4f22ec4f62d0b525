-- depends: 0015.author-edits
-- Every version says where it came from: a run, a refine (with its instructions), a restore
-- (of which version), or the author's edits kept before a run or a restore replaced them.
ALTER TABLE structure_versions ADD COLUMN origin text NOT NULL DEFAULT 'run'
    CHECK (origin IN ('run', 'refine', 'restore', 'edits'));
ALTER TABLE structure_versions ADD COLUMN instructions text;
ALTER TABLE structure_versions ADD COLUMN restored_from integer;
