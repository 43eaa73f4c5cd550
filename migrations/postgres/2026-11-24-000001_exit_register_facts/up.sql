-- The register facts that justified a non_attendance exit (RULES.md R13 "register facts
-- attached"), as JSON, stored with the exit decision.
ALTER TABLE cases ADD COLUMN exit_register_facts TEXT;
