ALTER TABLE cases DROP COLUMN exit_register_facts;
