-- The day the clock scan announced an alert (its webhook event). The scan's work list is then
-- the open alerts not yet announced, read from a small partial index, instead of every open
-- alert checked against the events (at the year end 430,000 of them, every scan; issue 25).
ALTER TABLE alerts ADD COLUMN announced_on DATE;
UPDATE alerts SET announced_on = e.occurred_at::date
  FROM (SELECT alert_id, min(occurred_at) AS occurred_at FROM events
        WHERE alert_id IS NOT NULL GROUP BY alert_id) e
 WHERE alerts.id = e.alert_id;
CREATE INDEX alerts_to_announce ON alerts (kind, id)
  WHERE resolved_on IS NULL AND announced_on IS NULL;
