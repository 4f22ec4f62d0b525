DROP TABLE webhook_deliveries;
DROP FUNCTION webhook_deliveries_notify();
DROP TABLE webhook_events;
DROP TABLE webhook_endpoints;
