DROP INDEX webhook_deliveries_event;
DROP INDEX events_occurred_at;
DROP TRIGGER audit_events_no_delete;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;
DROP TABLE retention_horizons;
