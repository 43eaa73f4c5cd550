ALTER TABLE alerts DROP COLUMN acknowledgement_note;
ALTER TABLE alerts DROP COLUMN acknowledged_by;
ALTER TABLE alerts DROP COLUMN acknowledged_at;
