ALTER TABLE llm_calls DROP COLUMN prompt_version;
