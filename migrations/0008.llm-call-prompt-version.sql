-- depends: 0007.document-chunks
-- Which revision of a prompt template each LLM call used, so a cost or quality change can be
-- traced to the prompt that caused it.

ALTER TABLE llm_calls ADD COLUMN prompt_version text;
