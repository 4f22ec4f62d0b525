DROP TABLE llm_calls;
DROP TABLE jobs;
