DROP TABLE case_evidence;
DROP TABLE reviews;
ALTER TABLE cases DROP COLUMN exit_effective_date, DROP COLUMN exit_decision, DROP COLUMN closed_at;
