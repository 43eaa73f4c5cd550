DROP INDEX alerts_to_announce;
ALTER TABLE alerts DROP COLUMN announced_on;
