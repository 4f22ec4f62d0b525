-- depends: 0024.webhooks
-- A tenant's monthly LLM budget in USD: NULL follows the LLM_MONTHLY_BUDGET_USD setting, 0 is
-- no limit. The month's spend is summed from llm_calls by (tenant_id, created_at).
ALTER TABLE tenants ADD COLUMN llm_budget_usd numeric(12, 2) CHECK (llm_budget_usd >= 0);
