DROP TABLE target_progress;
DROP TABLE plan_versions;
