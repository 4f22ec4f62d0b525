-- depends: 0013.object-deletions
-- What a structure run depended on, as one fingerprint (services/agent/architect/inputs.py):
-- a new run whose inputs are the same answers with the version that has them, at no LLM cost.
ALTER TABLE structure_versions ADD COLUMN inputs text;
