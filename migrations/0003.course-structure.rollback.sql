DROP TABLE exercises;
DROP TABLE concepts;
DROP TABLE lessons;
DROP TABLE modules;
DROP EXTENSION IF EXISTS vector;
