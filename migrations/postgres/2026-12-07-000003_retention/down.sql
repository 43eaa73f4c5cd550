DROP INDEX webhook_deliveries_event;
DROP INDEX events_occurred_at;
CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only';
END;
$$;
DROP TABLE retention_horizons;
