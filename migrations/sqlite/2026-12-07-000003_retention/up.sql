-- Retention (issue 20): the scan prunes old rows (src/service/retention.rs).

-- How far a kind of row has been pruned: `changes` is the last version removed from the change
-- feed, so a reader whose `since` is older is told (410) instead of silently skipping changes.
CREATE TABLE retention_horizons (
    kind           TEXT PRIMARY KEY NOT NULL,
    pruned_through BIGINT NOT NULL
);
INSERT INTO retention_horizons (kind, pruned_through) VALUES ('changes', 0);

-- The audit trail stays append-only, except that a row older than six years (the minimum the
-- registers are kept for, and the retention's floor) may be removed.
DROP TRIGGER audit_events_no_delete;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
WHEN OLD.occurred_at >= datetime('now', '-6 years')
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only (rows younger than six years)'); END;

-- Pruning finds old events by date and asks of each whether a delivery is still pending: without
-- these, each batch scanned every delivery once per event (2.5-3 s a batch of 1,000 with 20,000
-- events on SQLite; README "Operating it" has the figures).
CREATE INDEX events_occurred_at ON events (occurred_at);
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_id);
