DROP TABLE object_deletions;
