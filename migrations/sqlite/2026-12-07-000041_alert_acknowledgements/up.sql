-- RULES.md R16.3: an officer acknowledges an alert (who, when, a note). An acknowledged alert
-- stays open while its cause holds but leaves the default worklist; a re-raise is a new row,
-- unacknowledged.
ALTER TABLE alerts ADD COLUMN acknowledged_at TIMESTAMP;
ALTER TABLE alerts ADD COLUMN acknowledged_by TEXT;
ALTER TABLE alerts ADD COLUMN acknowledgement_note TEXT;
