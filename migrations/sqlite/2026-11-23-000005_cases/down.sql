DROP TABLE case_evidence;
DROP TABLE reviews;
ALTER TABLE cases DROP COLUMN exit_effective_date;
ALTER TABLE cases DROP COLUMN exit_decision;
ALTER TABLE cases DROP COLUMN closed_at;
