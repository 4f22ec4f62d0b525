ALTER TABLE tenants DROP COLUMN llm_budget_usd;
